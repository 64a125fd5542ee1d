"""One Celery call from the test host whose batches run on a worker on another host.

The scenarios of :mod:`tests.multihost.test_celery_remote` and
:mod:`tests.multihost.test_redis_restart` differ in the fault they inject, not in how the
call is set up: a host, its Redis (broker and result backend on the test host's address of
the host's link), the project's prefork worker inside the host, an engine on the test host,
and the call, started and (usually) seen running. This module holds that set-up once; the
``start_remote_call`` fixture (:mod:`tests.multihost.conftest`) runs it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import redis

from adapters.celery.engine import CeleryEngine
from adapters.celery.results import KEY_PREFIX
from adapters.legacy.engine import LegacyEngine
from tests.multihost import tasks
from tests.support.netns import Host
from tests.support.redis_server import RedisServer

ITEMS = 12
BATCH_SIZE = 2
WINDOW = 4


@dataclass
class RemoteCall:
    """A call in flight: where its batches run, its Redis, the caller's engine, the call."""

    host: Host
    redis_server: RedisServer
    engine: CeleryEngine
    call: asyncio.Task[list[Any]]


def items_for(key: str) -> list[tuple[str, int]]:
    """The call's items: ``(coordination key, value)``."""
    return [(key, value) for value in range(ITEMS)]


async def legacy_result(key: str) -> list[int]:
    """The same call on the legacy route (in this process), as the reference."""
    legacy = await LegacyEngine().map_batches(
        items_for(f"{key}-legacy"), tasks.slow_triple, BATCH_SIZE, WINDOW
    )
    assert tasks.expected(list(range(ITEMS))) == legacy
    return legacy


def started(key: str) -> int:
    """How many items of ``key`` started (on any host)."""
    return int(tasks.coordination().get(f"{key}:started") or 0)


def result_keys(redis_server: RedisServer) -> list[bytes]:
    """The result keys left in the backend database."""
    client = redis.Redis.from_url(redis_server.url(1))
    try:
        return list(client.scan_iter(f"{KEY_PREFIX}*"))
    finally:
        client.close()


__all__ = [
    "BATCH_SIZE",
    "ITEMS",
    "WINDOW",
    "RemoteCall",
    "items_for",
    "legacy_result",
    "result_keys",
    "started",
]
