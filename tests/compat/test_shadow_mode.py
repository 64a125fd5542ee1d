"""Shadow mode: the candidate runs beside the primary and never changes what the caller gets.

The primary is legacy (in the caller's process); the candidates are a real Celery worker
and a real local Ray. Records are read back from the recorder the runner wrote to.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import compat
import flags
from compat import metrics
from compat.shadow.recorders import MemoryShadowRecorder
from compat.shadow.records import CANDIDATE_ERROR, CANDIDATE_TIMEOUT, MATCH, MISMATCH
from compat.shadow.runner import ShadowRunner
from cutover.verdict.report import build_report
from tests.compat import shadow_tasks
from tests.compat.conftest import SetFlags
from tests.support.services import redis_test_url

pytestmark = pytest.mark.usefixtures("live_engines")

WORKER = "equiv"


@pytest.fixture(autouse=True)
def caller_pid() -> Iterator[None]:
    """Mark this process as the caller (workers see ``None``)."""
    shadow_tasks.CALLER_PID = os.getpid()
    yield
    shadow_tasks.CALLER_PID = None


@pytest.fixture
def recorder() -> MemoryShadowRecorder:
    """Records of this test only."""
    return MemoryShadowRecorder()


def shadowing(
    set_flags: SetFlags, recorder: MemoryShadowRecorder, candidate: str, **shadow: Any
) -> ShadowRunner:
    """Flags: primary legacy, every call shadowed on ``candidate``."""
    runner = ShadowRunner(recorder=recorder)
    config = flags.ShadowConfig(route=candidate, sample=1.0, **{"timeout_s": 10.0, **shadow})
    set_flags({WORKER: flags.FlagRecord(route="legacy", shadow=config, version=7)}, shadows=runner)
    return runner


def cold_start_engine() -> Any:
    """The real legacy engine, with a first ``start()`` of 0.6 s (as a cold Ray's ``init``)."""
    import asyncio

    from adapters.legacy.engine import LegacyEngine

    class ColdStartEngine(LegacyEngine):
        started = False

        async def start(self) -> None:
            if not self.started:
                await asyncio.sleep(0.6)
                self.started = True

    return ColdStartEngine()


async def run_and_drain(runner: ShadowRunner, items: list[int], func: Any) -> list[Any]:
    """One shadowed call, then wait for its experiment to be judged."""
    result = await compat.AsyncWorkerOptimizer(worker_id=WORKER).optimize_batch_processing(
        items, func, 4, 2
    )
    await runner.drain(30)
    return result


@pytest.mark.parametrize("candidate", ["celery", "ray"])
async def test_equal_outputs_are_recorded_as_a_match(
    set_flags: SetFlags, recorder: MemoryShadowRecorder, candidate: str
) -> None:
    """A pure task: the candidate agrees; the record says so with both latencies."""
    runner = shadowing(set_flags, recorder, candidate)
    assert [0, 2, 4] == await run_and_drain(runner, [0, 1, 2], shadow_tasks.pure_double)
    [record] = recorder.read(WORKER)
    assert (MATCH, "legacy", candidate, 7) == (
        record.outcome,
        record.primary_route,
        record.candidate_route,
        record.flag_version,
    )
    assert record.primary_latency_s > 0
    assert record.candidate_latency_s is not None


@pytest.mark.parametrize("candidate", ["celery", "ray"])
async def test_process_dependent_output_is_caught_as_a_mismatch(
    set_flags: SetFlags, recorder: MemoryShadowRecorder, candidate: str
) -> None:
    """A task whose output depends on its process differs across engines: caught, diffed."""
    runner = shadowing(set_flags, recorder, candidate)
    await run_and_drain(runner, [1, 2], shadow_tasks.process_dependent)
    [record] = recorder.read(WORKER)
    assert MISMATCH == record.outcome
    assert any(".pid" in line for line in record.diffs)
    report = build_report(recorder.read(WORKER), {WORKER: None}).to_dict()
    assert "mismatch" in str(report)


async def test_candidate_that_raises_changes_nothing_for_the_caller(
    set_flags: SetFlags, recorder: MemoryShadowRecorder
) -> None:
    """The candidate explodes in its worker; the caller gets the primary's result."""
    runner = shadowing(set_flags, recorder, "celery")
    assert [1, 2, 3] == await run_and_drain(runner, [1, 2, 3], shadow_tasks.explodes_in_worker)
    [record] = recorder.read(WORKER)
    assert CANDIDATE_ERROR == record.outcome
    assert "RuntimeError: candidate exploded" == record.candidate_error


@pytest.mark.faults
async def test_candidate_that_hangs_is_cut_off_and_the_caller_does_not_wait(
    set_flags: SetFlags, recorder: MemoryShadowRecorder
) -> None:
    """The caller returns while the candidate still hangs; the timeout then records it."""
    runner = shadowing(set_flags, recorder, "ray", timeout_s=1.0)
    optimizer = compat.AsyncWorkerOptimizer(worker_id=WORKER)
    result = await optimizer.optimize_batch_processing([5], shadow_tasks.hangs_in_worker)
    pending = [task for task in runner.in_flight.tasks if not task.done()]
    assert [5] == result
    assert 1 == len(pending)
    await runner.drain(10)
    [record] = recorder.read(WORKER)
    assert (CANDIDATE_TIMEOUT, None) == (record.outcome, record.candidate_latency_s)


async def test_task_not_declared_shadow_safe_is_not_shadowed(
    set_flags: SetFlags, recorder: MemoryShadowRecorder
) -> None:
    """Shadowing runs work twice: an unmarked task is skipped and counted."""
    runner = shadowing(set_flags, recorder, "celery")
    assert [2] == await run_and_drain(runner, [1], shadow_tasks.unmarked_double)
    assert [] == recorder.read(WORKER)
    assert 1 == metrics.value("shadow_skipped_unsafe", WORKER)


async def test_flags_may_allow_side_effects_explicitly(
    set_flags: SetFlags, recorder: MemoryShadowRecorder
) -> None:
    """``allow_side_effects``: the unmarked task is shadowed too."""
    runner = shadowing(set_flags, recorder, "celery", allow_side_effects=True)
    await run_and_drain(runner, [1], shadow_tasks.unmarked_double)
    assert [MATCH] == [r.outcome for r in recorder.read(WORKER)]


async def test_denoise_learns_noisy_fields_and_ignores_them(
    set_flags: SetFlags, recorder: MemoryShadowRecorder
) -> None:
    """A timestamp differs on every run: learned from two primary runs, then ignored."""
    runner = shadowing(set_flags, recorder, "ray", denoise=True)
    for _ in range(3):
        await run_and_drain(runner, [1, 2], shadow_tasks.with_timestamp)
    records = recorder.read(WORKER)
    assert any("at" in path for path in records[-1].noisy_paths)
    assert MATCH == records[-1].outcome


async def test_closing_the_optimizer_drains_its_shadows(
    set_flags: SetFlags, recorder: MemoryShadowRecorder
) -> None:
    """``async with`` the optimizer: its pending experiments are judged or cancelled."""
    runner = shadowing(set_flags, recorder, "ray", timeout_s=5.0)
    async with compat.AsyncWorkerOptimizer(worker_id=WORKER) as optimizer:
        await optimizer.optimize_batch_processing([1, 2], shadow_tasks.pure_double)
    assert [] == [task for task in runner.in_flight.tasks if not task.done()]
    assert [MATCH] == [r.outcome for r in recorder.read(WORKER)]


@given(
    items=st.lists(st.integers(min_value=0, max_value=100), max_size=12),
    func=st.sampled_from(
        [
            shadow_tasks.pure_double,
            shadow_tasks.explodes_in_worker,
            shadow_tasks.garbage_in_worker,
        ]
    ),
    candidate=st.sampled_from(["celery", "ray"]),
)
# set_flags installs a fresh router per call: safe to reuse across examples.
@settings(max_examples=20, suppress_health_check=[HealthCheck.function_scoped_fixture])
async def test_shadow_never_changes_what_the_caller_gets(
    set_flags: SetFlags, items: list[int], func: Any, candidate: str
) -> None:
    """Whatever the candidate does, the caller gets exactly the unshadowed result."""
    set_flags({WORKER: flags.FlagRecord(route="legacy")})
    expected = await compat.AsyncWorkerOptimizer(worker_id=WORKER).optimize_batch_processing(
        items, func, 3, 2
    )
    recorder = MemoryShadowRecorder()
    runner = shadowing(set_flags, recorder, candidate)
    actual = await run_and_drain(runner, items, func)
    assert expected == actual
    assert 1 == len(recorder.read(WORKER))


async def test_records_reach_the_flag_stores_redis(
    set_flags: SetFlags,
) -> None:
    """With a Redis flag store, records land in its capped per-worker stream."""
    from compat.shadow.recorders import open_recorder

    recorder = open_recorder(redis_test_url(6))
    try:
        runner = shadowing(set_flags, recorder, "celery")  # type: ignore[arg-type]
        await run_and_drain(runner, [3], shadow_tasks.pure_double)
        assert recorder.flush(5)
        outcomes = [r.outcome for r in recorder.read(WORKER, limit=1)]
        assert [MATCH] == outcomes
    finally:
        recorder.close()


async def test_a_legacy_candidate_starts_after_the_primary_and_on_the_callers_loop(
    set_flags: SetFlags, recorder: MemoryShadowRecorder
) -> None:
    """Primary on Celery, candidate legacy: the candidate's items start only once the caller
    has its result, and they run on the caller's thread (loop-bound resources stay usable)."""
    import threading
    import time

    runner = ShadowRunner(recorder=recorder)
    config = flags.ShadowConfig(route="legacy", sample=1.0, timeout_s=10.0)
    set_flags({WORKER: flags.FlagRecord(route="celery", shadow=config, version=3)}, shadows=runner)
    shadow_tasks.CALLER_RUNS.clear()
    optimizer = compat.AsyncWorkerOptimizer(worker_id=WORKER)
    result = await optimizer.optimize_batch_processing([1, 2, 3], shadow_tasks.traced_double)
    returned_at = time.perf_counter()
    assert [] == shadow_tasks.CALLER_RUNS
    await runner.drain(30)
    assert [2, 4, 6] == result
    assert 3 == len(shadow_tasks.CALLER_RUNS)
    assert all(started >= returned_at for started, _ in shadow_tasks.CALLER_RUNS)
    assert {threading.current_thread().name} == {name for _, name in shadow_tasks.CALLER_RUNS}
    [record] = recorder.read(WORKER)
    assert (MATCH, "celery", "legacy") == (
        record.outcome,
        record.primary_route,
        record.candidate_route,
    )


@pytest.mark.parametrize("candidate", ["celery", "ray"])
async def test_a_remote_candidate_runs_its_client_side_off_the_callers_loop(
    set_flags: SetFlags, recorder: MemoryShadowRecorder, candidate: str
) -> None:
    """The candidate's engine calls run on the shadow thread's loop, not the caller's."""
    import asyncio

    from compat.shadow.background import THREAD_NAME

    seen: list[tuple[str, asyncio.AbstractEventLoop]] = []

    class Spy(ShadowRunner):
        async def _run_side(self, engine_name: str, *args: Any, **kwargs: Any) -> Any:
            import threading

            seen.append((threading.current_thread().name, asyncio.get_running_loop()))
            return await super()._run_side(engine_name, *args, **kwargs)

    runner = Spy(recorder=recorder)
    config = flags.ShadowConfig(route=candidate, sample=1.0, timeout_s=10.0)
    set_flags({WORKER: flags.FlagRecord(route="legacy", shadow=config)}, shadows=runner)
    assert [0, 2] == await run_and_drain(runner, [0, 1], shadow_tasks.pure_double)
    [(thread_name, loop)] = seen
    assert THREAD_NAME == thread_name
    assert asyncio.get_running_loop() is not loop
    assert [MATCH] == [record.outcome for record in recorder.read(WORKER)]


async def test_a_candidates_engine_start_up_does_not_count_against_its_timeout(
    set_flags: SetFlags, recorder: MemoryShadowRecorder
) -> None:
    """A cold engine (``ray.init`` takes seconds) is started before the candidate's clock and
    ``timeout_s`` begin: the first candidates match instead of "timing out"."""

    from adapters.registry import get_engine, set_engine

    previous = get_engine("ray")
    set_engine("ray", cold_start_engine())
    try:
        runner = shadowing(set_flags, recorder, "ray", timeout_s=0.3)
        assert [0, 2, 4] == await run_and_drain(runner, [0, 1, 2], shadow_tasks.pure_double)
    finally:
        set_engine("ray", previous)
    [record] = recorder.read(WORKER)
    assert MATCH == record.outcome
    assert record.candidate_latency_s is not None
    assert record.candidate_latency_s < 0.3


async def test_calls_made_while_the_candidate_engine_starts_are_not_shadowed(
    set_flags: SetFlags, recorder: MemoryShadowRecorder
) -> None:
    """The first call starts a cold candidate engine; the calls that come while it starts are
    skipped (and counted), not queued to hit the engine in one burst when it is up. Once it
    is up, calls are shadowed again."""

    from adapters.registry import get_engine, set_engine

    previous = get_engine("ray")
    set_engine("ray", cold_start_engine())
    skipped_before = metrics.value("shadow_skipped_starting", WORKER, "ray")
    optimizer = compat.AsyncWorkerOptimizer(worker_id=WORKER)
    try:
        runner = shadowing(set_flags, recorder, "ray")
        for item in range(4):  # all within the 0.6 s start-up
            assert [item * 2] == await optimizer.optimize_batch_processing(
                [item], shadow_tasks.pure_double, 4, 2
            )
        await runner.drain(30)
        assert 1 == len(recorder.read(WORKER))
        assert 3 == metrics.value("shadow_skipped_starting", WORKER, "ray") - skipped_before
        assert [10] == await run_and_drain(runner, [5], shadow_tasks.pure_double)
    finally:
        set_engine("ray", previous)
    assert [MATCH, MATCH] == [record.outcome for record in recorder.read(WORKER)]


async def test_shadows_skipped_under_load_ride_on_the_next_record(
    set_flags: SetFlags, recorder: MemoryShadowRecorder
) -> None:
    """With one shadow allowed in flight, two calls made while it runs are skipped (counted)
    and the worker's next record carries them, so the verdict can count them as slow calls
    instead of letting their absence flatter the candidate."""
    import asyncio

    runner = ShadowRunner(recorder=recorder, max_in_flight=1)
    config = flags.ShadowConfig(route="celery", sample=1.0, timeout_s=10.0)
    set_flags({WORKER: flags.FlagRecord(route="legacy", shadow=config, version=7)}, shadows=runner)
    optimizer = compat.AsyncWorkerOptimizer(worker_id=WORKER)
    before = metrics.value("shadow_skipped_saturated", WORKER, "celery")
    await asyncio.gather(
        *(
            optimizer.optimize_batch_processing([n], shadow_tasks.pure_double, 4, 2)
            for n in range(3)
        )
    )
    await runner.drain(30)
    await run_and_drain(runner, [5], shadow_tasks.pure_double)
    assert 2 == metrics.value("shadow_skipped_saturated", WORKER, "celery") - before
    records = sorted(recorder.read(WORKER), key=lambda record: record.created_at)
    assert [2, 0] == [record.skipped for record in records]  # the next record judged
    assert 2 == build_report(records, {}).pair(WORKER).skipped


@pytest.mark.parametrize("candidate", ["celery", "ray"])
async def test_a_batch_mismatch_names_the_items_that_differ_with_their_redacted_input(
    set_flags: SetFlags, recorder: MemoryShadowRecorder, candidate: str
) -> None:
    """Three of six items differ on the candidate: the record says which (by index in the
    call's input), each with that item's own input, redacted, and its own diff line; a
    whole-batch diff alone would not tell a reader which orders to look at."""
    runner = shadowing(set_flags, recorder, candidate, redact=("password",))
    items = [{"n": n, "password": f"pw{n}"} for n in range(6)]
    await run_and_drain(runner, items, shadow_tasks.off_by_one_in_worker_for_odd)
    [record] = recorder.read(WORKER)
    assert (MISMATCH, 3) == (record.outcome, record.mismatched_items)
    assert [
        (1, {"n": 1, "password": "***"}, ("$[1]: 1 != 2",)),
        (3, {"n": 3, "password": "***"}, ("$[3]: 3 != 4",)),
        (5, {"n": 5, "password": "***"}, ("$[5]: 5 != 6",)),
    ] == [(item.index, item.input, item.diffs) for item in record.item_mismatches]
    assert "pw" not in str(record.to_dict())
