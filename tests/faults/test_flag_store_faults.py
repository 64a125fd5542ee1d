"""The flag store (a private Redis) goes away in the middle of traffic and comes back.

Workers route on their in-process table: while the store is gone (SIGKILLed) every call still
runs where the last known flags said, and none fails because of it; the table says it is
stale. When the store is back (same port, its append-only file reloaded) the table
reconnects by itself and follows the next change at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import compat
import flags
from compat import metrics
from compat.router import Router, set_router
from tests.adapters import equiv_tasks
from tests.support.redis_server import RedisServer
from tests.support.waiting import until

pytestmark = [pytest.mark.faults, pytest.mark.usefixtures("live_engines")]

WORKER = "equiv"
"""Routed to Celery, this worker's calls go to the queue the session's worker consumes."""
CALLS_DURING_OUTAGE = 3


@pytest.fixture
def flag_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A durable private Redis holding the flags."""
    server = RedisServer(tmp_path / "flags-redis", persistent=True).start()
    yield server
    server.stop()


@pytest.fixture
def table(flag_redis: RedisServer, tmp_path: Path) -> Iterator[flags.FlagTable]:
    """A live table on the private store, installed as the router's; removed afterwards."""
    live = flags.FlagTable(
        flag_redis.url(), snapshot_path=tmp_path / "snapshot.json", max_backoff_s=0.5
    )
    set_router(Router(table=live))
    metrics.reset()
    yield live
    set_router(None)
    live.close()


def route(store: flags.FlagStore, engine: str) -> None:
    """What an operator does: ``cutover flags set equiv --route ENGINE``."""
    store.update(WORKER, lambda r: r.changed(route=engine), actor="ops@test", reason="fault test")


async def run_call(values: list[int]) -> list[int]:
    """One routed call of the ``equiv`` worker."""
    optimizer = compat.AsyncWorkerOptimizer(worker_id=WORKER)
    result: list[int] = await optimizer.optimize_batch_processing(values, equiv_tasks.double, 5, 2)
    return result


async def test_flag_store_outage_keeps_the_last_table_and_catches_up(
    flag_redis: RedisServer, table: flags.FlagTable
) -> None:
    """Store killed: calls keep going to Celery; store back: the next change takes effect."""
    store = flags.open_store(flag_redis.url())
    try:
        route(store, "celery")
        await until(lambda: table.record(WORKER).route == "celery", 10, "the table to follow")
        assert [0, 2, 4] == await run_call([0, 1, 2])

        flag_redis.kill()
        await until(lambda: table.stale, 10, "the table to notice the outage")
        for call in range(CALLS_DURING_OUTAGE):
            values = list(range(call, call + 7))
            assert [2 * v for v in values] == await run_call(values)
        assert (1 + CALLS_DURING_OUTAGE, 0) == (
            metrics.value("calls", WORKER, "celery"),
            metrics.value("errors", WORKER),
        )

        flag_redis.start()
        await until(lambda: not table.stale, 15, "the table to reconnect")
        route(store, "ray")
        await until(lambda: table.record(WORKER).route == "ray", 10, "the table to catch up")
        assert [20, 22] == await run_call([10, 11])
        assert 1 == metrics.value("calls", WORKER, "ray")
    finally:
        store.close()
