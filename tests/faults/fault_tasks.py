"""Task functions of the fault suite: they report where they run, then wait to be hurt.

They coordinate with the test through the machine's Redis (``TEST_BACKEND_URL``), which no
fault test restarts: a counter of started batches tells the test when to strike, a key set
once (``SET NX``) makes only the first attempt of a batch wait for its death.
"""

from __future__ import annotations

import asyncio
import os
import signal

import redis

from compat import shadow_safe
from tests.compat.shadow_tasks import in_caller
from tests.support.services import TEST_BACKEND_URL

STEP_S = 0.5
"""How long one item of :func:`slow_step` takes: long enough to strike in the middle."""
WAIT_TO_BE_KILLED_S = 30.0
FLOOD_BYTES = 256 * 1024 * 1024

_client: redis.Redis | None = None


def coordination() -> redis.Redis:
    """This process's client of the coordination Redis."""
    global _client
    if _client is None:
        _client = redis.Redis.from_url(TEST_BACKEND_URL)
    return _client


async def slow_step(item: tuple[str, int]) -> int:
    """Count the start under ``KEY:started``, take :data:`STEP_S`, return ``value * 3``."""
    key, value = item
    coordination().incr(f"{key}:started")
    await asyncio.sleep(STEP_S)
    return value * 3


async def pid_then_wait(item: tuple[str, int]) -> int:
    """The first item to run for ``key`` publishes its pid and waits to be killed.

    Every later attempt (the retry after the kill) returns ``value * 2`` at once. If nobody
    kills it, it returns -1 so the test fails with a wrong value rather than hanging.
    """
    key, value = item
    if coordination().set(key, os.getpid(), nx=True):
        await asyncio.sleep(WAIT_TO_BE_KILLED_S)
        return -1
    return value * 2


@shadow_safe
async def crashes_its_worker(item: int) -> int:
    """In a worker process (the shadow candidate): SIGKILL the process. In the caller: item."""
    if not in_caller():
        os.kill(os.getpid(), signal.SIGKILL)
    return item * 2


@shadow_safe
async def floods_memory_in_worker(item: int) -> int:
    """In a worker process: touch :data:`FLOOD_BYTES` of memory and hold it a while."""
    if not in_caller():
        hog = bytearray(FLOOD_BYTES)
        for offset in range(0, len(hog), 4096):
            hog[offset] = 1
        await asyncio.sleep(1.0)
        del hog
    return item * 2
