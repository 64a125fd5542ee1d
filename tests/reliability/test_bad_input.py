"""Bad input through the shim, on every route where it matters: a clear error from
``cutover.errors`` before anything is sent, or a safe default, and nothing lost.

Complements the unit tests that already pin each refusal down (``tests/legacy``,
``tests/flags``, ``tests/adapters/test_codec.py``, ``tests/adapters/test_task_refs.py``):
here the same mistakes go through ``compat.AsyncWorkerOptimizer`` with real engines behind.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

import compat
import flags
from adapters.registry import get_engine
from compat import metrics
from compat.router import Router, set_router
from cutover.errors import (
    CutoverError,
    FlagValidationError,
    InvalidArgumentError,
    NotPortableError,
    PayloadTooLargeError,
    SerializationError,
    UnknownEngineError,
)
from flags import keys
from tests.adapters import celery_tasks, equiv_tasks
from tests.compat.conftest import SetFlags
from tests.faults.conftest import unique
from tests.support.services import TEST_BROKER_URL

pytestmark = pytest.mark.usefixtures("live_engines")

ROUTES = ["legacy", "celery", "ray"]


def sync_double(item: int) -> int:
    """Not a coroutine function: a mistake the legacy module only noticed deep in a batch."""
    return item * 2


def sync_returning_coroutine(item: int) -> Any:
    """Not a coroutine function, but returns an awaitable: legacy accepted it, so do we."""
    return equiv_tasks.double(item)


def queued(worker_id: str) -> int:
    """Messages waiting in the (unconsumed) Redis queue of ``worker_id``."""
    broker = redis.Redis.from_url(TEST_BROKER_URL)
    try:
        return sum(int(broker.llen(key)) for key in broker.keys(f"cutover.{worker_id}*"))
    finally:
        broker.close()


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    ("batch_size", "max_concurrent"),
    [(0, 1), (-3, 1), (1.5, 1), ("10", 1), (True, 1), (None, 1), (1, 0), (1, -1), (1, 2.0)],
)
async def test_bad_batch_arguments_are_refused_before_anything_runs(
    set_flags: SetFlags, route: str, batch_size: Any, max_concurrent: Any
) -> None:
    """0, negative, float, str, bool, None: ``InvalidArgumentError``; the call never routed."""
    set_flags({"equiv": flags.FlagRecord(route=route)})
    optimizer = compat.AsyncWorkerOptimizer(worker_id="equiv")
    with pytest.raises(InvalidArgumentError, match=r"batch_size|max_concurrent"):
        await optimizer.optimize_batch_processing(
            [1, 2], equiv_tasks.double, batch_size, max_concurrent
        )
    assert 0 == metrics.value("calls")


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("fallback", ["legacy", "fail"])
async def test_task_func_that_is_not_a_coroutine_function_is_a_clear_error(
    set_flags: SetFlags, route: str, fallback: str
) -> None:
    """A plain function: ``InvalidArgumentError`` (or, on Celery, ``NotPortableError``)."""
    set_flags({"equiv": flags.FlagRecord(route=route, fallback=fallback)})
    optimizer = compat.AsyncWorkerOptimizer(worker_id="equiv")
    expected: tuple[type[CutoverError], ...] = (InvalidArgumentError,)
    if route == "celery" and fallback == "fail":
        expected = (NotPortableError,)
    with pytest.raises(expected, match="sync_double"):
        await optimizer.optimize_batch_processing([1, 2, 3], sync_double)
    with pytest.raises(InvalidArgumentError, match="async function"):
        await optimizer.optimize_batch_processing([1], None)  # type: ignore[arg-type]


@pytest.mark.parametrize("route", ["legacy", "ray"])
async def test_a_function_returning_an_awaitable_still_works(
    set_flags: SetFlags, route: str
) -> None:
    """What legacy accepted keeps working: a plain function that returns a coroutine."""
    set_flags({"equiv": flags.FlagRecord(route=route)})
    optimizer = compat.AsyncWorkerOptimizer(worker_id="equiv")
    assert [2, 4, 6] == await optimizer.optimize_batch_processing(
        [1, 2, 3], sync_returning_coroutine
    )


async def test_an_item_the_serializer_cannot_carry_is_refused_before_sending(
    set_flags: SetFlags,
) -> None:
    """An ``object()`` item on Celery: ``SerializationError`` naming it; nothing queued."""
    worker = unique("unserved")
    set_flags({worker: flags.FlagRecord(route="celery")})
    optimizer = compat.AsyncWorkerOptimizer(worker_id=worker)
    with pytest.raises(SerializationError, match="'object'"):
        await optimizer.optimize_batch_processing([object(), 1], equiv_tasks.identity, 5, 1)
    assert 0 == queued(worker)
    assert 0 == metrics.value("fallbacks")


async def test_a_result_the_serializer_cannot_carry_fails_the_call_clearly(
    set_flags: SetFlags,
) -> None:
    """A task returning ``object()`` on Celery: a ``CutoverError`` that names the type."""
    set_flags({"equiv": flags.FlagRecord(route="celery")})
    optimizer = compat.AsyncWorkerOptimizer(worker_id="equiv")
    with pytest.raises(CutoverError, match="object"):
        await optimizer.optimize_batch_processing([1], celery_tasks.returns_unsupported)


async def test_a_message_over_the_payload_limit_is_refused_before_sending(
    set_flags: SetFlags, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Items encoding above ``CUTOVER_MAX_PAYLOAD_BYTES``: ``PayloadTooLargeError``, unsent."""
    monkeypatch.setenv("CUTOVER_MAX_PAYLOAD_BYTES", "4096")
    worker = unique("unserved")
    set_flags({worker: flags.FlagRecord(route="celery")})
    optimizer = compat.AsyncWorkerOptimizer(worker_id=worker)
    with pytest.raises(PayloadTooLargeError, match="4096"):
        await optimizer.optimize_batch_processing(["x" * 10_000], equiv_tasks.identity, 1, 1)
    assert 0 == queued(worker)


def test_an_unknown_engine_name_is_refused() -> None:
    """The registry knows three engines; anything else is ``UnknownEngineError``."""
    with pytest.raises(UnknownEngineError, match="kafka"):
        get_engine("kafka")
    with pytest.raises(FlagValidationError, match="route"):
        flags.FlagRecord(route="kafka")  # type: ignore[arg-type]


@pytest.fixture
def table_of(tmp_path: Path) -> Iterator[Any]:
    """Install a router following a given store URL; the table is closed afterwards."""
    tables: list[flags.FlagTable] = []

    def install(url: str) -> flags.FlagTable:
        table = flags.FlagTable(url, snapshot_path=tmp_path / "snapshot.json", watch=False)
        tables.append(table)
        set_router(Router(table=table))
        metrics.reset()
        return table

    yield install
    set_router(None)
    for table in tables:
        table.close()


BAD_RECORDS = [
    {"route": "kafka"},
    {"route": "celery", "percent": "fifty"},
    {"route": "celery", "percent": 250},
    {"route": 7},
    {"route": "celery", "shadow": {"route": "ray", "sample": "all"}},
    {"route": "celery", "retries": {"max": -1}},
    {"route": "celery", "unknown_field": True},
    ["celery"],
    "celery",
]


@pytest.mark.parametrize("bad", BAD_RECORDS, ids=[json.dumps(b) for b in BAD_RECORDS])
async def test_wrong_types_in_a_redis_flag_record_route_that_worker_on_legacy(
    bad: Any, table_of: Any, redis_flags_url: str
) -> None:
    """An invalid stored record: that worker runs on legacy (correct result), others unharmed."""
    client = redis.Redis.from_url(redis_flags_url)
    try:
        client.hset(keys.RECORDS_KEY, "broken", json.dumps(bad))
        client.hset(keys.RECORDS_KEY, "fine", json.dumps({"route": "ray"}))
    finally:
        client.close()
    table = table_of(redis_flags_url)
    assert [2, 4] == await compat.AsyncWorkerOptimizer(
        worker_id="broken"
    ).optimize_batch_processing([1, 2], equiv_tasks.double)
    assert [6] == await compat.AsyncWorkerOptimizer(worker_id="fine").optimize_batch_processing(
        [3], equiv_tasks.double
    )
    assert (1, 1) == (
        metrics.value("calls", "broken", "legacy"),
        metrics.value("calls", "fine", "ray"),
    )
    assert "broken" not in table.workers()


@pytest.mark.parametrize(
    "content",
    ["{not json", "", "[]", '{"format": 1, "workers": {"w": {"route": "kafka"}}}', "\x00\xff"],
)
async def test_a_corrupt_flag_file_routes_on_legacy_and_loses_no_call(
    content: str, table_of: Any, tmp_path: Path
) -> None:
    """A damaged flags file: every call still runs (on legacy) and returns the right result."""
    path = tmp_path / "flags.json"
    path.write_text(content)
    table_of(path.as_uri())
    optimizer = compat.AsyncWorkerOptimizer(worker_id="w")
    assert [2, 4, 6] == await optimizer.optimize_batch_processing([1, 2, 3], equiv_tasks.double)
    assert 1 == metrics.value("calls", "w", "legacy")


@pytest.fixture
def redis_flags_url() -> Iterator[str]:
    """A flushed Redis database for flag records of these tests."""
    from tests.flags.services import REDIS_URL, require_redis

    client = require_redis()
    yield REDIS_URL
    client.flushdb()
    client.close()
