"""The seed's 1000-task table, measured for real: what ``cutover bench`` runs.

**Scenarios** — 1000 tasks each, every task a portable async function of
:mod:`cutover.demo.tasks`, every call the legacy API's own
``optimize_batch_processing(items, task, batch_size=10, max_concurrent=5)`` (the legacy
defaults), made one after another by one worker:

- ``small``: ``io_light`` (about 1 ms of awaiting per task), 20 calls of 50 tasks;
- ``medium``: ``mixed`` (about 2 ms awaiting + 2 ms pure-Python CPU), 4 calls of 250;
- ``large``: ``cpu_heavy`` (about 10 ms of pure-Python CPU), one call of 1000.

**Routes** — through the ``compat`` shim, a :class:`~compat.router.Router` over a static flag
table per route: ``legacy``, ``celery``, ``ray``, ``hybrid`` (the seed's threshold rule: fewer
than 100 items on Celery, others on Ray) and ``hybrid-adaptive`` (legacy, Celery or Ray,
whichever has been cheapest per item for calls of that size, exploring 1 % of calls). And the
same work without the shim, so its overhead shows as a ratio: ``raw-asyncio`` (the batches
gathered under a semaphore in plain asyncio), ``raw-celery`` (a Celery ``group`` of the same
``cutover.run_batch`` batch tasks, collected with ``GroupResult.get``) and ``raw-ray`` (the Ray
engine's :func:`~adapters.ray.engine.raw_batch_runner`: the same batch remote function,
collected with ``ray.wait`` / ``ray.get``).

**Per cell** — one warm-up run (untimed: first imports, worker processes warming up, the
adaptive route's first try of each engine), then ``repeats`` timed runs (more, up to 15, for
a cell whose run takes under 0.25 s, where a median of three is mostly timer noise), and
the CPU seconds each process group used in each run: the median wall time,
the throughput (tasks / median), and the peak resident memory of the whole process tree that
does the work (this process, plus the Celery worker and its pool for routes that use Celery,
plus the local Ray processes for routes that use Ray; see :mod:`cutover.demo.memory`),
sampled over the whole cell. The Redis broker is a service both the seed and we need; it is
not counted. Engine start-up is timed once and reported apart. Cells run engine by engine
(legacy first, then Celery, then Ray, then the hybrids), so a cell's client process has not
yet imported an engine it does not use; a shim route and its raw baseline run their timed
runs interleaved (A B, B A, ...), so their ratio does not depend on when the machine was
busy.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import math
import multiprocessing
import os
import platform
import secrets
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import psutil

import compat
import flags
from adapters.base import ExecutionEngine, TaskFunc
from compat import metrics
from compat.router import Router, get_router, set_router
from cutover.demo import tasks
from cutover.demo.memory import CpuAccount, PeakRss, PeakRssSampler
from cutover.demo.progress import ProgressBar
from cutover.demo.services import Services, prepare_environment, redis_reachable
from ground.errors import CutoverError, EngineError, InvalidArgumentError
from ground.logs import mask_url

BATCH_SIZE: Final = 10
MAX_CONCURRENT: Final = 5
"""Every call uses the legacy defaults of ``optimize_batch_processing``."""
BENCH_QUEUE: Final = "cutover.bench"
"""The Celery queue of every benchmark call (the worker the bench starts consumes it)."""
WORKER: Final = "bench"
DEFAULT_REPEATS: Final = 3
QUICK_TASKS: Final = 100
"""Tasks per scenario with ``--quick`` (a smoke run: its times are not the seed's)."""

SHORT_RUN_S: Final = 0.25
SHORT_CELL_BUDGET_S: Final = 1.0
MAX_REPEATS: Final = 15
"""Cells whose run is shorter than ``SHORT_RUN_S`` get up to ``MAX_REPEATS`` timed runs."""

TARGET_ADAPTIVE_RATIO: Final = 1.1
TARGET_LARGE_SPEEDUP: Final = 1.7
TARGET_SHIM_RATIO: Final = 1.2

RESULTS_PATH: Final = Path(__file__).resolve().parents[2] / "benchmarks" / "RESULTS.md"
"""Where a full run records its results in a source checkout."""


# --- what is measured ----------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """``tasks`` tasks of ``task``, in consecutive calls of ``call_size`` tasks."""

    name: str
    task: TaskFunc
    tasks: int
    call_size: int
    summary: str

    def calls(self) -> list[list[int]]:
        """The items of each call."""
        items = list(range(self.tasks))
        return [
            items[start : start + self.call_size] for start in range(0, self.tasks, self.call_size)
        ]

    def scaled(self, tasks: int) -> Scenario:
        """The same scenario with fewer tasks (calls keep their size, at most ``tasks``)."""
        return Scenario(self.name, self.task, tasks, min(self.call_size, tasks), self.summary)


SCENARIOS: Final = {
    "small": Scenario("small", tasks.io_light, 1000, 50, "~1 ms I/O per task, calls of 50"),
    "medium": Scenario(
        "medium", tasks.mixed, 1000, 250, "~2 ms I/O + 2 ms CPU per task, calls of 250"
    ),
    "large": Scenario("large", tasks.cpu_heavy, 1000, 1000, "~10 ms CPU per task, 1 call of 1000"),
}


@dataclass(frozen=True)
class RouteSpec:
    """One column of the benchmark: a shim route (its flags) or a raw engine baseline."""

    name: str
    engines: tuple[str, ...]
    """The engines whose processes it uses (and that must be started for it)."""
    summary: str
    record: flags.FlagRecord | None = None
    """The worker's flags, for a route through the shim; ``None`` for a raw baseline."""
    baseline_of: str | None = None
    """For a raw baseline: the shim route it is the same work of."""

    @property
    def through_shim(self) -> bool:
        """True for the routes that go through ``compat``."""
        return self.record is not None


def _flags(route: flags.Route, **options: Any) -> flags.FlagRecord:
    # fallback="fail": a route that cannot reach its engine must fail the cell, not quietly
    # measure legacy under another name.
    return flags.FlagRecord(route=route, queue=BENCH_QUEUE, fallback="fail", **options)


SEED_HYBRID: Final = flags.HybridPolicy(
    mode="threshold", threshold=100, small="celery", large="ray"
)
ADAPTIVE_HYBRID: Final = flags.HybridPolicy(
    mode="adaptive", explore=0.01, candidates=("legacy", "celery", "ray")
)

ROUTES: Final = {
    spec.name: spec
    for spec in (
        RouteSpec("legacy", (), "compat shim, legacy route", _flags("legacy")),
        RouteSpec("celery", ("celery",), "compat shim, Celery route", _flags("celery")),
        RouteSpec("ray", ("ray",), "compat shim, Ray route", _flags("ray")),
        RouteSpec(
            "hybrid",
            ("celery", "ray"),
            "compat shim, seed rule: < 100 items Celery, else Ray",
            _flags("hybrid", hybrid=SEED_HYBRID),
        ),
        RouteSpec(
            "hybrid-adaptive",
            ("celery", "ray"),
            "compat shim, adaptive: legacy, Celery or Ray by observed cost, 1 % exploration",
            _flags("hybrid", hybrid=ADAPTIVE_HYBRID),
        ),
        RouteSpec("raw-asyncio", (), "no shim: batches gathered in plain asyncio", None, "legacy"),
        RouteSpec(
            "raw-celery", ("celery",), "no shim: Celery group of run_batch tasks", None, "celery"
        ),
        RouteSpec("raw-ray", ("ray",), "no shim: Ray batch tasks, ray.wait/ray.get", None, "ray"),
    )
}
SINGLE_ROUTES: Final = ("legacy", "celery", "ray")

SEED_SECONDS: Final = {
    "small": {"legacy": 2.5, "celery": 2.0, "ray": 3.0, "hybrid": 2.0},
    "medium": {"legacy": 12.0, "celery": 10.0, "ray": 8.0, "hybrid": 8.0},
    "large": {"legacy": 30.0, "celery": 25.0, "ray": 10.0, "hybrid": 10.0},
}
"""The seed report's table (1000 tasks), by our route names; "existing" is ``legacy``."""
SEED_MEMORY_MB: Final = {"legacy": 500.0, "celery": 300.0, "ray": 800.0, "hybrid": 400.0}


def _phase(spec: RouteSpec) -> int:
    """Cells run engine by engine: none, Celery, Ray, both."""
    return {(): 0, ("celery",): 1, ("ray",): 2}.get(spec.engines, 3)


def parse_names(values: Sequence[str] | None, known: Sequence[str], what: str) -> list[str]:
    """Comma- or space-separated names, checked against ``known``, in ``known``'s order."""
    if not values:
        return list(known)
    wanted = [name.strip() for value in values for name in value.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in known]
    if unknown or not wanted:
        raise InvalidArgumentError(
            f"unknown {what} {', '.join(map(repr, unknown)) or '(none given)'}: choose from "
            f"{', '.join(known)}"
        )
    return [name for name in known if name in wanted]


@dataclass(frozen=True)
class BenchConfig:
    """What one ``cutover bench`` run measures."""

    scenarios: tuple[str, ...] = tuple(SCENARIOS)
    routes: tuple[str, ...] = tuple(ROUTES)
    repeats: int = DEFAULT_REPEATS
    warmup: int = 1
    quick: bool = False

    @property
    def full(self) -> bool:
        """Every scenario and route at full size: a run worth recording."""
        return (
            not self.quick
            and set(self.scenarios) == set(SCENARIOS)
            and set(self.routes) == set(ROUTES)
        )

    def command(self) -> str:
        """The ``cutover bench`` command line that runs this configuration."""
        words = ["cutover", "bench"]
        if self.quick:
            words.append("--quick")
        if set(self.routes) != set(ROUTES):
            words += ["--routes", ",".join(self.routes)]
        if set(self.scenarios) != set(SCENARIOS):
            words += ["--scenarios", ",".join(self.scenarios)]
        if self.repeats != (1 if self.quick else DEFAULT_REPEATS):
            words += ["--repeats", str(self.repeats)]
        return " ".join(words)

    def scenario(self, name: str) -> Scenario:
        """The scenario as this run sizes it."""
        scenario = SCENARIOS[name]
        return scenario.scaled(QUICK_TASKS) if self.quick else scenario


# --- results -------------------------------------------------------------------------------


@dataclass
class Cell:
    """One scenario on one route."""

    scenario: str
    route: str
    tasks: int
    runs_s: list[float] = field(default_factory=list)
    peak: PeakRss = field(default_factory=PeakRss)
    calls_by_engine: dict[str, int] = field(default_factory=dict)
    cost_per_task_ms: dict[str, float | None] = field(default_factory=dict)
    """For ``hybrid-adaptive``: what its cost model believed of each candidate at the end."""
    cpu_runs: list[dict[str, float]] = field(default_factory=list)
    """Per timed run: CPU seconds of each group, of other processes, and stolen."""
    error: str | None = None

    @property
    def cpu_s(self) -> dict[str, float]:
        """The median per run of each entry of :attr:`cpu_runs`."""
        names = dict.fromkeys(name for run in self.cpu_runs for name in run)
        return {
            name: statistics.median(run.get(name, 0.0) for run in self.cpu_runs) for name in names
        }

    @property
    def median_s(self) -> float | None:
        """Median wall time of the timed runs."""
        return statistics.median(self.runs_s) if self.runs_s and self.error is None else None

    @property
    def throughput(self) -> float | None:
        """Tasks per second at the median."""
        median = self.median_s
        return self.tasks / median if median else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        spec = ROUTES[self.route]
        return {
            "scenario": self.scenario,
            "route": self.route,
            "through_shim": spec.through_shim,
            "tasks": self.tasks,
            "wall_s": self.median_s,
            "runs_s": self.runs_s,
            "throughput_per_s": self.throughput,
            "peak_rss_mb": round(self.peak.total_mb, 1) if self.error is None else None,
            "peak_rss_by_group_mb": {k: round(v, 1) for k, v in self.peak.by_group_mb.items()},
            "processes": self.peak.processes,
            "calls_by_engine": self.calls_by_engine,
            "cost_per_task_ms": self.cost_per_task_ms,
            "cpu_s_per_run": {name: round(value, 3) for name, value in self.cpu_s.items()},
            "seed_s": SEED_SECONDS.get(self.scenario, {}).get(self.route),
            "seed_memory_mb": SEED_MEMORY_MB.get(self.route),
            "error": self.error,
        }


@dataclass(frozen=True)
class Target:
    """One of the issue's targets, with the figure behind it."""

    kind: str
    """``adaptive``, ``speed-up`` or ``shim``."""
    scenario: str
    name: str
    value: float | None
    threshold: float
    passed: bool
    detail: str
    routes: tuple[str, str]
    """The two cells compared (the one judged, the one it is compared with)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "kind": self.kind,
            "scenario": self.scenario,
            "name": self.name,
            "routes": list(self.routes),
            "value": self.value,
            "threshold": self.threshold,
            "passed": self.passed,
            "detail": self.detail,
        }


@dataclass
class BenchReport:
    """Everything one run measured."""

    config: BenchConfig
    machine: dict[str, Any]
    cells: list[Cell]
    startup_s: dict[str, float]
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def cell(self, scenario: str, route: str) -> Cell | None:
        """The cell of ``scenario`` on ``route``, if it was measured."""
        for cell in self.cells:
            if cell.scenario == scenario and cell.route == route:
                return cell
        return None

    def wall(self, scenario: str, route: str) -> float | None:
        """The median wall time of a cell, ``None`` if absent or failed."""
        cell = self.cell(scenario, route)
        return cell.median_s if cell is not None else None

    @property
    def failed(self) -> list[Cell]:
        """Cells that did not complete."""
        return [cell for cell in self.cells if cell.error is not None]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (what ``cutover bench --json`` prints)."""
        return {
            "config": {
                "scenarios": list(self.config.scenarios),
                "routes": list(self.config.routes),
                "repeats": self.config.repeats,
                "warmup": self.config.warmup,
                "quick": self.config.quick,
                "batch_size": BATCH_SIZE,
                "max_concurrent": MAX_CONCURRENT,
                "scenario_sizes": {
                    name: {
                        "tasks": self.config.scenario(name).tasks,
                        "call_size": self.config.scenario(name).call_size,
                    }
                    for name in self.config.scenarios
                },
            },
            "machine": self.machine,
            "startup_s": self.startup_s,
            "cells": [cell.to_dict() for cell in self.cells],
            "targets": [target.to_dict() for target in self.targets],
            "notes": self.notes,
            "seed": {"seconds": SEED_SECONDS, "memory_mb": SEED_MEMORY_MB, "tasks": 1000},
        }


# --- the machine ---------------------------------------------------------------------------


def _burn_units(units: int) -> float:
    """In a probe process: seconds for ``units`` x 10 ms of ``burn_cpu``."""
    started = time.perf_counter()
    for _ in range(units):
        tasks.burn_cpu(10)
    return time.perf_counter() - started


def measure_cpu_parallelism(processes: int, units: int = 40) -> float:
    """How much more CPU work ``processes`` processes do at once than one alone (ideal: N).

    Each probe process runs ``units`` x 10 ms of pure-Python work; one alone, then
    ``processes`` at once. On a machine whose cores are busy or shared, this is the ceiling of
    any engine's speed-up on CPU-bound work.
    """
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes) as pool:
        pool.map(_burn_units, [1] * processes)  # the processes are up and warm
        # The best of two tries each way: a neighbour's burst must not make one look better.
        alone = min(pool.map(_burn_units, [units])[0] for _ in range(2))
        together = min(
            statistics.mean(pool.map(_burn_units, [units] * processes)) for _ in range(2)
        )
    return processes * alone / together


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "-"


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _redis_version(url: str) -> str:
    import redis

    with contextlib.suppress(redis.RedisError, OSError, ValueError):
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
        try:
            return str(client.info("server").get("redis_version", "-"))
        finally:
            client.close()
    return "-"


def machine_details() -> dict[str, Any]:
    """Where the figures come from."""
    return {
        "host": platform.node(),
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_gb": round(psutil.virtual_memory().total / 1024**3, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": {name: _version(name) for name in ("celery", "kombu", "ray", "redis")},
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


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
            specs = sorted((ROUTES[name] for name in self.config.routes), key=_phase)
            for phase in sorted({_phase(spec) for spec in specs}):
                in_phase = [spec for spec in specs if _phase(spec) == phase]
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


# --- targets and notes ---------------------------------------------------------------------


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


def evaluate_targets(report: BenchReport) -> list[Target]:
    """The issue's targets, for the cells this run measured."""
    targets: list[Target] = []
    for scenario in report.config.scenarios:
        adaptive = report.wall(scenario, "hybrid-adaptive")
        singles = {
            route: wall
            for route in SINGLE_ROUTES
            if (wall := report.wall(scenario, route)) is not None
        }
        if adaptive is not None and singles:
            best_route = min(singles, key=lambda route: singles[route])
            ratio = _ratio(adaptive, singles[best_route])
            assert ratio is not None
            targets.append(
                Target(
                    "adaptive",
                    scenario,
                    f"{scenario}: hybrid-adaptive within {TARGET_ADAPTIVE_RATIO}x of the best "
                    "single route",
                    ratio,
                    TARGET_ADAPTIVE_RATIO,
                    ratio <= TARGET_ADAPTIVE_RATIO,
                    f"{adaptive:.3f} s vs {best_route} {singles[best_route]:.3f} s: {ratio:.2f}x",
                    ("hybrid-adaptive", best_route),
                )
            )
    if "large" in report.config.scenarios:
        legacy = report.wall("large", "legacy")
        speedups = {
            route: _ratio(legacy, report.wall("large", route)) for route in ("celery", "ray")
        }
        measured = {route: value for route, value in speedups.items() if value is not None}
        if measured:
            best = max(measured, key=lambda route: measured[route])
            targets.append(
                Target(
                    "speed-up",
                    "large",
                    f"large: Celery or Ray at least {TARGET_LARGE_SPEEDUP}x faster than legacy",
                    measured[best],
                    TARGET_LARGE_SPEEDUP,
                    measured[best] >= TARGET_LARGE_SPEEDUP,
                    ", ".join(f"{route} {value:.2f}x" for route, value in measured.items()),
                    (best, "legacy"),
                )
            )
    for scenario in report.config.scenarios:
        for raw in ("raw-asyncio", "raw-celery", "raw-ray"):
            shim_route = ROUTES[raw].baseline_of
            assert shim_route is not None
            ratio = _ratio(report.wall(scenario, shim_route), report.wall(scenario, raw))
            if ratio is None:
                continue
            targets.append(
                Target(
                    "shim",
                    scenario,
                    f"{scenario}: {shim_route} through the shim within {TARGET_SHIM_RATIO}x of "
                    f"{raw}",
                    ratio,
                    TARGET_SHIM_RATIO,
                    ratio <= TARGET_SHIM_RATIO,
                    f"{ratio:.2f}x",
                    (shim_route, raw),
                )
            )
    return targets


def _cpu_text(cell: Cell | None) -> str:
    if cell is None or not cell.cpu_runs:
        return "-"
    return ", ".join(f"{name} {seconds:.2f}" for name, seconds in cell.cpu_s.items())


def _runs_text(cell: Cell | None) -> str:
    if cell is None or not cell.runs_s:
        return "-"
    return "/".join(f"{run:.2f}" for run in cell.runs_s) + " s"


def _profile(report: BenchReport, target: Target) -> str:
    """Where the time of the two compared cells went, per run, and what that says."""
    judged = report.cell(target.scenario, target.routes[0])
    other = report.cell(target.scenario, target.routes[1])
    text = (
        f"Where the time went (median CPU seconds per run): {target.routes[0]}: "
        f"{_cpu_text(judged)}; {target.routes[1]}: {_cpu_text(other)}. Runs: "
        f"{target.routes[0]} {_runs_text(judged)}, {target.routes[1]} {_runs_text(other)}."
    )
    if judged is None or other is None or not judged.cpu_runs or not other.cpu_runs:
        return text
    mine, theirs = judged.cpu_s, other.cpu_s
    client_gap = mine.get("client", 0.0) - theirs.get("client", 0.0)
    engines = [name for name in mine if name not in ("client", "other processes", "steal")]
    engine_gap = sum(mine[name] - theirs.get(name, 0.0) for name in engines)
    noise_gap = sum(
        mine.get(name, 0.0) - theirs.get(name, 0.0) for name in ("other processes", "steal")
    )
    elsewhere = mine.get("other processes", 0.0) - theirs.get("other processes", 0.0)
    if judged.median_s and elsewhere > 0.25 * judged.median_s:
        text += (
            f" During {target.routes[0]}'s runs other processes of this machine used "
            f"{elsewhere:.2f} CPU-s per run more than during {target.routes[1]}'s: the machine "
            "was busy with someone else's work then. Re-run on a quiet machine to compare."
        )
        return text
    if target.kind != "shim":
        return text
    if engines and engine_gap + noise_gap > max(client_gap, 0.0):
        text += (
            f" The client, where the shim runs, used {client_gap:+.2f} CPU-s per run; the "
            f"same batches cost the engine processes {engine_gap:+.2f} CPU-s and the rest of "
            f"the machine took {noise_gap:+.2f} CPU-s more: the gap is the machine's speed "
            "during those runs (a shared, busy machine), not the shim. Re-run to compare."
        )
    elif (
        judged.median_s and other.median_s and client_gap < 0.1 * (judged.median_s - other.median_s)
    ):
        text += (
            f" The shim used {client_gap:+.3f} CPU-s more per run, far less than the gap: the "
            "difference is time spent waiting, not working (timers of 1 ms sleeps and "
            "scheduling on a busy machine)."
        )
    else:
        text += f" The client, where the shim runs, used {client_gap:+.2f} CPU-s more per run."
    return text


def _core_ceiling(report: BenchReport, route: str) -> str:
    """What the cells' own CPU seconds say about the best possible speed-up on this machine."""
    legacy = report.cell("large", "legacy")
    engine_cell = report.cell("large", route)
    cpus = report.machine.get("logical_cpus") or 1
    if legacy is None or engine_cell is None or not legacy.cpu_runs or not engine_cell.cpu_runs:
        return ""
    alone = legacy.cpu_s.get("client", 0.0)
    spread = engine_cell.cpu_s.get(route, 0.0)
    if alone <= 0 or spread <= 0:
        return ""
    return (
        f" The same tasks took {alone:.2f} CPU-s in one process alone and {spread:.2f} CPU-s "
        f"spread over {route}'s worker processes: with all cores busy each did "
        f"{alone / spread:.0%} of its solo work, so {cpus} cores could give at most "
        f"{cpus * alone / spread:.2f}x here."
    )


def closing_notes(report: BenchReport) -> list[str]:
    """Why each missed target was missed, with the figures that show where the time went."""
    notes: list[str] = []
    if report.config.quick:
        notes.append(
            f"--quick: {QUICK_TASKS} tasks per scenario, {report.config.repeats} timed run(s): "
            "a smoke run. Its times are not comparable with the seed's 1000-task figures."
        )
    parallel = report.machine.get("cpu_parallelism")
    cpus = report.machine.get("logical_cpus")
    for target in report.targets:
        if target.passed:
            continue
        missed = f"{target.name}: missed ({target.detail})."
        if target.kind == "speed-up":
            probe = (
                f" CPU-bound work only gets faster on more cores: a probe before the cells "
                f"found this machine's {cpus} logical CPUs doing {parallel:.2f}x the work of "
                f"one when all were loaded (ideal {cpus}x)."
                if parallel is not None
                else ""
            )
            best = target.routes[0]
            notes.append(
                missed + probe + _core_ceiling(report, best) + " " + _profile(report, target)
            )
        elif target.kind == "adaptive":
            notes.append(missed + " " + _adaptive_note(report, target))
        else:
            notes.append(missed + " " + _profile(report, target))
    return notes


def _adaptive_note(report: BenchReport, target: Target) -> str:
    cell = report.cell(target.scenario, "hybrid-adaptive")
    best = target.routes[1]
    calls = cell.calls_by_engine if cell else {}
    spread = ", ".join(f"{engine} {count}" for engine, count in calls.items()) or "-"
    costs = cell.cost_per_task_ms if cell else {}
    believed = ", ".join(
        f"{engine} {'never observed' if cost is None else f'{cost:.3f} ms'}"
        for engine, cost in costs.items()
    )
    text = f"Its timed calls ran on {spread}; cost per task it believed at the end: {believed}."
    unobserved = [engine for engine, cost in costs.items() if cost is None]
    if best not in costs:
        return text + (
            f" The best single route here, {best}, is not one of its candidates "
            f"({', '.join(costs) or '-'}). " + _profile(report, target)
        )
    if best in unobserved:
        return text + (
            f" Its cost model never observed {best} for calls of this size although the "
            "warm-up tried every candidate, so it could only choose among the others."
        )
    if set(calls) == {best}:
        return text + (
            f" Every timed call ran on {best}, the best single route: the gap is run-to-run "
            f"variation of {best} itself. " + _profile(report, target)
        )
    return text + " Every call explored on the slower engine costs that engine's time."


# --- rendering -----------------------------------------------------------------------------


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f} s" if value < 10 else f"{value:.2f} s"


def _seed(value: float | None) -> str:
    return "-" if value is None else f"{value:g} s"


def _mb(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} MB"


def table_rows(report: BenchReport) -> tuple[list[str], list[list[str]]]:
    """The main table: one row per cell, the seed's figures beside ours."""
    header = [
        "scenario",
        "route",
        "wall (median)",
        "seed",
        "tasks/s",
        "vs legacy",
        "shim/raw",
        "peak RSS",
        "seed RSS",
        "calls ran on",
    ]
    rows = []
    for cell in report.cells:
        spec = ROUTES[cell.route]
        wall = cell.median_s
        raw_name = next((r for r, s in ROUTES.items() if s.baseline_of == cell.route), None)
        shim_raw = _ratio(wall, report.wall(cell.scenario, raw_name)) if raw_name else None
        speedup = _ratio(report.wall(cell.scenario, "legacy"), wall)
        seed = SEED_SECONDS.get(cell.scenario, {}).get(cell.route)
        if cell.error is not None:
            failed = [cell.scenario, cell.route, "FAILED", _seed(seed)]
            rows.append([*failed, "-", "-", "-", "-", "-", cell.error[:60]])
            continue
        rows.append(
            [
                cell.scenario,
                cell.route,
                _seconds(wall),
                _seed(seed),
                f"{cell.throughput:,.0f}" if cell.throughput else "-",
                f"{speedup:.2f}x" if speedup is not None else "-",
                f"{shim_raw:.2f}x" if shim_raw is not None else "-",
                _mb(cell.peak.total_mb),
                _mb(SEED_MEMORY_MB.get(cell.route)),
                ", ".join(f"{e} {n}" for e, n in cell.calls_by_engine.items())
                or ("(no shim)" if not spec.through_shim else "-"),
            ]
        )
    return header, rows


def _text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    previous = None
    for row in rows:
        if previous is not None and row[0] != previous:
            lines.append("")
        previous = row[0]
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return lines


def _machine_line(machine: dict[str, Any]) -> str:
    parallel = machine.get("cpu_parallelism")
    load = machine.get("load_average_at_start") or []
    return (
        f"{machine['cpu']} · {machine['logical_cpus']} logical CPUs "
        f"({machine.get('physical_cores') or '?'} cores)"
        + (f", {parallel:.2f}x parallel CPU throughput measured" if parallel else "")
        + f" · {machine['memory_gb']} GB · {machine['os']} · Python {machine['python']} · "
        f"load {'/'.join(str(x) for x in load)} at start · {machine['date']}"
    )


def _startup_lines(report: BenchReport) -> list[str]:
    if not report.startup_s:
        return ["  (no engine started)"]
    width = max(len(name) for name in report.startup_s)
    return [f"  {name.ljust(width)}  {_seconds(value)}" for name, value in report.startup_s.items()]


def render_text(report: BenchReport) -> str:
    """The table, start-up times, targets and notes, for a terminal."""
    config = report.config
    sizes = ", ".join(f"{name} {config.scenario(name).tasks} tasks" for name in config.scenarios)
    lines = [
        f"cutover bench: {sizes}; median of {config.repeats} run(s) after "
        f"{config.warmup} warm-up; seed = the migration report's figures (1000 tasks)",
        f"machine: {_machine_line(report.machine)}",
        f"broker: {report.machine.get('broker', '-')}",
        "",
    ]
    header, rows = table_rows(report)
    lines += _text_table(header, rows)
    lines += ["", "engine start-up (not inside any cell):", *_startup_lines(report), ""]
    if report.targets:
        lines.append("targets:")
        for target in report.targets:
            mark = "pass" if target.passed else "MISS"
            lines.append(f"  [{mark}] {target.name}: {target.detail}")
        lines.append("")
    if report.notes:
        lines.append("notes:")
        lines += [f"  - {note}" for note in report.notes]
        lines.append("")
    return "\n".join(lines)


def render_markdown(report: BenchReport) -> str:
    """``benchmarks/RESULTS.md``: how it was measured, on what, the figures, the verdicts."""
    machine = report.machine
    header, rows = table_rows(report)
    table = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]
    cpu_header = [
        "scenario",
        "route",
        "wall",
        "client",
        "celery",
        "ray",
        "other processes",
        "steal",
    ]
    cpu_table = [
        "| " + " | ".join(cpu_header) + " |",
        "|" + "|".join("---" for _ in cpu_header) + "|",
    ]
    for cell in report.cells:
        cpu = cell.cpu_s
        cpu_table.append(
            "| "
            + " | ".join(
                [cell.scenario, cell.route, _seconds(cell.median_s)]
                + [f"{cpu[name]:.2f}" if name in cpu else "-" for name in cpu_header[3:]]
            )
            + " |"
        )
    scenarios = "\n".join(
        f"- `{s.name}`: {report.config.scenario(s.name).tasks} tasks, {s.summary} "
        f"(`cutover.demo.tasks.{s.task.__name__}`)"
        for s in (SCENARIOS[name] for name in report.config.scenarios)
    )
    routes = "\n".join(f"- `{name}`: {ROUTES[name].summary}" for name in report.config.routes)
    targets = "\n".join(
        f"- {'pass' if t.passed else '**missed**'}: {t.name}: {t.detail}" for t in report.targets
    )
    notes = "\n".join(f"- {note}" for note in report.notes) or "- none"
    versions = ", ".join(f"{k} {v}" for k, v in machine.get("versions", {}).items())
    startup = "\n".join(
        f"| {name} | {_seconds(value)} |" for name, value in report.startup_s.items()
    )
    return f"""# Benchmark results: the seed's 1000-task table, measured

Written by `{report.config.command()}` ({machine["date"]}). Re-run it to replace this
file; `cutover bench --json` prints the same figures for machines. The seed report's
figures (1000 tasks, no method given) stand beside ours as a reference.

## How

{scenarios}

Every call is `optimize_batch_processing(items, task, batch_size={BATCH_SIZE},
max_concurrent={MAX_CONCURRENT})`, one call after another. Routes:

{routes}

Per cell: {report.config.warmup} untimed warm-up run, then the median of
{report.config.repeats} timed runs (up to {MAX_REPEATS} for a cell whose run takes under
{SHORT_RUN_S} s); throughput = tasks / median; peak RSS = the highest sum
of the resident memory of this process and of the engine processes the route uses (Celery
worker and pool, local Ray processes), sampled every 50 ms during the cell's runs (RSS counts
pages shared by forked processes once per process). The Redis broker is not counted. Engine
start-up is timed apart, below. A shim route and its raw baseline run their timed runs
interleaved (A B, B A, ...), so both see the same machine.

## Machine

- {machine["cpu"]}, {machine["logical_cpus"]} logical CPUs ({machine.get("physical_cores")}
  cores), {machine["memory_gb"]} GB, {machine["os"]}, Python {machine["python"]}
- parallel CPU throughput measured with all CPUs loaded:
  {machine.get("cpu_parallelism", 0):.2f}x one process (ideal {machine["logical_cpus"]}x)
- load average at start {machine.get("load_average_at_start")}, at end
  {machine.get("load_average_at_end")}
- {versions}; broker {machine.get("broker", "-")} (Redis {machine.get("redis_version", "-")})

## Results

{chr(10).join(table)}

Where the time went, per timed run (median CPU seconds of this process, of the route's
engine processes, of every other process of the machine meanwhile, and stolen by the
hypervisor):

{chr(10).join(cpu_table)}

Engine start-up (not inside any cell):

| engine | start-up |
|---|---|
{startup}

## Targets

{targets}

## Notes

{notes}
"""


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
                machine["redis_version"] = _redis_version(services.redis_url)
            runner = BenchRunner(config, services, progress)
            cells, startup = await runner.run()
        progress.close()
    machine["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    report = BenchReport(config, machine, cells, startup)
    report.targets = evaluate_targets(report)
    report.notes = closing_notes(report)
    return report


__all__ = [
    "BATCH_SIZE",
    "BENCH_QUEUE",
    "MAX_CONCURRENT",
    "RESULTS_PATH",
    "ROUTES",
    "SCENARIOS",
    "SEED_MEMORY_MB",
    "SEED_SECONDS",
    "BenchConfig",
    "BenchReport",
    "BenchRunner",
    "Cell",
    "RouteSpec",
    "Scenario",
    "Target",
    "closing_notes",
    "evaluate_targets",
    "machine_details",
    "measure_cpu_parallelism",
    "parse_names",
    "render_markdown",
    "render_text",
    "run_bench",
]
