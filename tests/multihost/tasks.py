"""Task functions of the multihost suite: they say where they ran, then take a while.

They coordinate with the test through a Redis on the test host's link address (the worker
hosts cannot reach the test session's loopback Redis), named by
:data:`COORDINATION_ENV`. Coordination is best effort with short timeouts: during a
partition a task must neither fail nor hang because it could not report itself.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading

import redis

COORDINATION_ENV = "CUTOVER_TEST_COORDINATION_URL"
STEP_S = 0.5
"""How long one item takes: long enough to strike in the middle of a call."""
SLOWER_STEP_S = 3.0

_client: redis.Redis | None = None
_client_lock = threading.Lock()  # reports run in threads: one client, made once


def coordination() -> redis.Redis:
    """This process's client of the coordination Redis (short timeouts: partitions)."""
    global _client
    with _client_lock:
        if _client is None:
            _client = redis.Redis.from_url(
                os.environ[COORDINATION_ENV], socket_connect_timeout=1.0, socket_timeout=1.0
            )
        return _client


def network_namespace() -> str:
    """This process's network namespace (``net:[inode]``): which host it runs on."""
    return os.readlink("/proc/self/ns/net")


def _report(key: str, value: int) -> None:
    try:
        pipe = coordination().pipeline(transaction=False)
        pipe.incr(f"{key}:started")
        pipe.hincrby(f"{key}:runs", str(value), 1)
        pipe.hset(f"{key}:where", str(value), f"{network_namespace()} {os.getpid()}")
        pipe.execute()
    except redis.RedisError as exc:  # a partitioned host: the work goes on unreported
        print(f"multihost task: cannot report {key}/{value}: {exc}", file=sys.stderr)


async def slow_triple(item: tuple[str, int]) -> int:
    """Report the start under ``KEY``, take :data:`STEP_S`, return ``value * 3``."""
    key, value = item
    await asyncio.to_thread(_report, key, value)
    await asyncio.sleep(STEP_S)
    return value * 3


async def slower_triple(item: tuple[str, int]) -> int:
    """:func:`slow_triple` taking :data:`SLOWER_STEP_S`: a node can be killed mid-batch."""
    key, value = item
    await asyncio.to_thread(_report, key, value)
    await asyncio.sleep(SLOWER_STEP_S)
    return value * 3


def expected(values: list[int]) -> list[int]:
    """What legacy returns for ``slow_triple`` over ``values`` (checked in each test)."""
    return [value * 3 for value in values]
