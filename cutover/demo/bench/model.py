"""What ``cutover bench`` measures: the scenarios, the routes, the seed's figures, a run's
configuration and its results (cells, targets, the report)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import flags
from adapters.base import TaskFunc
from cutover.demo import tasks
from cutover.demo.memory import PeakRss
from ground.errors import InvalidArgumentError

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


def phase_of(spec: RouteSpec) -> int:
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


__all__ = [
    "ADAPTIVE_HYBRID",
    "BATCH_SIZE",
    "BENCH_QUEUE",
    "DEFAULT_REPEATS",
    "MAX_CONCURRENT",
    "MAX_REPEATS",
    "QUICK_TASKS",
    "ROUTES",
    "SCENARIOS",
    "SEED_HYBRID",
    "SEED_MEMORY_MB",
    "SEED_SECONDS",
    "SHORT_CELL_BUDGET_S",
    "SHORT_RUN_S",
    "SINGLE_ROUTES",
    "TARGET_ADAPTIVE_RATIO",
    "TARGET_LARGE_SPEEDUP",
    "TARGET_SHIM_RATIO",
    "WORKER",
    "BenchConfig",
    "BenchReport",
    "Cell",
    "RouteSpec",
    "Scenario",
    "Target",
    "parse_names",
    "phase_of",
]
