"""Celery workers on other hosts: a remote worker, a partition, a dead host.

The broker and the result backend are a redis-server on the test host's link address; the
worker is the project's prefork ``celery worker`` inside another network namespace. Every
test asserts the call returns every item exactly once, equal to legacy, and that the
caller's wait is bounded.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
import redis

from adapters.base import CallOptions
from adapters.celery.engine import CeleryEngine
from adapters.celery.results import KEY_PREFIX
from adapters.legacy.engine import LegacyEngine
from ground.errors import CallTimeoutError
from tests.multihost import tasks
from tests.multihost.conftest import DEADLINE_S, StartWorker
from tests.support.netns import Hosts
from tests.support.redis_server import RedisServer
from tests.support.waiting import until

pytestmark = [pytest.mark.multihost, pytest.mark.celery, pytest.mark.slow]

ITEMS = 12
BATCH_SIZE = 2
WINDOW = 4
PARTITION_S = 15.0
PARTITION_TIME_LIMIT_S, PARTITION_VISIBILITY_S, PARTITION_DEADLINE_S = 30.0, 35.0, 80.0
"""The 15 s cut is shorter than a batch's time limit (as in production, where limits are
minutes): a batch whose result could not be stored during the cut stores it after the heal.
A cut longer than the time limit fails the batch (TimeLimitExceeded): that is the limit
doing its job, tested with a cut longer than the caller's deadline below."""
SHORT_DEADLINE_S = 8.0
LONG_PARTITION_S = 20.0


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


def started(redis_server: RedisServer, key: str) -> int:
    """How many items of ``key`` started (on any host)."""
    return int(tasks.coordination().get(f"{key}:started") or 0)


def result_keys(redis_server: RedisServer) -> list[bytes]:
    """The result keys left in the backend database."""
    client = redis.Redis.from_url(redis_server.url(1))
    try:
        return list(client.scan_iter(f"{KEY_PREFIX}*"))
    finally:
        client.close()


def ran_elsewhere(key: str) -> bool:
    """True when every reported item ran in another network namespace than this one."""
    where = tasks.coordination().hgetall(f"{key}:where")
    here = tasks.network_namespace()
    return bool(where) and all(not v.decode().startswith(here) for v in where.values())


async def test_remote_worker_returns_every_item_once(
    hosts: Hosts,
    host_redis: Callable[..., RedisServer],
    remote_worker: StartWorker,
    make_engine: Callable[..., CeleryEngine],
    coordination_env: Callable[[RedisServer], None],
) -> None:
    """Broker and backend on the test host, the worker on another: the call is the legacy
    call, its batches really ran on the other host, and it leaves no result key behind
    (they outlived the caller's process before: only a later sweep removed them)."""
    worker_host = hosts.add("worker")
    redis_server = host_redis(worker_host)
    coordination_env(redis_server)
    await asyncio.to_thread(remote_worker, worker_host, redis_server, "mh-remote")
    engine = make_engine(redis_server)
    options = CallOptions(worker_id="mh-remote", call_id="remote", timeout_s=DEADLINE_S)

    result = await asyncio.wait_for(
        engine.map_batches(items_for("remote"), tasks.slow_triple, BATCH_SIZE, WINDOW, options),
        DEADLINE_S,
    )

    assert await legacy_result("remote") == result
    assert ran_elsewhere("remote")
    assert not result_keys(redis_server), "the finished call left its result keys in Redis"


async def test_partition_of_the_worker_host_mid_call_then_healed(
    capsys: pytest.CaptureFixture[str],
    hosts: Hosts,
    host_redis: Callable[..., RedisServer],
    remote_worker: StartWorker,
    make_engine: Callable[..., CeleryEngine],
    coordination_env: Callable[[RedisServer], None],
) -> None:
    """The worker host is cut off for 15 s while batches run (longer than the batches' time
    limit and visibility timeout), then healed: the call completes with every item once."""
    worker_host = hosts.add("worker")
    redis_server = host_redis(worker_host)
    coordination_env(redis_server)
    await asyncio.to_thread(
        remote_worker,
        worker_host,
        redis_server,
        "mh-cut",
        PARTITION_TIME_LIMIT_S,
        PARTITION_VISIBILITY_S,
    )
    engine = make_engine(
        redis_server,
        task_time_limit=PARTITION_TIME_LIMIT_S,
        visibility_timeout=PARTITION_VISIBILITY_S,
        result_timeout=PARTITION_DEADLINE_S,
    )
    options = CallOptions(worker_id="mh-cut", call_id="cut", timeout_s=PARTITION_DEADLINE_S)
    call = asyncio.create_task(
        engine.map_batches(items_for("cut"), tasks.slow_triple, BATCH_SIZE, WINDOW, options)
    )
    await until(lambda: started(redis_server, "cut") >= 1, 30, "a running batch")

    worker_host.partition()
    try:
        await asyncio.sleep(PARTITION_S)
        assert not call.done(), "the call finished during the partition: nothing was tested"
    finally:
        worker_host.heal()
    healed = time.monotonic()
    result = await asyncio.wait_for(call, PARTITION_DEADLINE_S + 10)

    recovered = time.monotonic() - healed
    assert await legacy_result("cut") == result
    assert "call_stalled" in capsys.readouterr().err, "the caller's stall was not logged"
    print(f"partition {PARTITION_S:g}s: call done {recovered:.1f}s after heal")
    assert not result_keys(redis_server), "the finished call left result keys in Redis"


async def test_worker_host_killed_mid_call_and_replaced(
    hosts: Hosts,
    host_redis: Callable[..., RedisServer],
    remote_worker: StartWorker,
    make_engine: Callable[..., CeleryEngine],
    coordination_env: Callable[[RedisServer], None],
) -> None:
    """kill -9 of every process of the worker host mid-call, a new worker on a new host: the
    unacknowledged batches come back (acks_late, visibility timeout) and each result is
    taken once (by batch id), although some batches ran twice."""
    first_host = hosts.add("worker1")
    redis_server = host_redis(first_host)
    coordination_env(redis_server)
    await asyncio.to_thread(remote_worker, first_host, redis_server, "mh-kill")
    engine = make_engine(redis_server)
    options = CallOptions(worker_id="mh-kill", call_id="kill", timeout_s=DEADLINE_S)
    call = asyncio.create_task(
        engine.map_batches(items_for("kill"), tasks.slow_triple, BATCH_SIZE, WINDOW, options)
    )
    await until(lambda: started(redis_server, "kill") >= 1, 30, "a running batch")

    first_host.kill_all()
    killed = time.monotonic()
    await until(lambda: not first_host.pids(), 10, "the host's processes to die")
    assert not call.done(), "the call finished before the kill: nothing was tested"
    second_host = hosts.add("worker2")
    await asyncio.to_thread(remote_worker, second_host, redis_server, "mh-kill")
    result = await asyncio.wait_for(call, DEADLINE_S + 10)

    print(f"kill -9: call done {time.monotonic() - killed:.1f}s after the kill")
    assert await legacy_result("kill") == result
    runs = {int(k): int(v) for k, v in tasks.coordination().hgetall("kill:runs").items()}
    assert set(range(ITEMS)) == set(runs)
    assert any(count > 1 for count in runs.values()), "no batch was redelivered: nothing tested"


async def test_partition_longer_than_the_deadline_fails_clearly_and_late_results_stay_out(
    hosts: Hosts,
    host_redis: Callable[..., RedisServer],
    remote_worker: StartWorker,
    make_engine: Callable[..., CeleryEngine],
    coordination_env: Callable[[RedisServer], None],
) -> None:
    """Cut off for longer than the caller's deadline: ``CallTimeoutError`` on time, naming
    the pending batches and keeping what was done. Healed, the late results reach nobody:
    the next call on the same engine gets exactly its own items, and no key is left."""
    worker_host = hosts.add("worker")
    redis_server = host_redis(worker_host)
    coordination_env(redis_server)
    await asyncio.to_thread(remote_worker, worker_host, redis_server, "mh-long")
    engine = make_engine(redis_server)
    options = CallOptions(worker_id="mh-long", call_id="long", timeout_s=SHORT_DEADLINE_S)
    call = asyncio.create_task(
        engine.map_batches(items_for("long"), tasks.slow_triple, BATCH_SIZE, WINDOW, options)
    )
    await until(lambda: started(redis_server, "long") >= 1, 30, "a running batch")

    worker_host.partition()
    cut = time.monotonic()
    try:
        with pytest.raises(CallTimeoutError, match=r"pending: #") as gave_up:
            await asyncio.wait_for(call, SHORT_DEADLINE_S + 10)
        waited = time.monotonic() - cut
        await asyncio.sleep(max(0.0, LONG_PARTITION_S - waited))
    finally:
        worker_host.heal()

    print(f"partition past the deadline: gave up {waited:.1f}s into the cut")
    assert waited <= SHORT_DEADLINE_S + 2
    error = gave_up.value
    assert ITEMS // BATCH_SIZE == len(error.partial)
    assert error.pending
    for index, batch in enumerate(error.partial):
        if batch is not None:
            assert tasks.expected([2 * index, 2 * index + 1]) == batch
    assert {index for index, _ in error.pending} == {
        index for index, batch in enumerate(error.partial) if batch is None
    }

    again = CallOptions(worker_id="mh-long", call_id="again", timeout_s=DEADLINE_S)
    values = await asyncio.wait_for(
        engine.map_batches(items_for("again"), tasks.slow_triple, BATCH_SIZE, WINDOW, again),
        DEADLINE_S + 10,
    )
    assert await legacy_result("again") == values
    await until(lambda: not result_keys(redis_server), 30, "the late results' keys to go")
