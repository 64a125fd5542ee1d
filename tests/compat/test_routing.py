"""Routing of one call through the shim: what the caller gets is exactly what legacy gives,
wherever the flags send it; and the call went where the flags said.

Real engines: a prefork Celery worker on Redis and a local Ray (session fixtures).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import compat
import flags
import legacy
from adapters.celery.engine import CeleryEngine
from adapters.celery.settings import CelerySettings
from adapters.registry import set_engine
from compat import metrics
from compat.router import Router, set_router
from cutover.errors import EngineUnavailableError, NotPortableError
from tests.adapters import equiv_tasks
from tests.compat.conftest import SetFlags
from tests.support.services import TEST_BACKEND_URL
from tests.support.waiting import until

pytestmark = pytest.mark.usefixtures("live_engines")

WORKER = "equiv"

record_strategy = st.builds(
    flags.FlagRecord,
    route=st.sampled_from(["legacy", "celery", "ray", "hybrid"]),
    percent=st.sampled_from([0.0, 25.0, 50.0, 100.0]),
    base=st.sampled_from(["legacy", "celery", "ray"]),
    hybrid=st.builds(
        flags.HybridPolicy,
        mode=st.sampled_from(["threshold", "adaptive"]),
        threshold=st.sampled_from([0, 5, 100]),
    ),
    kill=st.booleans(),
)


async def outcome(coroutine: Any) -> tuple[str, Any]:
    """``("ok", value)`` or ``("raised", (type, message))``."""
    try:
        return ("ok", await coroutine)
    except Exception as exc:  # noqa: BLE001 - the outcome *is* the exception
        return ("raised", (type(exc), str(exc)))


@given(
    record=record_strategy,
    items=st.lists(st.integers(min_value=-3, max_value=500), max_size=30),
    batch_size=st.integers(min_value=1, max_value=8),
    limit=st.integers(min_value=1, max_value=4),
    global_kill=st.booleans(),
)
# set_flags installs a fresh router per call: safe to reuse across examples.
@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
async def test_shim_returns_what_legacy_returns_for_every_flag_combination(
    set_flags: SetFlags,
    record: flags.FlagRecord,
    items: list[int],
    batch_size: int,
    limit: int,
    global_kill: bool,
) -> None:
    """Any route, percent, hybrid mode, kill: same results or same exception as legacy."""
    negatives = [i for i, x in enumerate(items) if x < 0]
    for index in negatives[1:]:
        items[index] = -items[index]
    set_flags({WORKER: record}, global_kill=global_kill)
    expected = await outcome(
        legacy.AsyncWorkerOptimizer().optimize_batch_processing(
            items, equiv_tasks.fail_on_negative, batch_size, limit
        )
    )
    actual = await outcome(
        compat.AsyncWorkerOptimizer(worker_id=WORKER).optimize_batch_processing(
            items, equiv_tasks.fail_on_negative, batch_size, limit
        )
    )
    assert expected == actual


@pytest.mark.parametrize("route", ["legacy", "celery", "ray"])
async def test_the_call_runs_where_the_flags_say(
    set_flags: SetFlags, call_log_env: Callable[..., Any], route: str
) -> None:
    """``route=R`` at 100 %: the call is counted on R, the result is legacy's, and the call
    log's per-call line (at debug) says so."""
    call_log_env("debug")
    set_flags({WORKER: flags.FlagRecord(route=route, version=3)})
    optimizer = compat.AsyncWorkerOptimizer(worker_id=WORKER)
    with structlog.testing.capture_logs() as logs:
        result = await optimizer.optimize_batch_processing(list(range(20)), equiv_tasks.double)
    assert [2 * i for i in range(20)] == result
    assert 1 == metrics.value("calls", WORKER, route)
    call_lines = [line for line in logs if line["event"] == "call"]
    assert 1 == len(call_lines)
    line = call_lines[0]
    assert (WORKER, route, 3, 20, "ok") == (
        line["worker"],
        line["route"],
        line["flag_version"],
        line["items"],
        line["outcome"],
    )
    assert {"call_id", "reason", "duration_ms"} <= set(line)


async def test_kill_switch_forces_legacy(set_flags: SetFlags) -> None:
    """A killed worker runs on legacy whatever its route says."""
    set_flags({WORKER: flags.FlagRecord(route="celery", kill=True)})
    await compat.AsyncWorkerOptimizer(worker_id=WORKER).optimize_batch_processing(
        [1, 2, 3], equiv_tasks.double
    )
    assert (1, 0) == (
        metrics.value("calls", WORKER, "legacy"),
        metrics.value("calls", route="celery"),
    )


async def test_global_kill_forces_legacy_for_every_worker(set_flags: SetFlags) -> None:
    """The global kill switch wins over every worker's route."""
    set_flags({WORKER: flags.FlagRecord(route="ray")}, global_kill=True)
    await compat.AsyncWorkerOptimizer(worker_id=WORKER).optimize_batch_processing(
        [1], equiv_tasks.double
    )
    assert 1 == metrics.value("calls", WORKER, "legacy")


async def test_sticky_percentage_routes_a_key_the_same_way_every_time(
    set_flags: SetFlags,
) -> None:
    """At 50 %, a routing key always takes the same engine."""
    set_flags({WORKER: flags.FlagRecord(route="celery", percent=50.0)})
    optimizer = compat.AsyncWorkerOptimizer(worker_id=WORKER)
    for key in ("tenant-a", "tenant-b", "tenant-c", "tenant-d"):
        metrics.reset()
        with compat.routing_key(key):
            for _ in range(3):
                await optimizer.optimize_batch_processing([1], equiv_tasks.double)
        per_route = [metrics.value("calls", WORKER, r) for r in ("legacy", "celery")]
        assert sorted(per_route) == [0, 3]


async def test_hybrid_threshold_sends_small_calls_to_celery_and_large_to_ray(
    set_flags: SetFlags,
) -> None:
    """The seed's rule: under the threshold on ``small``, else on ``large``."""
    policy = flags.HybridPolicy(mode="threshold", threshold=10)
    set_flags({WORKER: flags.FlagRecord(route="hybrid", hybrid=policy)})
    optimizer = compat.AsyncWorkerOptimizer(worker_id=WORKER)
    assert [2] * 5 == await optimizer.optimize_batch_processing([1] * 5, equiv_tasks.double)
    assert [2] * 10 == await optimizer.optimize_batch_processing([1] * 10, equiv_tasks.double)
    assert (1, 1) == (
        metrics.value("calls", WORKER, "celery"),
        metrics.value("calls", WORKER, "ray"),
    )


@pytest.fixture
def dead_celery() -> Any:
    """The registry's Celery engine points at a dead broker (port 1) for one test."""
    dead = CeleryEngine(
        CelerySettings(broker_url="redis://127.0.0.1:1/0", result_backend=TEST_BACKEND_URL)
    )
    previous = set_engine("celery", dead)
    yield dead
    set_engine("celery", previous)


async def test_unreachable_engine_falls_back_to_legacy_with_a_warning(
    set_flags: SetFlags, dead_celery: Any, call_log_env: Callable[..., Any]
) -> None:
    """Broker down before anything was sent: legacy runs the call, warned and counted."""
    call_log_env("debug")
    set_flags({WORKER: flags.FlagRecord(route="celery")})
    with structlog.testing.capture_logs() as logs:
        result = await compat.AsyncWorkerOptimizer(worker_id=WORKER).optimize_batch_processing(
            [1, 2], equiv_tasks.double
        )
    assert [2, 4] == result
    assert 1 == metrics.value("fallbacks", WORKER, "celery")
    warnings = [line for line in logs if line["event"] == "route_fallback"]
    assert "EngineUnavailableError" == warnings[0]["error_type"]
    assert "legacy" == next(line for line in logs if line["event"] == "call")["route"]


async def test_fail_policy_raises_instead_of_falling_back(
    set_flags: SetFlags, dead_celery: Any
) -> None:
    """``fallback=fail``: the caller gets a clear ``EngineUnavailableError``."""
    set_flags({WORKER: flags.FlagRecord(route="celery", fallback="fail")})
    with pytest.raises(EngineUnavailableError, match="unreachable"):
        await compat.AsyncWorkerOptimizer(worker_id=WORKER).optimize_batch_processing(
            [1], equiv_tasks.double
        )


async def test_non_portable_task_falls_back_or_fails_by_policy(set_flags: SetFlags) -> None:
    """A closure cannot go to Celery: legacy runs it (default) or ``NotPortableError``."""

    async def closure(item: int) -> int:
        return item + 100

    set_flags({WORKER: flags.FlagRecord(route="celery")})
    optimizer = compat.AsyncWorkerOptimizer(worker_id=WORKER)
    assert [101] == await optimizer.optimize_batch_processing([1], closure)
    set_flags({WORKER: flags.FlagRecord(route="celery", fallback="fail")})
    with pytest.raises(NotPortableError, match="closure"):
        await optimizer.optimize_batch_processing([1], closure)


async def test_error_after_sending_propagates_and_is_not_rerun_on_legacy(
    set_flags: SetFlags,
) -> None:
    """A task error on Celery reaches the caller as itself; no fallback, no second run."""
    set_flags({WORKER: flags.FlagRecord(route="celery")})
    with pytest.raises(ValueError, match="negative item: -1"):
        await compat.AsyncWorkerOptimizer(worker_id=WORKER).optimize_batch_processing(
            [-1], equiv_tasks.fail_on_negative
        )
    assert (0, 1, 1) == (
        metrics.value("fallbacks"),
        metrics.value("errors", WORKER, "celery"),
        metrics.value("calls"),
    )


@pytest.mark.parametrize("route", ["legacy", "celery", "ray"])
async def test_pipeline_scheduler_and_batch_processor_are_routed(
    set_flags: SetFlags, route: str
) -> None:
    """The other three work-executing calls give legacy's results on every route."""
    set_flags({WORKER: flags.FlagRecord(route=route)})
    stages = [equiv_tasks.add_one, equiv_tasks.square]
    optimizer = compat.AsyncWorkerOptimizer(worker_id=WORKER)
    pipeline = optimizer.setup_pipeline(stages)
    assert WORKER == pipeline.worker_id
    assert [4, 9, 16] == await pipeline.process([1, 2, 3])
    assert {"stage_0", "stage_1"} == set(pipeline.get_metrics()["stage_times"])

    scheduler = compat.AsyncTaskScheduler(worker_id=WORKER)
    await scheduler.schedule_task("t1", equiv_tasks.answer, priority=1)
    assert 42 == await scheduler.execute_next()

    processor = compat.AsyncBatchProcessor(batch_size=2, timeout=0.05, worker_id=WORKER)
    processor.set_handler(equiv_tasks.handle_batch)
    first = await processor.add_item(3)
    second = await processor.add_item(4)
    assert [6, 8] == [await first, await second]
    assert 3 == metrics.value("calls", WORKER, route)


def test_worker_id_comes_from_the_environment_else_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``CUTOVER_WORKER`` names the worker when the constructor does not."""
    monkeypatch.delenv("CUTOVER_WORKER", raising=False)
    assert "default" == compat.AsyncWorkerOptimizer().worker_id
    monkeypatch.setenv("CUTOVER_WORKER", "billing")
    assert "billing" == compat.AsyncWorkerOptimizer().worker_id
    assert "explicit" == compat.AsyncWorkerOptimizer(worker_id="explicit").worker_id


async def test_a_kill_switch_written_live_reaches_the_next_call(tmp_path: Path) -> None:
    """Flags followed live from a file store: a call on Celery; ``kill`` written to the store;
    once the table has seen it (the decision kept for the old state is gone with it), the next
    call runs on legacy, with the same result."""
    store = flags.open_store(f"file://{tmp_path / 'flags.json'}")
    store.put(WORKER, flags.FlagRecord(route="celery"), expected_version=0, actor="t", reason="r")
    table = flags.FlagTable(store.url, snapshot_path=tmp_path / "snapshot.json")
    set_router(Router(table=table))
    metrics.reset()
    try:
        optimizer = compat.AsyncWorkerOptimizer(worker_id=WORKER)
        assert [2, 4] == await optimizer.optimize_batch_processing([1, 2], equiv_tasks.double)
        killed = flags.FlagRecord(route="celery", kill=True)
        store.put(WORKER, killed, expected_version=1, actor="t", reason="incident")
        await until(lambda: table.record(WORKER).kill, 10, "the table to see the kill switch")
        assert [2, 4] == await optimizer.optimize_batch_processing([1, 2], equiv_tasks.double)
        assert (1, 1) == (
            metrics.value("calls", WORKER, "celery"),
            metrics.value("calls", WORKER, "legacy"),
        )
    finally:
        set_router(None)
        table.close()
        store.close()
