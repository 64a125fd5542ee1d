"""Redis (broker and result backend, on the test host) restarted while a remote worker runs
a call.

- With an append-only file (fsync always) the queue, the unacknowledged batches and the
  results survive: the call returns every item once, equal to legacy.
- Without persistence the restarted Redis is empty: the caller sees the server's run id
  change and fails at once with ``InFlightLostError`` naming the pending batches, long
  before its deadline (it used to wait the whole deadline, logging connection errors).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from adapters.base import CallOptions
from adapters.celery.engine import CeleryEngine
from ground.errors import InFlightLostError
from tests.multihost import tasks
from tests.multihost.conftest import DEADLINE_S, StartWorker
from tests.multihost.test_celery_remote import (
    BATCH_SIZE,
    ITEMS,
    WINDOW,
    items_for,
    legacy_result,
    started,
)
from tests.support.netns import Hosts
from tests.support.redis_server import RedisServer
from tests.support.waiting import until

pytestmark = [pytest.mark.multihost, pytest.mark.celery, pytest.mark.slow]

LOST_DETECTED_WITHIN_S = 10.0


@pytest.mark.parametrize("persistent", [True, False], ids=["aof", "memory-only"])
async def test_redis_restarted_mid_call_completes_or_fails_clearly(
    persistent: bool,
    hosts: Hosts,
    host_redis: Callable[..., RedisServer],
    remote_worker: StartWorker,
    make_engine: Callable[..., CeleryEngine],
    coordination_env: Callable[[RedisServer], None],
) -> None:
    """AOF: the complete, correct result. Memory only: ``InFlightLostError`` within
    seconds, with the done batches kept. Never a hang, never a short list."""
    worker_host = hosts.add("worker")
    redis_server = host_redis(worker_host, persistent=persistent)
    coordination_env(redis_server)
    await asyncio.to_thread(remote_worker, worker_host, redis_server, "mh-redis")
    engine = make_engine(redis_server)
    options = CallOptions(worker_id="mh-redis", call_id="restart", timeout_s=DEADLINE_S)
    call = asyncio.create_task(
        engine.map_batches(items_for("restart"), tasks.slow_triple, BATCH_SIZE, WINDOW, options)
    )
    await until(lambda: started(redis_server, "restart") >= 1, 30, "a running batch")

    await asyncio.to_thread(redis_server.restart)
    restarted = time.monotonic()
    assert not call.done(), "the call finished before the restart: nothing was tested"

    if persistent:
        result = await asyncio.wait_for(call, DEADLINE_S + 10)
        print(f"redis restart (AOF): call done {time.monotonic() - restarted:.1f}s after it")
        assert await legacy_result("restart") == result
        return
    with pytest.raises(InFlightLostError, match="without persistence") as lost:
        await asyncio.wait_for(call, DEADLINE_S + 10)
    waited = time.monotonic() - restarted
    print(f"redis restart (no AOF): call failed {waited:.1f}s after it")
    assert waited < LOST_DETECTED_WITHIN_S
    assert lost.value.pending
    assert ITEMS // BATCH_SIZE == len(lost.value.partial)
