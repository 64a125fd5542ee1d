"""Redis, broker and result backend at once, restarted during a call; or dead from the start.

The restarted Redis is a private ``redis-server`` (never the machine's): killed with SIGKILL
in the middle of a call, then started again on the same port.

- With an append-only file (every write fsynced), the queue, the unacknowledged batches and
  the results survive: the call returns the complete, correct result.
- Without persistence the restarted Redis is empty: batches that waited in it are gone. The
  caller sees the server's ``run_id`` change on a server without an append-only file and
  fails the call at once with ``InFlightLostError`` naming the pending batches (it used to
  wait for its whole deadline): never a hang, never a short list.
- A Redis that is not there at all (a dead port): the shim falls back to legacy or raises
  ``EngineUnavailableError``, as the worker's ``fallback`` flag says, before anything is sent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import compat
import flags
from adapters.base import CallOptions
from adapters.celery.engine import CeleryEngine
from adapters.celery.settings import CelerySettings
from adapters.registry import set_engine
from compat import metrics
from cutover.errors import EngineError, EngineUnavailableError, InFlightLostError
from tests.adapters import equiv_tasks
from tests.compat.conftest import SetFlags
from tests.faults import fault_tasks
from tests.faults.conftest import StartWorker, unique
from tests.support.redis_server import RedisServer, free_port
from tests.support.services import TEST_REDIS_HOST, TEST_REDIS_PORT, require_service
from tests.support.waiting import until

pytestmark = [pytest.mark.faults, pytest.mark.celery]

ITEMS = 8
LOST_CALL_DEADLINE_S = 60.0
LOST_DETECTED_WITHIN_S = 10.0
UNREACHABLE_BOUND_S = 10.0


@pytest.fixture
def private_redis(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[RedisServer]:
    """A private redis-server; ``persistent`` (AOF) when the test is parametrized so."""
    persistent = bool(getattr(request, "param", False))
    server = RedisServer(tmp_path / "redis", persistent=persistent).start()
    yield server
    server.stop()


async def start_call(
    server: RedisServer,
    start_worker: StartWorker,
    make_engine: Callable[[str, str], CeleryEngine],
    key: str,
    timeout_s: float,
) -> asyncio.Task[list[int]]:
    """A worker and an engine on the private Redis, and a call of :data:`ITEMS` batches."""
    worker_id = unique("fault-redis")
    await asyncio.to_thread(start_worker, server.url(0), server.url(1), worker_id, worker_id)
    engine = make_engine(server.url(0), server.url(1))
    items = [(key, value) for value in range(ITEMS)]
    options = CallOptions(worker_id=worker_id, call_id=key, timeout_s=timeout_s)
    call = asyncio.create_task(engine.map_batches(items, fault_tasks.slow_step, 1, ITEMS, options))
    coordination = fault_tasks.coordination()
    await until(lambda: int(coordination.get(f"{key}:started") or 0) >= 1, 30, "a running batch")
    return call


@pytest.mark.parametrize("private_redis", [True], indirect=True, ids=["aof"])
async def test_redis_restarted_during_a_call_loses_nothing(
    private_redis: RedisServer,
    start_worker: StartWorker,
    make_engine: Callable[[str, str], CeleryEngine],
    coordination_keys: Callable[[str], str],
) -> None:
    """A durable Redis killed and restarted mid-call: the complete, correct result."""
    require_service("Redis", TEST_REDIS_HOST, TEST_REDIS_PORT)  # the coordination keys live there
    key = coordination_keys("redis-restart")
    call = await start_call(private_redis, start_worker, make_engine, key, 60.0)

    await asyncio.to_thread(private_redis.restart)
    assert not call.done(), "the call finished before the fault: nothing was tested"

    result = await asyncio.wait_for(call, 90)
    assert [value * 3 for value in range(ITEMS)] == result


@pytest.mark.parametrize("private_redis", [False], indirect=True, ids=["memory-only"])
async def test_redis_that_lost_its_data_fails_the_call_early(
    private_redis: RedisServer,
    start_worker: StartWorker,
    make_engine: Callable[[str, str], CeleryEngine],
    coordination_keys: Callable[[str], str],
) -> None:
    """Restarted empty, the queued batches are gone: ``InFlightLostError`` within seconds
    of the restart, long before the call's deadline, naming the pending batches."""
    require_service("Redis", TEST_REDIS_HOST, TEST_REDIS_PORT)
    key = coordination_keys("redis-lost")
    call = await start_call(private_redis, start_worker, make_engine, key, LOST_CALL_DEADLINE_S)
    started = time.monotonic()

    await asyncio.to_thread(private_redis.restart)
    with pytest.raises(InFlightLostError, match="without persistence") as lost:
        await asyncio.wait_for(call, LOST_CALL_DEADLINE_S + 30)
    assert time.monotonic() - started < LOST_DETECTED_WITHIN_S
    assert lost.value.pending
    assert "pending: #" in str(lost.value)
    assert ITEMS == len(lost.value.partial)


@pytest.fixture
def celery_on_a_dead_port() -> Iterator[CeleryEngine]:
    """The registry's ``celery`` engine has broker and backend on a port nobody listens on."""
    port = free_port()
    dead = CeleryEngine(
        CelerySettings(
            broker_url=f"redis://127.0.0.1:{port}/0", result_backend=f"redis://127.0.0.1:{port}/1"
        )
    )
    previous = set_engine("celery", dead)
    yield dead
    set_engine("celery", previous)


@pytest.mark.parametrize("fallback", ["legacy", "fail"])
async def test_redis_unreachable_from_the_start_falls_back_or_fails_by_policy(
    fallback: str, set_flags: SetFlags, celery_on_a_dead_port: CeleryEngine
) -> None:
    """Dead port: legacy runs the call (``fallback=legacy``) or ``EngineUnavailableError``."""
    worker = unique("dead-redis")
    set_flags({worker: flags.FlagRecord(route="celery", fallback=fallback)})
    optimizer = compat.AsyncWorkerOptimizer(worker_id=worker)
    started = time.monotonic()
    call = optimizer.optimize_batch_processing(list(range(10)), equiv_tasks.double, 3, 2)
    if fallback == "legacy":
        result = await asyncio.wait_for(call, UNREACHABLE_BOUND_S)
        assert [2 * i for i in range(10)] == result
        assert 1 == metrics.value("fallbacks", worker, "celery")
    else:
        with pytest.raises(EngineUnavailableError, match="unreachable"):
            await asyncio.wait_for(call, UNREACHABLE_BOUND_S)
        assert 0 == metrics.value("fallbacks", worker, "celery")
    assert time.monotonic() - started < UNREACHABLE_BOUND_S


async def test_a_broker_lost_after_part_of_a_window_was_sent_is_not_a_safe_fallback(
    private_redis: RedisServer, make_engine: Callable[[str, str], CeleryEngine]
) -> None:
    """The connection drops while the first window is published, after two of its three
    messages reached the broker. Falling back to legacy would run those two batches twice,
    so the call fails with ``EngineError`` (not ``EngineUnavailableError``), saying so.

    The drop is Redis's own: a message over its ``proto-max-bulk-len`` (lowered to 1 MB
    here) makes it close the connection, deterministically at the third message.
    """
    import redis

    admin = redis.Redis.from_url(private_redis.url(0))
    admin.config_set("proto-max-bulk-len", "1mb")
    engine = make_engine(private_redis.url(0), private_redis.url(1))
    worker_id = unique("fault-partial")
    items: list[object] = [1, 2, 3, 4, b"x" * 2_000_000]
    with pytest.raises(EngineError) as raised:
        await engine.map_batches(
            items, equiv_tasks.identity, 2, 5, CallOptions(worker_id=worker_id, timeout_s=10)
        )
    assert not isinstance(raised.value, EngineUnavailableError)
    assert "after 2 of 3 message(s)" in str(raised.value)
    queued = sum(int(admin.llen(key)) for key in admin.keys(f"cutover.{worker_id}*"))
    assert 2 == queued
    admin.close()
