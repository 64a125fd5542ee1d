"""Celery workers on other hosts: a remote worker, a partition, a dead host.

The broker and the result backend are a redis-server on the test host's link address; the
worker is the project's prefork ``celery worker`` inside another network namespace
(:mod:`tests.multihost.remote_call`). Every test asserts the call returns every item exactly
once, equal to legacy, and that the caller's wait is bounded.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from adapters.base import CallOptions
from ground.errors import CallTimeoutError
from tests.multihost import tasks
from tests.multihost.conftest import DEADLINE_S, StartRemoteCall, StartWorker
from tests.multihost.remote_call import (
    BATCH_SIZE,
    ITEMS,
    WINDOW,
    items_for,
    legacy_result,
    result_keys,
)
from tests.support.netns import Hosts
from tests.support.waiting import until

pytestmark = [pytest.mark.multihost, pytest.mark.celery, pytest.mark.slow]

PARTITION_S = 15.0
PARTITION_TIME_LIMIT_S, PARTITION_VISIBILITY_S, PARTITION_DEADLINE_S = 30.0, 35.0, 80.0
"""The 15 s cut is shorter than a batch's time limit (as in production, where limits are
minutes): a batch whose result could not be stored during the cut stores it after the heal.
A cut longer than the time limit fails the batch (TimeLimitExceeded): that is the limit
doing its job, tested with a cut longer than the caller's deadline below."""
SHORT_DEADLINE_S = 8.0
LONG_PARTITION_S = 20.0


def ran_elsewhere(key: str) -> bool:
    """True when every reported item ran in another network namespace than this one."""
    where = tasks.coordination().hgetall(f"{key}:where")
    here = tasks.network_namespace()
    return bool(where) and all(not v.decode().startswith(here) for v in where.values())


async def test_remote_worker_returns_every_item_once(start_remote_call: StartRemoteCall) -> None:
    """Broker and backend on the test host, the worker on another: the call is the legacy
    call, its batches really ran on the other host, and it leaves no result key behind
    (they outlived the caller's process before: only a later sweep removed them)."""
    remote = await start_remote_call("remote", "mh-remote", running=False)

    result = await asyncio.wait_for(remote.call, DEADLINE_S)

    assert await legacy_result("remote") == result
    assert ran_elsewhere("remote")
    assert not result_keys(remote.redis_server), "the finished call left its result keys"


async def test_partition_of_the_worker_host_mid_call_then_healed(
    capsys: pytest.CaptureFixture[str], start_remote_call: StartRemoteCall
) -> None:
    """The worker host is cut off for 15 s while batches run (longer than the batches' time
    limit and visibility timeout), then healed: the call completes with every item once."""
    remote = await start_remote_call(
        "cut",
        "mh-cut",
        time_limit_s=PARTITION_TIME_LIMIT_S,
        visibility_s=PARTITION_VISIBILITY_S,
        deadline_s=PARTITION_DEADLINE_S,
        result_timeout_s=PARTITION_DEADLINE_S,
    )

    remote.host.partition()
    try:
        await asyncio.sleep(PARTITION_S)
        assert not remote.call.done(), "the call finished during the partition: nothing tested"
    finally:
        remote.host.heal()
    healed = time.monotonic()
    result = await asyncio.wait_for(remote.call, PARTITION_DEADLINE_S + 10)

    recovered = time.monotonic() - healed
    assert await legacy_result("cut") == result
    assert "call_stalled" in capsys.readouterr().err, "the caller's stall was not logged"
    print(f"partition {PARTITION_S:g}s: call done {recovered:.1f}s after heal")
    assert not result_keys(remote.redis_server), "the finished call left result keys in Redis"


async def test_worker_host_killed_mid_call_and_replaced(
    hosts: Hosts, remote_worker: StartWorker, start_remote_call: StartRemoteCall
) -> None:
    """kill -9 of every process of the worker host mid-call, a new worker on a new host: the
    unacknowledged batches come back (acks_late, visibility timeout) and each result is
    taken once (by batch id), although some batches ran twice."""
    remote = await start_remote_call("kill", "mh-kill", host_name="worker1")

    remote.host.kill_all()
    killed = time.monotonic()
    await until(lambda: not remote.host.pids(), 10, "the host's processes to die")
    assert not remote.call.done(), "the call finished before the kill: nothing was tested"
    second_host = hosts.add("worker2")
    await asyncio.to_thread(remote_worker, second_host, remote.redis_server, "mh-kill")
    result = await asyncio.wait_for(remote.call, DEADLINE_S + 10)

    print(f"kill -9: call done {time.monotonic() - killed:.1f}s after the kill")
    assert await legacy_result("kill") == result
    runs = {int(k): int(v) for k, v in tasks.coordination().hgetall("kill:runs").items()}
    assert set(range(ITEMS)) == set(runs)
    assert any(count > 1 for count in runs.values()), "no batch was redelivered: nothing tested"


async def test_partition_longer_than_the_deadline_fails_clearly_and_late_results_stay_out(
    start_remote_call: StartRemoteCall,
) -> None:
    """Cut off for longer than the caller's deadline: ``CallTimeoutError`` on time, naming
    the pending batches and keeping what was done. Healed, the late results reach nobody:
    the next call on the same engine gets exactly its own items, and no key is left."""
    remote = await start_remote_call("long", "mh-long", deadline_s=SHORT_DEADLINE_S)

    remote.host.partition()
    cut = time.monotonic()
    try:
        with pytest.raises(CallTimeoutError, match=r"pending: #") as gave_up:
            await asyncio.wait_for(remote.call, SHORT_DEADLINE_S + 10)
        waited = time.monotonic() - cut
        await asyncio.sleep(max(0.0, LONG_PARTITION_S - waited))
    finally:
        remote.host.heal()

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
        remote.engine.map_batches(items_for("again"), tasks.slow_triple, BATCH_SIZE, WINDOW, again),
        DEADLINE_S + 10,
    )
    assert await legacy_result("again") == values
    await until(lambda: not result_keys(remote.redis_server), 30, "the late results' keys to go")
