"""Soak: minutes of mixed traffic while an operator flips the route every few seconds.

Several clients in one process call the shim back to back with items unique to each call
(sizes, batch sizes and concurrency vary); a flipper moves the worker between legacy, Celery,
Ray and hybrid through a real Redis flag store every :data:`FLIP_S` seconds, and the live
flag table follows. Every call must return exactly its own items' results, in order — no
lost, duplicated or foreign item — whatever route it took, and the process must hold no more
threads, child processes or connections afterwards than after its warm-up.

``CUTOVER_SOAK_S`` sets the duration (default 60 s).
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

import compat
import flags
from compat import metrics
from compat.router import Router, set_router
from tests.adapters import equiv_tasks
from tests.reliability.figures import Holdings, report
from tests.support.redis_server import RedisServer
from tests.support.services import TEST_AMQP_PORT, TEST_REDIS_PORT
from tests.support.waiting import until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.celery,
    pytest.mark.ray,
    pytest.mark.usefixtures("live_engines"),
]

SOAK_ENV = "CUTOVER_SOAK_S"
WORKER = "equiv"
CLIENTS = 6
FLIP_S = 3.0
WARM_UP_S = 5.0
ROUTES = ("legacy", "celery", "ray", "hybrid")
SETTLE_S = 20.0
FLAG_CLIENT_NAME = "cutover-flags"


def soak_seconds() -> float:
    """``CUTOVER_SOAK_S``, default 60."""
    return float(os.environ.get(SOAK_ENV) or 60)


@pytest.fixture
def flag_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A private Redis holding the flags of the soak."""
    server = RedisServer(tmp_path / "soak-flags").start()
    yield server
    server.stop()


@pytest.fixture
def live_table(flag_redis: RedisServer, tmp_path: Path) -> Iterator[flags.FlagTable]:
    """The router follows a live table on the private store."""
    table = flags.FlagTable(flag_redis.url(), snapshot_path=tmp_path / "snapshot.json")
    set_router(Router(table=table))
    metrics.reset()
    yield table
    set_router(None)
    table.close()


class Traffic:
    """Clients calling back to back; every result checked; counts kept."""

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)
        self.calls = 0
        self.items = 0
        self.next_value = 0
        self.problems: list[str] = []

    async def client(self, until_time: float) -> None:
        """One client: calls until ``until_time``; a wrong result is recorded, not raised."""
        optimizer = compat.AsyncWorkerOptimizer(worker_id=WORKER)
        while time.monotonic() < until_time:
            size = self.random.choice([1, 5, 20, 100, 300])
            values = list(range(self.next_value, self.next_value + size))
            self.next_value += size
            batch_size = self.random.randint(1, 50)
            limit = self.random.randint(1, 5)
            try:
                result = await asyncio.wait_for(
                    optimizer.optimize_batch_processing(
                        values, equiv_tasks.double, batch_size, limit
                    ),
                    60,
                )
            except Exception as exc:  # noqa: BLE001 - any failure is a finding of the soak
                self.problems.append(f"call of {size} items raised {exc!r}")
                continue
            if result != [2 * v for v in values]:
                self.problems.append(f"call of {size} items returned a wrong list")
            self.calls += 1
            self.items += size

    async def run(self, seconds: float) -> None:
        """All clients for ``seconds``."""
        end = time.monotonic() + seconds
        await asyncio.gather(*(self.client(end) for _ in range(CLIENTS)))


async def flip_routes(store: flags.FlagStore, seconds: float, flips: Counter[str]) -> None:
    """Move the worker to the next route every :data:`FLIP_S` seconds, as an operator would."""
    end = time.monotonic() + seconds
    index = 0
    while time.monotonic() < end:
        route = ROUTES[index % len(ROUTES)]
        await asyncio.to_thread(
            store.update,
            WORKER,
            lambda r, route=route: r.changed(route=route),
            actor="soak@test",
            reason="soak flip",
        )
        flips[route] += 1
        index += 1
        await asyncio.sleep(FLIP_S)


def flag_clients(server: RedisServer) -> int:
    """Connections named ``cutover-flags`` on the flag store (``CLIENT LIST``)."""
    client = redis.Redis.from_url(server.url())
    try:
        return sum(1 for c in client.client_list() if c.get("name") == FLAG_CLIENT_NAME)
    finally:
        client.close()


async def test_soak_with_route_flips_loses_nothing_and_leaks_nothing(
    flag_redis: RedisServer, live_table: flags.FlagTable
) -> None:
    """Mixed traffic, flags flipping: no lost or duplicated item, no leaked resource."""
    seconds = soak_seconds()
    ports = (TEST_REDIS_PORT, TEST_AMQP_PORT, flag_redis.port)
    store = flags.open_store(flag_redis.url())
    flips: Counter[str] = Counter()
    try:
        warm = Traffic(seed=1)
        await asyncio.gather(warm.run(WARM_UP_S), flip_routes(store, WARM_UP_S, Counter()))
        assert [] == warm.problems
        before = Holdings.now(ports)
        flag_before = flag_clients(flag_redis)
        metrics.reset()

        traffic = Traffic(seed=2)
        started = time.monotonic()
        await asyncio.gather(traffic.run(seconds), flip_routes(store, seconds, flips))
        elapsed = time.monotonic() - started
    finally:
        store.close()

    routed = {route: metrics.value("calls", WORKER, route) for route in ("legacy", "celery", "ray")}
    assert [] == traffic.problems
    assert traffic.calls == sum(routed.values())
    assert all(count > 0 for count in routed.values()), routed

    def settled() -> bool:
        now = Holdings.now(ports)
        return (
            now.threads <= before.threads
            and now.children <= before.children
            and all(now.connections[p] <= before.connections[p] for p in ports)
        )

    try:
        await until(settled, SETTLE_S, "threads, children and connections back to the baseline")
    finally:
        after = Holdings.now(ports)
        report(
            "soak",
            seconds=round(elapsed, 1),
            clients=CLIENTS,
            calls=traffic.calls,
            items=traffic.items,
            calls_by_route=routed,
            flips=dict(flips),
            threads=(before.threads, after.threads),
            children=(before.children, after.children),
            connections_by_port={p: (before.connections[p], after.connections[p]) for p in ports},
            flag_store_clients=(flag_before, flag_clients(flag_redis)),
        )
    assert flag_clients(flag_redis) <= flag_before  # the table's two, no more (ours closed)
