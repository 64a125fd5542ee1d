"""Running the cells: the raw baselines, the runner of the shim routes, and the whole run."""

from __future__ import annotations

import asyncio
import math
import os
import secrets
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import compat
import flags
from adapters.base import ExecutionEngine, TaskFunc
from compat import metrics
from compat.router import Router, get_router, set_router
from cutover.demo.bench.machine import machine_details, measure_cpu_parallelism, redis_version
from cutover.demo.bench.model import (
    ADAPTIVE_HYBRID,
    BATCH_SIZE,
    BENCH_QUEUE,
    MAX_CONCURRENT,
    MAX_REPEATS,
    ROUTES,
    SHORT_CELL_BUDGET_S,
    SHORT_RUN_S,
    WORKER,
    BenchConfig,
    BenchReport,
    Cell,
    RouteSpec,
    Scenario,
    phase_of,
)
from cutover.demo.bench.targets import closing_notes, evaluate_targets
from cutover.demo.memory import CpuAccount, PeakRssSampler
from cutover.demo.progress import ProgressBar
from cutover.demo.services import Services, prepare_environment, redis_reachable
from ground.errors import CutoverError, EngineError
from ground.logs import mask_url

# --- running -------------------------------------------------------------------------------


Run = Callable[[], Awaitable[list[Any]]]


async def _raw_asyncio(task: TaskFunc, calls: list[list[int]]) -> list[Any]:
    """The batched map in plain asyncio: batches under a semaphore, items gathered."""
    results: list[Any] = []
    for call in calls:
        semaphore = asyncio.Semaphore(MAX_CONCURRENT)

        async def one_batch(batch: list[int], semaphore: asyncio.Semaphore = semaphore) -> Any:
            async with semaphore:
                return await asyncio.gather(*(task(item) for item in batch))

        batches = [call[i : i + BATCH_SIZE] for i in range(0, len(call), BATCH_SIZE)]
        for batch_results in await asyncio.gather(*(one_batch(batch) for batch in batches)):
            results.extend(batch_results)
    return results


def _raw_celery_group(app: Any, task: TaskFunc, call: list[int]) -> list[Any]:
    """One call as a Celery ``group`` of ``cutover.run_batch`` tasks, collected with ``get``.

    ``interval``: Celery's group ``get`` polls the Redis backend every 0.5 s by default, which
    would make the baseline look slow for Celery's sake; 5 ms is what a careful user sets.
    """
    from celery import group

    from adapters.base import RetryPolicy
    from adapters.celery.tasks import RUN_BATCH, retry_policy_to_options
    from adapters.task_refs import task_reference

    reference = task_reference(task)
    options = {"worker": WORKER, "call_id": "", "retry": retry_policy_to_options(RetryPolicy())}
    batches = [call[i : i + BATCH_SIZE] for i in range(0, len(call), BATCH_SIZE)]
    job = group(
        app.signature(RUN_BATCH, args=(reference, batch, options)).set(queue=BENCH_QUEUE)
        for batch in batches
    )
    results = job.apply_async().get(timeout=600, interval=0.005)
    return [value for batch in results for value in batch]


class BenchRunner:
    """Runs the cells of a :class:`BenchConfig` with the engines of a :class:`Services`."""

    def __init__(self, config: BenchConfig, services: Services, progress: ProgressBar) -> None:
        self.config = config
        self.services = services
        self.progress = progress
        self.engines: dict[str, ExecutionEngine] = {}
        self.unavailable: dict[str, str] = {}
        self.references: dict[str, list[Any]] = {}
        self.adaptive_worker = f"{WORKER}-adaptive-{secrets.token_hex(3)}"

    @staticmethod
    def steps(config: BenchConfig) -> int:
        """Progress steps of a run: every run of every cell, and each engine start."""
        engines = {engine for name in config.routes for engine in ROUTES[name].engines}
        runs = sum(
            _warmups(config.warmup, config.scenario(scenario), ROUTES[route]) + config.repeats
            for scenario in config.scenarios
            for route in config.routes
        )
        return runs + len(engines)

    async def run(self) -> tuple[list[Cell], dict[str, float]]:
        """Every cell, engine by engine; returns the cells in table order and start-up times."""
        previous_router = get_router()
        cells: dict[tuple[str, str], Cell] = {}
        try:
            specs = sorted((ROUTES[name] for name in self.config.routes), key=phase_of)
            for phase in sorted({phase_of(spec) for spec in specs}):
                in_phase = [spec for spec in specs if phase_of(spec) == phase]
                for engine in sorted({e for spec in in_phase for e in spec.engines}):
                    await self._ensure_engine(engine)
                for scenario_name in self.config.scenarios:
                    scenario = self.config.scenario(scenario_name)
                    for group in _interleaved_groups(in_phase):
                        for cell in await self._measure(scenario, group):
                            cells[scenario_name, cell.route] = cell
        finally:
            set_router(previous_router)
        ordered = [
            cells[scenario, route]
            for scenario in self.config.scenarios
            for route in ROUTES
            if (scenario, route) in cells
        ]
        return ordered, dict(self.services.startup_s)

    async def _ensure_engine(self, name: str) -> None:
        if name in self.engines or name in self.unavailable:
            return
        self.progress.set_label(f"starting {name}")
        try:
            if name == "celery":
                await self.services.start_celery()
                self.engines[name] = await self.services.start_celery_engine()
            else:
                self.engines[name] = await self.services.start_ray()
        except (CutoverError, RuntimeError, OSError) as exc:
            self.unavailable[name] = f"{type(exc).__name__}: {exc}"
        self.progress.advance()

    def _groups(self, spec: RouteSpec) -> Callable[[], dict[str, set[int]]]:
        def groups() -> dict[str, set[int]]:
            found: dict[str, set[int]] = {"client": {os.getpid()}}
            if "celery" in spec.engines:
                found["celery"] = self.services.celery_pids()
            if "ray" in spec.engines:
                found["ray"] = self.services.ray_pids()
            return found

        return groups

    def _make_run(self, scenario: Scenario, spec: RouteSpec) -> tuple[Run, str | None]:
        """The coroutine function of one run of the cell, and the shim worker id (if any)."""
        calls = scenario.calls()
        task = scenario.task
        if spec.record is not None:
            worker = self.adaptive_worker if spec.name == "hybrid-adaptive" else WORKER
            router = Router(table=flags.FlagTable.static({worker: spec.record}))
            optimizer = compat.AsyncWorkerOptimizer(worker_id=worker)

            async def through_shim() -> list[Any]:
                set_router(router)  # this route's flags (another cell may run in between)
                results: list[Any] = []
                for call in calls:
                    results.extend(
                        await optimizer.optimize_batch_processing(
                            call, task, BATCH_SIZE, MAX_CONCURRENT
                        )
                    )
                return results

            return through_shim, worker
        if spec.name == "raw-asyncio":
            return (lambda: _raw_asyncio(task, calls)), None
        if spec.name == "raw-celery":
            app = self.engines["celery"].app  # type: ignore[attr-defined]

            async def raw_celery() -> list[Any]:
                results: list[Any] = []
                for call in calls:
                    results.extend(await asyncio.to_thread(_raw_celery_group, app, task, call))
                return results

            return raw_celery, None
        from adapters.ray.engine import raw_batch_runner

        runners = [raw_batch_runner(task, call, BATCH_SIZE, MAX_CONCURRENT) for call in calls]

        async def raw_ray() -> list[Any]:
            results: list[Any] = []
            for runner in runners:
                results.extend(await runner())
            return results

        return raw_ray, None

    async def _measure(self, scenario: Scenario, specs: Sequence[RouteSpec]) -> list[Cell]:
        """Measure one cell, or a shim route and its raw baseline with their runs interleaved.

        Interleaving (A B, B A, A B ...) makes both cells share whatever the machine does
        meanwhile, so their ratio is about the shim, not about a neighbour's burst.
        """
        cells = []
        for spec in specs:
            measuring = _CellRun(self, scenario, spec)
            if measuring.cell.error is None:
                await measuring.warm_up()
            cells.append(measuring)
        repeats = max(
            (_repeats_for(m.warm_up_s, self.config.repeats) for m in cells if m.warm_up_s),
            default=self.config.repeats,
        )
        for index in range(repeats):
            # A B, then B A: neither cell always runs right after the other.
            for measuring in cells if index % 2 == 0 else cells[::-1]:
                await measuring.timed_run(index, counted=index < self.config.repeats)
        for measuring in cells:
            measuring.finish()
        return [measuring.cell for measuring in cells]

    def _check(self, scenario: str, route: str, results: list[Any]) -> None:
        """Every route must return what the first route measured returned."""
        reference = self.references.setdefault(scenario, results)
        if reference != results:
            raise EngineError(
                f"{route} returned other results than the first route measured in {scenario}"
            )


class _CellRun:
    """One cell being measured: its run function, its memory sampler, its progress steps."""

    def __init__(self, runner: BenchRunner, scenario: Scenario, spec: RouteSpec) -> None:
        self.runner = runner
        self.scenario = scenario
        self.spec = spec
        self.cell = Cell(scenario.name, spec.name, scenario.tasks)
        self.warmups = _warmups(runner.config.warmup, scenario, spec)
        self.steps_left = self.warmups + runner.config.repeats
        self.warm_up_s = 0.0
        self.before: dict[str, int] = {}
        self.run: Run | None = None
        self.worker: str | None = None
        self.sampler = PeakRssSampler(runner._groups(spec))
        missing = [runner.unavailable[e] for e in spec.engines if e in runner.unavailable]
        if missing:
            self._fail(f"engine unavailable: {missing[0]}")
            return
        try:
            self.run, self.worker = runner._make_run(scenario, spec)
        except Exception as exc:  # noqa: BLE001 - one failed cell is reported, the run goes on
            self._fail(f"{type(exc).__name__}: {exc}")

    def _fail(self, error: str) -> None:
        self.cell.error = error
        self.cell.runs_s.clear()
        self.runner.progress.advance(self.steps_left)
        self.steps_left = 0

    def _step(self) -> None:
        if self.steps_left:
            self.steps_left -= 1
            self.runner.progress.advance()

    async def _once(self, label: str, account: CpuAccount | None) -> float:
        assert self.run is not None
        self.runner.progress.set_label(f"{self.scenario.name} · {self.spec.name} · {label}")
        with self.sampler:
            started = time.perf_counter()
            results = await self.run()
            elapsed = time.perf_counter() - started
        if self.cell.runs_s == [] and not self.warm_up_s:
            self.runner._check(self.scenario.name, self.spec.name, results)
        if account is not None:
            self.cell.cpu_runs.append(account.finish())
        return elapsed

    async def warm_up(self) -> None:
        """The untimed runs (their first result is checked against the other routes')."""
        try:
            for _ in range(self.warmups):
                self.warm_up_s = await self._once("warm-up", None) or 1e-9
                self._step()
        except Exception as exc:  # noqa: BLE001 - one failed cell is reported, the run goes on
            self._fail(f"{type(exc).__name__}: {exc}")

    async def timed_run(self, index: int, *, counted: bool) -> None:
        """Timed run ``index`` (``counted``: one of the runs the progress bar planned)."""
        if self.cell.error is not None or self.run is None:
            return
        try:
            if not self.before and self.worker is not None:
                self.before = _calls(self.worker)
            account = CpuAccount(self.runner._groups(self.spec))
            elapsed = await self._once(f"run {index + 1}", account)
            self.cell.runs_s.append(elapsed)
            if counted:
                self._step()
        except Exception as exc:  # noqa: BLE001 - one failed cell is reported, the run goes on
            self._fail(f"{type(exc).__name__}: {exc}")

    def finish(self) -> None:
        """Collect the cell's figures."""
        self.runner.services.remember_children()
        if self.cell.error is not None:
            return
        self.cell.peak = self.sampler.peak
        if self.worker is not None:
            after = _calls(self.worker)
            self.cell.calls_by_engine = {
                engine: after[engine] - self.before.get(engine, 0)
                for engine in flags.ENGINES
                if after[engine] - self.before.get(engine, 0)
            }
            if self.spec.name == "hybrid-adaptive":
                self.cell.cost_per_task_ms = _believed_costs(self.worker, self.scenario.call_size)


def _interleaved_groups(specs: Sequence[RouteSpec]) -> list[list[RouteSpec]]:
    """The cells of a phase: a shim route with its raw baseline as one group, others alone."""
    names = {spec.name for spec in specs}
    groups: list[list[RouteSpec]] = []
    paired: set[str] = set()
    for spec in specs:
        if spec.name in paired:
            continue
        raw = next((r for r in specs if r.baseline_of == spec.name and r.name in names), None)
        if raw is not None:
            groups.append([spec, raw])
            paired.add(raw.name)
        else:
            groups.append([spec])
    return groups


def _warmups(configured: int, scenario: Scenario, spec: RouteSpec) -> int:
    """Untimed runs of a cell: as configured, and for ``hybrid-adaptive`` enough calls to try
    every candidate once (its first call of each engine is an exploration, not its choice)."""
    if spec.name != "hybrid-adaptive":
        return configured
    calls_per_run = max(len(scenario.calls()), 1)
    needed = math.ceil(len(ADAPTIVE_HYBRID.adaptive_candidates) / calls_per_run)
    return max(configured, needed)


def _repeats_for(first_run_s: float, repeats: int) -> int:
    """Timed runs of a cell: ``repeats``, more for a cell whose run is short.

    A median of three 40 ms runs is mostly timer and scheduling noise; such cells are
    repeated until about :data:`SHORT_CELL_BUDGET_S` of runs, at most :data:`MAX_REPEATS`.
    """
    if first_run_s <= 0 or first_run_s >= SHORT_RUN_S:
        return repeats
    return max(repeats, min(MAX_REPEATS, math.ceil(SHORT_CELL_BUDGET_S / first_run_s)))


def _believed_costs(worker: str, call_size: int) -> dict[str, float | None]:
    """The adaptive policy's cost per task (ms) of each candidate, for calls of this size."""
    policy = ADAPTIVE_HYBRID
    costs: dict[str, float | None] = {}
    for engine in policy.adaptive_candidates:
        estimate = flags.default_cost_model.estimate(worker, engine, call_size)
        costs[engine] = None if estimate is None else round(estimate * 1000, 4)
    return costs


def _calls(worker: str) -> dict[str, int]:
    return {engine: metrics.value("calls", worker, engine) for engine in flags.ENGINES}


# --- the whole run -------------------------------------------------------------------------


def _configured_redis() -> tuple[str | None, str | None, str | None]:
    """(redis for results, broker, backend) from the environment when reachable, else Nones."""
    from adapters.celery.settings import CelerySettings

    try:
        settings = CelerySettings.from_env()
    except CutoverError:
        return None, None, None
    broker_ok = not settings.broker_is_redis or redis_reachable(settings.broker_url)
    if broker_ok and redis_reachable(settings.result_backend):
        return settings.result_backend, settings.broker_url, settings.result_backend
    return None, None, None


async def run_bench(config: BenchConfig, progress_stream: Any = None) -> BenchReport:
    """Measure every cell of ``config``; start and stop whatever engines it needs."""
    prepare_environment()
    machine = machine_details()
    needs = {engine for name in config.routes for engine in ROUTES[name].engines}
    if "large" in config.scenarios and not config.quick:
        cpus = os.cpu_count() or 1
        machine["cpu_parallelism"] = await asyncio.to_thread(measure_cpu_parallelism, cpus)
    redis_url, broker_url, backend_url = _configured_redis() if needs else (None, None, None)
    with tempfile.TemporaryDirectory(prefix="cutover-bench-") as workdir:
        services = Services(
            Path(workdir),
            redis_url=redis_url,
            broker_url=broker_url,
            backend_url=backend_url,
            queues=(BENCH_QUEUE,),
            worker_name="cutover-bench",
        )
        progress = ProgressBar(BenchRunner.steps(config), "bench", progress_stream)
        async with services:
            if needs:
                progress.set_label("redis")
                await services.start_redis()
                machine["broker"] = mask_url(broker_url or services.redis_url) + (
                    " (embedded redis-server)" if services.embedded else ""
                )
                machine["redis_version"] = redis_version(services.redis_url)
            runner = BenchRunner(config, services, progress)
            cells, startup = await runner.run()
        progress.close()
    machine["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    report = BenchReport(config, machine, cells, startup)
    report.targets = evaluate_targets(report)
    report.notes = closing_notes(report)
    return report


__all__ = ["BenchRunner", "run_bench"]
