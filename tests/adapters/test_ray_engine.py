"""The Ray engine against a real local Ray (one per test session, ``ray_engine`` fixture).

What the equivalence suite cannot show: the window of ``max_concurrent`` batch tasks, worker
deaths re-run by Ray, retries by the call's policy, timeouts, pipeline stages chained by
``ObjectRef``, the persistent loop in the workers, ``sys.path`` reaching the workers, and
the import of ``adapters`` staying free of Ray.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from adapters.base import CallOptions, ExecutionEngine, RetryPolicy, TaskFunc
from adapters.ray import runtime
from adapters.ray.engine import RayEngine, RaySettings
from adapters.ray.remote import RemoteFunctions, unpack
from adapters.task_refs import task_reference
from cutover.errors import (
    ConfigurationError,
    EngineError,
    EngineTimeoutError,
    InvalidArgumentError,
    NotPortableError,
)
from legacy import AsyncWorkerOptimizer
from legacy.pipeline import Pipeline
from tests.adapters import equiv_tasks, ray_tasks
from tests.support.services import REPO_ROOT

pytestmark = pytest.mark.ray

OPTIONS = CallOptions(worker_id="ray-tests", call_id="test")

leaves = st.one_of(
    st.integers(),
    st.text(max_size=8),
    st.tuples(st.integers(), st.text(max_size=4)),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=3),
)
items_lists = st.lists(leaves, max_size=40)
batch_sizes = st.integers(min_value=1, max_value=20)
limits = st.integers(min_value=1, max_value=5)


async def legacy_map(items: list[Any], func: TaskFunc, batch_size: int, limit: int) -> list[Any]:
    """The reference: the legacy optimizer itself."""
    return await AsyncWorkerOptimizer().optimize_batch_processing(items, func, batch_size, limit)


async def outcome(coroutine: Any) -> tuple[str, Any]:
    """``("ok", value)`` or ``("raised", (type, str))``, so values and errors compare alike."""
    try:
        return ("ok", await coroutine)
    except Exception as exc:  # noqa: BLE001 - the exception is the outcome being compared
        return ("raised", (type(exc), str(exc)))


def max_overlap(spans: list[tuple[float, float]]) -> int:
    """The largest number of ``(start, end)`` intervals open at one instant."""
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    open_now = peak = 0
    for _, change in events:
        open_now += change
        peak = max(peak, open_now)
    return peak


@pytest.fixture
async def engine_with() -> AsyncIterator[Callable[[RaySettings], RayEngine]]:
    """Factory: more engines with other settings, sharing the session's Ray; closed after."""
    made: list[RayEngine] = []

    def make(engine_settings: RaySettings) -> RayEngine:
        engine = RayEngine(engine_settings)
        made.append(engine)
        return engine

    yield make
    for engine in made:
        await engine.close()


# --- equivalence with legacy ------------------------------------------------------------


@given(items=items_lists, batch_size=batch_sizes, limit=limits)
@settings(max_examples=25, deadline=None)
async def test_results_equal_legacy_for_generated_items(
    ray_engine: ExecutionEngine, items: list[Any], batch_size: int, limit: int
) -> None:
    """Ints, strings, tuples and dicts come back equal, same types, in input order."""
    expected = await legacy_map(items, ray_tasks.describe, batch_size, limit)
    actual = await ray_engine.map_batches(items, ray_tasks.describe, batch_size, limit, OPTIONS)
    assert expected == actual
    assert [type(value) for value, _ in expected] == [type(value) for value, _ in actual]


async def test_bytes_like_values_keep_their_type(ray_engine: ExecutionEngine) -> None:
    """Ray hands out-of-band buffers back as ``bytes``; batches cross in-band, so a
    ``bytearray`` stays a ``bytearray`` both ways.
    """
    items = [bytearray(b""), bytearray(b"abc"), b"xyz", (bytearray(b"n"),)]
    expected = await legacy_map(items, ray_tasks.describe, 2, 2)
    actual = await ray_engine.map_batches(items, ray_tasks.describe, 2, 2, OPTIONS)
    assert expected == actual
    assert [type(value) for value, _ in expected] == [type(value) for value, _ in actual]


@pytest.mark.parametrize(
    "func",
    [
        ray_tasks.fail_with_value_error,
        ray_tasks.fail_with_key_error,
        ray_tasks.fail_with_ledger_error,
    ],
)
async def test_an_item_exception_arrives_with_its_type_and_message(
    ray_engine: ExecutionEngine, func: TaskFunc
) -> None:
    """Builtin and custom exceptions are unwrapped from ``RayTaskError``: same as legacy."""
    items = [3, 1, 4, -1, 5, 9, 2, 6]
    expected = await outcome(legacy_map(items, func, 3, 2))
    actual = await outcome(ray_engine.map_batches(items, func, 3, 2, OPTIONS))
    assert "raised" == expected[0]
    assert expected == actual


async def test_custom_exception_is_the_original_class_with_its_attributes(
    ray_engine: ExecutionEngine,
) -> None:
    """``type(e)`` is the test module's class itself (not Ray's dual class), attributes kept."""
    with pytest.raises(ray_tasks.LedgerError) as raised:
        await ray_engine.map_batches([1, -12], ray_tasks.fail_with_ledger_error, 1, 2, OPTIONS)
    assert ray_tasks.LedgerError is type(raised.value)
    assert ("acme", 12) == (raised.value.account, raised.value.missing)
    assert any("remote traceback" in note for note in getattr(raised.value, "__notes__", []))


async def test_results_keep_input_order_when_later_batches_finish_first(
    ray_engine: ExecutionEngine,
) -> None:
    """Slow first batches do not reorder the results."""
    items = [(index, 0.3 if index < 2 else 0.0) for index in range(10)]
    results = await ray_engine.map_batches(items, ray_tasks.span, 2, 5, OPTIONS)
    assert list(range(10)) == [tag for tag, _, _, _ in results]


@pytest.mark.parametrize(("batch_size", "limit"), [(0, 5), (-2, 5), (10, 0), (1.5, 5), (True, 5)])
async def test_invalid_arguments_are_refused_like_legacy(
    ray_engine: ExecutionEngine, batch_size: Any, limit: Any
) -> None:
    """The legacy validation runs first: same error type and message, nothing submitted."""
    expected = await outcome(legacy_map([1], ray_tasks.describe, batch_size, limit))
    actual = await outcome(ray_engine.map_batches([1], ray_tasks.describe, batch_size, limit))
    assert InvalidArgumentError is expected[1][0]
    assert expected == actual


async def test_empty_items_give_an_empty_list(ray_engine: ExecutionEngine) -> None:
    """No items, no task, ``[]``."""
    assert [] == await ray_engine.map_batches([], ray_tasks.describe, 10, 5, OPTIONS)


async def test_a_closure_is_shipped_by_value(ray_engine: ExecutionEngine) -> None:
    """A function with no portable reference still runs: Ray cloudpickles it."""
    offset = 100

    async def add_offset(item: int) -> int:
        return item + offset

    with pytest.raises(NotPortableError):
        task_reference(add_offset)
    assert [101, 102, 103] == await ray_engine.map_batches([1, 2, 3], add_offset, 2, 2, OPTIONS)


# --- the window of max_concurrent batches ----------------------------------------------


@pytest.mark.parametrize("limit", [1, 2, 4])
async def test_at_most_max_concurrent_batches_run_at_once(
    engine_with: Callable[[RaySettings], RayEngine], limit: int
) -> None:
    """With room on the cluster for 8 batch tasks, no more than ``limit`` overlap in time.

    Each batch task reserves a quarter CPU, so Ray alone would run 8 at once on 2 cores: only
    the engine's window can hold them to ``limit``. With ``limit > 1`` some must overlap.
    """
    engine = engine_with(RaySettings(batch_cpus=0.25))
    tag = uuid.uuid4().int % 10_000
    items = [(tag * 100 + index // 2, 0.25) for index in range(16)]
    await engine.map_batches(items[:8], ray_tasks.span, 1, 8, OPTIONS)  # start the workers
    results = await engine.map_batches(items, ray_tasks.span, 2, limit, OPTIONS)
    spans: dict[int, tuple[float, float]] = {}
    for batch, start, end, _ in results:
        low, high = spans.get(batch, (start, end))
        spans[batch] = (min(low, start), max(high, end))
    peak = max_overlap(list(spans.values()))
    assert 8 == len(spans)
    assert peak <= limit
    if limit > 1:
        assert peak >= 2


async def test_a_batch_is_one_task_and_its_items_run_concurrently(
    ray_engine: ExecutionEngine,
) -> None:
    """A batch of 5 items sleeping 0.3 s each takes one process and about 0.3 s, not 1.5 s."""
    items = [(1, 0.3)] * 5
    results = await ray_engine.map_batches(items, ray_tasks.span, 5, 1, OPTIONS)
    pids = {pid for _, _, _, pid in results}
    starts = [start for _, start, _, _ in results]
    ends = [end for _, _, end, _ in results]
    assert 1 == len(pids)
    assert os.getpid() not in pids
    assert max(ends) - min(starts) < 0.9


async def test_each_worker_process_reuses_one_event_loop(ray_engine: ExecutionEngine) -> None:
    """Batches run in the same process run on the same loop (no ``asyncio.run`` per task)."""
    first = await ray_engine.map_batches(list(range(8)), ray_tasks.loop_identity, 1, 1, OPTIONS)
    second = await ray_engine.map_batches(list(range(8)), ray_tasks.loop_identity, 1, 1, OPTIONS)
    loops_by_pid: dict[int, set[int]] = {}
    for loop_id, pid in first + second:
        loops_by_pid.setdefault(pid, set()).add(loop_id)
    assert loops_by_pid
    assert all(1 == len(loop_ids) for loop_ids in loops_by_pid.values())


# --- failures: worker deaths, retries, timeouts ------------------------------------------


@pytest.mark.faults
async def test_a_killed_worker_is_rerun_and_the_call_returns_everything(
    ray_engine: ExecutionEngine, tmp_path: Path
) -> None:
    """SIGKILL of the worker mid-batch: Ray re-runs the batch elsewhere, nothing is lost."""
    marker = tmp_path / "killed"
    items = [(str(marker), value) for value in range(12)]
    results = await ray_engine.map_batches(items, ray_tasks.kill_worker_once, 4, 2, OPTIONS)
    killed_pid = int(marker.read_text())
    assert [value * 2 for value in range(12)] == [value for value, _ in results]
    assert killed_pid not in {pid for _, pid in results}


@pytest.mark.faults
async def test_worker_deaths_beyond_ray_retries_are_an_engine_error(
    engine_with: Callable[[RaySettings], RayEngine],
) -> None:
    """With no system retries left, a dead worker is a clear ``EngineError``."""
    engine = engine_with(RaySettings(max_retries=0))
    with pytest.raises(EngineError, match="worker process died"):
        await engine.map_batches([1], ray_tasks.always_kill_worker, 1, 1, OPTIONS)


async def test_retryable_exception_is_retried_until_it_succeeds(
    ray_engine: ExecutionEngine, tmp_path: Path
) -> None:
    """Two ``TransientError`` failures, three retries allowed: the third attempt's value."""
    counter = tmp_path / "attempts"
    policy = RetryPolicy(max_retries=3, backoff_s=0.01, retryable=("TransientError",))
    options = CallOptions(worker_id="ray-tests", retry=policy)
    result = await ray_engine.map_batches([(str(counter), 2, 7)], ray_tasks.flaky, 1, 1, options)
    assert [7] == result
    assert "3" == counter.read_text()


async def test_retries_stop_at_max_retries(ray_engine: ExecutionEngine, tmp_path: Path) -> None:
    """One retry allowed, five failures coming: the second failure reaches the caller."""
    counter = tmp_path / "attempts"
    policy = RetryPolicy(max_retries=1, backoff_s=0.01, retryable=("TransientError",))
    options = CallOptions(worker_id="ray-tests", retry=policy)
    with pytest.raises(ray_tasks.TransientError, match="attempt 2 failed"):
        await ray_engine.map_batches([(str(counter), 5, 7)], ray_tasks.flaky, 1, 1, options)
    assert "2" == counter.read_text()


async def test_non_retryable_exception_is_not_retried(
    ray_engine: ExecutionEngine, tmp_path: Path
) -> None:
    """An exception the policy does not name runs once and propagates."""
    counter = tmp_path / "attempts"
    policy = RetryPolicy(max_retries=3, backoff_s=0.01, retryable=("TransientError",))
    options = CallOptions(worker_id="ray-tests", retry=policy)
    with pytest.raises(ray_tasks.PermanentError, match="attempt 1 refused"):
        await ray_engine.map_batches(
            [str(counter)], ray_tasks.counted_permanent_failure, 1, 1, options
        )
    assert "1" == counter.read_text()


async def test_timeout_raises_engine_timeout_error(ray_engine: ExecutionEngine) -> None:
    """No result within ``timeout_s``: ``EngineTimeoutError`` (also a ``TimeoutError``), fast."""
    options = CallOptions(worker_id="ray-tests", timeout_s=0.3)
    started = time.monotonic()
    with pytest.raises(EngineTimeoutError, match="not re-run"):
        await ray_engine.map_batches([2.0], ray_tasks.slow, 1, 1, options)
    assert time.monotonic() - started < 1.5


# --- pipeline and single tasks -----------------------------------------------------------


@given(items=st.lists(st.integers(min_value=-1000, max_value=1000), max_size=60))
@settings(max_examples=15, deadline=None)
async def test_pipeline_equals_legacy_pipeline(
    ray_engine: ExecutionEngine, items: list[int]
) -> None:
    """Every item through every stage, in order: what ``Pipeline.process`` gives."""
    stages = [ray_tasks.stage_add_one, ray_tasks.stage_square, ray_tasks.stage_to_text]
    expected = await Pipeline(list(stages)).process(list(items))
    actual = await ray_engine.run_pipeline(items, stages, OPTIONS)
    assert expected == actual


async def test_pipeline_stage_exception_propagates_like_legacy(
    ray_engine: ExecutionEngine,
) -> None:
    """A stage's exception crosses the chain of tasks with its type and message."""
    stages = [ray_tasks.stage_add_one, ray_tasks.stage_reject_negative, ray_tasks.stage_square]
    items = [4, 0, -6, 8]
    expected = await outcome(Pipeline(list(stages)).process(list(items)))
    actual = await outcome(ray_engine.run_pipeline(items, stages, OPTIONS))
    assert ("raised", (ValueError, "stage refused -5")) == expected
    assert expected == actual


async def test_pipeline_chains_stage_outputs_as_object_refs(
    monkeypatch: pytest.MonkeyPatch, engine_with: Callable[[RaySettings], RayEngine]
) -> None:
    """Each stage's task gets the previous stage's ``ObjectRef``, never a fetched value."""
    import ray

    from adapters.ray.remote import remote_functions as real_functions

    submitted: list[tuple[Any, Any]] = []

    class SpyBatch:
        def __init__(self, real: Any) -> None:
            self.real = real

        def options(self, **options: Any) -> SpyBatch:
            return SpyBatch(self.real.options(**options))

        def remote(self, task: Any, allowed: Any, items: Any) -> Any:
            ref = self.real.remote(task, allowed, items)
            submitted.append((items, ref))
            return ref

    def spy_functions(max_retries: int, batch_cpus: float) -> RemoteFunctions:
        real = real_functions(max_retries, batch_cpus)
        return RemoteFunctions(batch=SpyBatch(real.batch), task=real.task)

    monkeypatch.setattr("adapters.ray.engine.remote_functions", spy_functions)
    engine = engine_with(RaySettings())
    await engine.start()
    assert 0 < len(submitted)  # start() warmed the workers through the same remote function
    submitted.clear()
    stages = [ray_tasks.stage_add_one, ray_tasks.stage_square, ray_tasks.stage_pid]
    results = await engine.run_pipeline(list(range(20)), stages, OPTIONS)
    assert [((i + 1) ** 2) for i in range(20)] == [value for value, _ in results]
    assert os.getpid() not in {pid for _, pid in results}
    first_stage_inputs = [items for items, _ in submitted if not isinstance(items, ray.ObjectRef)]
    chained_inputs = [items for items, _ in submitted if isinstance(items, ray.ObjectRef)]
    returned = {ref for _, ref in submitted}
    assert 0 == len(submitted) % 3
    assert list(range(20)) == [item for chunk in first_stage_inputs for item in unpack(chunk)]
    assert 2 * len(first_stage_inputs) == len(chained_inputs)
    assert all(ref in returned for ref in chained_inputs)


async def test_empty_pipeline_and_no_stages(ray_engine: ExecutionEngine) -> None:
    """No items give ``[]``; no stages give a copy of the items, as legacy."""
    assert [] == await ray_engine.run_pipeline([], [ray_tasks.stage_square], OPTIONS)
    assert [1, 2] == await ray_engine.run_pipeline([1, 2], [], OPTIONS)


async def test_run_task_returns_the_value(ray_engine: ExecutionEngine) -> None:
    """One zero-argument task runs remotely and returns its value."""
    assert 42 == await ray_engine.run_task(ray_tasks.answer, OPTIONS)


async def test_run_task_failure_keeps_its_type(ray_engine: ExecutionEngine) -> None:
    """A failing zero-argument task raises its own exception."""
    with pytest.raises(ray_tasks.LedgerError, match="account scheduler is short of 7"):
        await ray_engine.run_task(ray_tasks.failing_answer, OPTIONS)


# --- lifecycle, configuration, imports ----------------------------------------------------


async def test_health_reports_the_cluster(ray_engine: ExecutionEngine) -> None:
    """Healthy, one local node, its CPUs in the detail."""
    health = await ray_engine.health()
    assert health.healthy
    assert 1 == health.workers
    assert f"/{os.cpu_count()} CPUs" in health.detail


async def test_a_second_engine_reuses_the_ray_of_this_process_and_leaves_it_up(
    engine_with: Callable[[RaySettings], RayEngine],
) -> None:
    """Another engine shares the initialized Ray; closing it does not stop the session's."""
    import ray

    gcs_before = ray.get_runtime_context().gcs_address
    info_before = runtime.current_info()
    engine = engine_with(RaySettings(max_retries=1))
    assert [2] == await engine.map_batches([1], ray_tasks.stage_add_one, 1, 1, OPTIONS)
    await engine.close()
    assert ray.is_initialized()
    assert gcs_before == ray.get_runtime_context().gcs_address
    assert info_before is runtime.current_info()


async def test_workers_get_the_driver_sys_path(ray_engine: ExecutionEngine) -> None:
    """The driver's own directories (pytest's rootdir among them) are on the workers' path."""
    results = await ray_engine.map_batches([0], ray_tasks.worker_environment, 1, 1, OPTIONS)
    worker_path, pythonpath, _ = results[0]
    expected = runtime.worker_pythonpath().split(os.pathsep)
    assert str(REPO_ROOT) in expected
    assert expected == pythonpath.split(os.pathsep)
    assert all(entry in worker_path for entry in expected)


def test_worker_pythonpath_leaves_out_the_interpreter(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Run-time ``sys.path`` additions are kept, site-packages and missing entries are not."""
    import sysconfig

    site_packages = sysconfig.get_paths()["purelib"]
    monkeypatch.setattr(sys, "path", [str(tmp_path), site_packages, "/does/not/exist", ""])
    entries = runtime.worker_pythonpath().split(os.pathsep)
    assert [os.path.realpath(tmp_path), os.path.realpath(os.getcwd())] == entries


def test_settings_come_from_the_environment() -> None:
    """Each variable maps to its setting; a malformed value is a ``ConfigurationError``."""
    env = {
        "RAY_ADDRESS": "10.0.0.5:6379",
        "CUTOVER_RAY_OBJECT_STORE_MB": "256",
        "CUTOVER_RAY_MAX_RETRIES": "0",
        "CUTOVER_RAY_BATCH_CPUS": "0.5",
        "CUTOVER_RAY_LOG_TO_DRIVER": "no",
        "CUTOVER_RAY_RESULT_TIMEOUT_S": "45",
    }
    expected = RaySettings(
        address="10.0.0.5:6379",
        object_store_mb=256,
        max_retries=0,
        batch_cpus=0.5,
        log_to_driver=False,
        result_timeout_s=45.0,
    )
    assert expected == RaySettings.from_env(env)
    assert RaySettings() == RaySettings.from_env({"RAY_ADDRESS": "local"})
    with pytest.raises(ConfigurationError, match="CUTOVER_RAY_BATCH_CPUS"):
        RaySettings.from_env({"CUTOVER_RAY_BATCH_CPUS": "-1"})


def _run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {name: value for name, value in os.environ.items() if name != "RAY_ADDRESS"}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_importing_adapters_does_not_import_ray() -> None:
    """``import adapters, adapters.ray.engine`` leaves Ray out of ``sys.modules``."""
    code = (
        "import adapters, adapters.ray.engine, adapters.ray.runtime, adapters.ray.remote, sys\n"
        "assert 'ray' not in sys.modules, sorted(m for m in sys.modules if m.startswith('ray'))\n"
        "print('clean')"
    )
    completed = _run_python(code)
    assert 0 == completed.returncode, completed.stderr
    assert "clean" == completed.stdout.strip()


def test_unreachable_cluster_is_engine_unavailable_with_the_secret_masked() -> None:
    """A cluster that cannot be reached: ``EngineUnavailableError``, no password in it."""
    code = (
        "import asyncio\n"
        "from adapters.ray.engine import RayEngine\n"
        "from cutover.errors import EngineUnavailableError\n"
        "try:\n"
        "    asyncio.run(RayEngine().start())\n"
        "except EngineUnavailableError as exc:\n"
        "    print(exc)\n"
    )
    completed = _run_python(
        code,
        RAY_ADDRESS="ray://ops:hunter2@127.0.0.1:1",
        CUTOVER_RAY_CONNECT_TIMEOUT_S="5",
    )
    assert 0 == completed.returncode, completed.stderr
    assert "ray://ops:***@127.0.0.1:1" in completed.stdout
    assert "hunter2" not in completed.stdout + completed.stderr


@pytest.mark.slow
def test_connect_timeout_bounds_a_hanging_ray_init() -> None:
    """Ray retries an unreachable GCS for minutes; ``start()`` gives up after the timeout."""
    code = (
        "import asyncio, time\n"
        "from adapters.ray.engine import RayEngine\n"
        "from cutover.errors import EngineUnavailableError\n"
        "started = time.monotonic()\n"
        "try:\n"
        "    asyncio.run(RayEngine().start())\n"
        "except EngineUnavailableError as exc:\n"
        "    print(round(time.monotonic() - started), exc)\n"
    )
    completed = _run_python(code, RAY_ADDRESS="127.0.0.1:1", CUTOVER_RAY_CONNECT_TIMEOUT_S="2")
    seconds, _, message = completed.stdout.strip().partition(" ")
    assert 0 == completed.returncode, completed.stderr
    assert int(seconds) <= 4
    assert "within 2s" in message


async def test_start_does_not_block_the_event_loop(ray_engine: ExecutionEngine) -> None:
    """``start()`` and calls leave the loop free: a ticker keeps ticking meanwhile."""
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticking = asyncio.ensure_future(ticker())
    try:
        await ray_engine.start()
        await ray_engine.map_batches([0.3], ray_tasks.slow, 1, 1, OPTIONS)
    finally:
        ticking.cancel()
    assert ticks >= 10


SIGTERM_HOST = """
import asyncio, os, signal
from adapters.ray.engine import RayEngine

received = []
signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))

async def main():
    engine = RayEngine()
    await engine.start()
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.sleep(0.5)
    await engine.close()

asyncio.run(main())
print("host handler ran:", received == [signal.SIGTERM])
"""


@pytest.mark.slow
def test_the_hosts_sigterm_handler_survives_ray_without_a_fake_crash_report(
    tmp_path: Path,
) -> None:
    """A production worker's SIGTERM (a normal shutdown) reaches its own handler, and Ray's
    native failure handler does not print a crash report with a stack trace for it."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_DISABLE_FAILURE_SIGNAL_HANDLER"}
    env.pop("RAY_ADDRESS", None)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    done = subprocess.run(
        [sys.executable, "-c", SIGTERM_HOST],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert 0 == done.returncode, done.stderr[-2000:]
    assert "host handler ran: True" in done.stdout
    assert "SIGTERM received" not in done.stderr


async def test_ray_tasks_are_named_after_the_production_worker(
    ray_engine: ExecutionEngine,
) -> None:
    """``cutover.run_batch[W]`` in the Ray dashboard says which worker a batch serves."""
    names = await ray_engine.map_batches(
        [1, 2, 3], ray_tasks.ray_task_name, 2, 2, CallOptions(worker_id="billing")
    )
    assert ["cutover.run_batch[billing]"] * 3 == names


async def test_concurrent_starts_start_once_and_warm_the_workers(
    ray_engine: ExecutionEngine,
) -> None:
    """The first shadow calls of a worker all find the engine cold at once: one of them
    starts (and warms) it, the others wait for that start instead of running their own."""
    engine = RayEngine()
    try:
        with capture_logs() as logs:
            await asyncio.gather(*(engine.start() for _ in range(20)))
        started = [entry for entry in logs if entry["event"] == "engine_started"]
        assert 1 == len(started)
        assert [] == [entry for entry in logs if entry["event"] == "warm_up_failed"]
        assert [2, 4] == await engine.map_batches([1, 2], equiv_tasks.double, 1, 2, OPTIONS)
    finally:
        await engine.close()


async def test_a_start_whose_owner_is_cancelled_is_taken_over_by_a_waiter(
    ray_engine: ExecutionEngine,
) -> None:
    """A shadow candidate that times out while it is starting the engine is cancelled; a call
    waiting on that start starts the engine itself instead of failing."""
    engine = RayEngine()
    try:
        owner = asyncio.ensure_future(engine.start())
        for _ in range(5):
            await asyncio.sleep(0)  # the owner is now inside its warm-up
        waiter = asyncio.ensure_future(engine.start())
        await asyncio.sleep(0)
        owner.cancel()
        await asyncio.wait_for(waiter, 60)
        assert owner.cancelled()
        assert [2] == await engine.map_batches([1], equiv_tasks.double, 1, 1, OPTIONS)
    finally:
        await engine.close()
