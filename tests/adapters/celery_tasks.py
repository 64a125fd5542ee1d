"""Task functions for the Celery engine's own tests (reliability, retries, priorities).

They coordinate across worker processes through Redis keys named by the test, so a test can
make "the first attempt fail" or "the first attempt die" without any shared memory.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

import redis

from tests.support.services import TEST_BACKEND_URL

_client: redis.Redis | None = None


def _redis() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(TEST_BACKEND_URL)
    return _client


class FlakyError(Exception):
    """Retryable by name in the tests' flags."""


class PermanentError(Exception):
    """Never retryable."""


async def flaky(item: tuple[str, int, int]) -> int:
    """Fail with ``FlakyError`` the first ``fail_times`` attempts (counted per key)."""
    key, fail_times, value = item
    attempt = int(_redis().incr(key))
    if attempt <= fail_times:
        raise FlakyError(f"attempt {attempt} of {key} failed")
    return value


async def permanent(item: tuple[str, int]) -> int:
    """Count the attempt, then fail with a non-retryable error."""
    key, _ = item
    _redis().incr(key)
    raise PermanentError(f"{key} cannot succeed")


async def die_once(item: tuple[str, int]) -> int:
    """The first process to run this for ``key`` is SIGKILLed mid-batch; later ones succeed."""
    key, value = item
    await asyncio.sleep(0.05)
    if _redis().set(key, os.getpid(), nx=True):
        os.kill(os.getpid(), signal.SIGKILL)
    return value * 10


async def record_order(item: tuple[str, int]) -> int:
    """Append ``item`` to the Redis list ``key`` so a test can see the execution order."""
    key, value = item
    _redis().rpush(key, value)
    return value


async def loop_identity(item: int) -> tuple[int, int]:
    """The process id and the id of the running loop: the worker must reuse its loop."""
    return (os.getpid(), id(asyncio.get_running_loop()))


async def slow(item: float) -> float:
    """Await ``item`` seconds (the caller's loop must stay free meanwhile)."""
    await asyncio.sleep(item)
    return time.time()


async def returns_unsupported(item: Any) -> Any:
    """Return a value the typed serializer cannot carry."""
    return object()


async def die_always(item: tuple[str, int]) -> int:
    """Kills the worker process that runs it, every time: a poison batch."""
    await asyncio.sleep(0.01)
    os.kill(os.getpid(), signal.SIGKILL)
    return item[1]
