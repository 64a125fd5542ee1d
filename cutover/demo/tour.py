"""The staged cutover that ``cutover demo`` walks three sample workers through.

Three production-like workers, each calling the shim's
``AsyncWorkerOptimizer.optimize_batch_processing`` with its own task:

- ``demo-io-light`` (``io_light``, ~1 ms of I/O per item) moves to Celery;
- ``demo-mixed`` (``mixed``, ~2 ms I/O + 2 ms CPU) moves to Celery, and once per stage also
  calls ``stamp_process``, the deliberately divergent task;
- ``demo-cpu-heavy`` (``cpu_heavy``, ~10 ms CPU) moves to Ray.

Four stages, each a real flag change written to the flag store (audited, with a reason) and
picked up by the live :class:`~flags.FlagTable` of this process:

1. ``legacy``: every call on the legacy code, as before the migration;
2. ``shadow``: still legacy for the caller; every call also runs on the candidate engine,
   off the caller's path, and the results are compared and recorded;
3. ``25%``: a quarter of the calls (sticky per routing key) run on the candidate, the rest
   on legacy, still shadowed on the candidate;
4. ``100%``: every call on the candidate.

After each stage a table shows, per worker, where the calls ran, their latency and the
shadow match rate of that stage; at the end, the shadow report of
:mod:`cutover.verdict.report` built from the recorded comparisons.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TextIO

import compat
import flags
from adapters.base import CallOptions, TaskFunc
from adapters.celery.settings import queue_for_worker
from adapters.registry import get_engine
from compat import metrics
from compat.router import Router, set_router
from compat.shadow.recorders import ShadowRecorder, open_recorder
from compat.shadow.records import AGREEMENTS, MISMATCH, OUTCOMES, ShadowRecord
from compat.shadow.runner import ShadowRunner, set_shadow_runner
from cutover.demo import tasks
from cutover.demo.progress import ProgressBar
from cutover.demo.services import Services, prepare_environment
from cutover.verdict.report import ShadowReport, build_report, state_text
from ground.logs import mask_url

ACTOR: Final = "cutover demo"
SHADOW_TIMEOUT_S: Final = 60.0
FLAG_PROPAGATION_TIMEOUT_S: Final = 10.0
DIVERGENT_ITEMS: Final = 3


@dataclass(frozen=True)
class SampleWorker:
    """One production-like worker of the tour."""

    worker_id: str
    task: TaskFunc
    items_per_call: int
    candidate: flags.Engine
    summary: str
    divergent: TaskFunc | None = None
    """A second task this worker calls once per stage (the deliberately divergent one)."""


WORKERS: Final = (
    SampleWorker("demo-io-light", tasks.io_light, 50, "celery", "I/O-light: ~1 ms of I/O per item"),
    SampleWorker(
        "demo-mixed",
        tasks.mixed,
        60,
        "celery",
        "mixed: ~2 ms I/O + 2 ms CPU per item; also calls stamp_process",
        divergent=tasks.stamp_process,
    ),
    SampleWorker("demo-cpu-heavy", tasks.cpu_heavy, 40, "ray", "CPU-heavy: ~10 ms CPU per item"),
)


def shadow_config(worker: SampleWorker, comparisons: int) -> flags.ShadowConfig:
    """Shadow every call on the worker's candidate, the default limits, a floor of
    ``comparisons``: a tour's handful of comparisons proves a divergent worker bad but no
    worker good (UNDECIDED, with the comparisons still needed: docs/VERDICT.md)."""
    return flags.ShadowConfig(
        route=worker.candidate,
        sample=1.0,
        timeout_s=SHADOW_TIMEOUT_S,
        min_comparisons=comparisons,
    )


@dataclass(frozen=True)
class Stage:
    """One step of the cutover: the flags it writes and why."""

    name: str
    summary: str
    flags_for: Callable[[SampleWorker, int], flags.FlagRecord]


STAGES: Final = (
    Stage(
        "legacy",
        "every call on the legacy code, as before the migration",
        lambda worker, comparisons: flags.FlagRecord(route="legacy"),
    ),
    Stage(
        "shadow",
        "callers still get legacy's results; every call also runs on the candidate, "
        "compared off the caller's path",
        lambda worker, comparisons: flags.FlagRecord(
            route="legacy", shadow=shadow_config(worker, comparisons)
        ),
    ),
    Stage(
        "25%",
        "a quarter of the calls (sticky per routing key) on the candidate, the rest on "
        "legacy and still shadowed",
        lambda worker, comparisons: flags.FlagRecord(
            route=worker.candidate,
            percent=25.0,
            base="legacy",
            shadow=shadow_config(worker, comparisons),
        ),
    ),
    Stage(
        "100%",
        "every call on the candidate",
        lambda worker, comparisons: flags.FlagRecord(route=worker.candidate, percent=100.0),
    ),
)


@dataclass
class WorkerStageResult:
    """What one worker did in one stage."""

    worker: str
    flags_text: str
    latencies_s: list[float] = field(default_factory=list)
    ran_on: Counter[str] = field(default_factory=Counter)
    shadow_outcomes: Counter[str] = field(default_factory=Counter)
    wrong_results: int = 0

    @property
    def compared(self) -> int:
        """Shadow comparisons recorded in this stage."""
        return sum(self.shadow_outcomes.values())

    @property
    def match_rate(self) -> float | None:
        """Agreements / comparisons (``None`` without comparisons)."""
        if not self.compared:
            return None
        return sum(self.shadow_outcomes[o] for o in AGREEMENTS) / self.compared


@dataclass
class TourResult:
    """Everything the tour measured, for the closing summary and the tests."""

    stages: list[tuple[Stage, list[WorkerStageResult]]] = field(default_factory=list)
    report: ShadowReport | None = None
    mismatches: list[ShadowRecord] = field(default_factory=list)
    flag_changes: dict[str, int] = field(default_factory=dict)


def describe_flags(record: flags.FlagRecord) -> str:
    """A short text of a worker's routing flags: ``celery 25% (else legacy), shadow→celery``."""
    text: str
    if record.percent >= 100:
        text = record.route
    elif record.percent <= 0:
        text = record.base
    else:
        text = f"{record.route} {record.percent:g}% (else {record.base})"
    if record.shadow is not None:
        text += f", shadow→{record.shadow.route} {record.shadow.sample:.0%}"
    return text


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f} ms"


def _percentile(values: Sequence[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))]


def stage_table(results: Sequence[WorkerStageResult]) -> list[str]:
    """The per-stage table: route, calls, latency, shadow match rate."""
    header = ("worker", "flags", "calls", "ran on", "p50", "p95", "shadow compared", "match rate")
    rows = []
    for result in results:
        rate = result.match_rate
        rows.append(
            (
                result.worker,
                result.flags_text,
                str(len(result.latencies_s)),
                ", ".join(f"{e} {n}" for e, n in sorted(result.ran_on.items())) or "-",
                _ms(statistics.median(result.latencies_s) if result.latencies_s else None),
                _ms(_percentile(result.latencies_s, 0.95)),
                str(result.compared) if result.compared else "-",
                "-" if rate is None else f"{rate:.0%}",
            )
        )
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    lines = ["  " + "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines += [
        "  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    return lines


class Tour:
    """Runs the stages against a flag store URL; prints to ``out``, progress on stderr."""

    def __init__(
        self,
        flags_url: str,
        calls_per_stage: int,
        out: TextIO,
        progress: ProgressBar,
        workers: Sequence[SampleWorker] = WORKERS,
    ) -> None:
        self.flags_url = flags_url
        self.calls = calls_per_stage
        self.out = out
        self.progress = progress
        self.workers = tuple(workers)
        self.store = flags.open_store(flags_url)
        self.table = flags.FlagTable(self.store)
        self.recorder: ShadowRecorder = open_recorder(flags_url)
        self.shadows = ShadowRunner(recorder=self.recorder)
        self.result = TourResult()

    @staticmethod
    def steps(calls_per_stage: int, workers: Sequence[SampleWorker] = WORKERS) -> int:
        """Progress steps: every call of every stage."""
        per_stage = sum(calls_per_stage + (1 if w.divergent else 0) for w in workers)
        return per_stage * len(STAGES)

    def print(self, *lines: str) -> None:
        """Write lines to the output now (so they interleave well with the progress bar)."""
        self.out.write("\n".join(lines) + "\n")
        self.out.flush()

    async def run(self) -> TourResult:
        """Every stage, then the shadow report. Restores the process-wide router at the end."""
        set_router(Router(table=self.table, shadows=self.shadows))
        set_shadow_runner(self.shadows)
        try:
            for number, stage in enumerate(STAGES, start=1):
                await self._stage(number, stage)
            self._finish()
        finally:
            with contextlib.suppress(Exception):
                await self.shadows.drain(SHADOW_TIMEOUT_S)
            set_router(None)
            set_shadow_runner(None)
            self.table.close()
            self.recorder.close()
            self.store.close()
        return self.result

    # --- one stage ---------------------------------------------------------------------

    async def _set_flags(self, stage: Stage, worker: SampleWorker) -> flags.FlagRecord:
        wanted = stage.flags_for(worker, self.calls + (1 if worker.divergent else 0))
        _, new = await asyncio.to_thread(
            self.store.update,
            worker.worker_id,
            lambda _old: wanted,
            actor=ACTOR,
            reason=f"demo stage {stage.name}: {stage.summary}",
        )
        deadline = time.monotonic() + FLAG_PROPAGATION_TIMEOUT_S
        while self.table.record(worker.worker_id).version < new.version:
            if time.monotonic() > deadline:
                await asyncio.to_thread(self.table.refresh)
                break
            await asyncio.sleep(0.01)
        return new

    async def _stage(self, number: int, stage: Stage) -> None:
        self.print(f"stage {number}/{len(STAGES)} · {stage.name}: {stage.summary}")
        results = []
        for worker in self.workers:
            written = await self._set_flags(stage, worker)
            results.append(await self._run_worker(stage, worker, written))
        self.result.stages.append((stage, results))
        self.print(*stage_table(results))
        for caught in self._new_mismatches():
            first = caught.diffs[0] if caught.diffs else "(no difference recorded)"
            self.print(
                f"  mismatch caught in {caught.worker} ({caught.primary_route} -> "
                f"{caught.candidate_route}, call {caught.call_id}): {first}"
            )
        self.print("")

    async def _run_worker(
        self, stage: Stage, worker: SampleWorker, record: flags.FlagRecord
    ) -> WorkerStageResult:
        result = WorkerStageResult(worker.worker_id, describe_flags(record))
        before = self._counters(worker)
        calls: list[tuple[TaskFunc, int]] = [(worker.task, worker.items_per_call)] * self.calls
        if worker.divergent is not None:
            calls.append((worker.divergent, DIVERGENT_ITEMS))
        async with compat.AsyncWorkerOptimizer(worker_id=worker.worker_id) as optimizer:
            for index, (task, size) in enumerate(calls):
                self.progress.set_label(
                    f"{stage.name} · {worker.worker_id} · call {index + 1}/{len(calls)}"
                )
                items = list(range(index * size, (index + 1) * size))
                with compat.routing_key(f"order-{index}"):  # sticky: one order, one route
                    started = time.perf_counter()
                    values = await optimizer.optimize_batch_processing(items, task)
                    result.latencies_s.append(time.perf_counter() - started)
                if task is not worker.divergent and values != await _expected(task, items):
                    result.wrong_results += 1
                # One request at a time, as a lightly loaded worker sees them: the next call
                # starts when this one's shadow is judged, so candidates never queue behind
                # each other and their latency is the engine's, not the demo's pace.
                await compat.drain_shadows(SHADOW_TIMEOUT_S)
                self.progress.advance()
        # Leaving the block drained this worker's shadows: the counters are complete.
        after = self._counters(worker)
        for (name, engine), count in after.items():
            delta = count - before.get((name, engine), 0)
            if delta and name == "calls":
                result.ran_on[engine] += delta
            elif delta and name.startswith("shadow_"):
                result.shadow_outcomes[name.removeprefix("shadow_")] += delta
        return result

    @staticmethod
    def _counters(worker: SampleWorker) -> dict[tuple[str, str], int]:
        names = ["calls", *(f"shadow_{outcome}" for outcome in OUTCOMES)]
        return {
            (name, engine): metrics.value(name, worker.worker_id, engine)
            for name in names
            for engine in flags.ENGINES
        }

    def _new_mismatches(self) -> list[ShadowRecord]:
        self.recorder.flush()
        seen = {record.call_id for record in self.result.mismatches}
        found = [
            record
            for worker in self.workers
            for record in self.recorder.read(worker.worker_id)
            if record.outcome == MISMATCH and record.call_id not in seen
        ]
        self.result.mismatches += found
        return found

    # --- the end -----------------------------------------------------------------------

    def _finish(self) -> None:
        self.recorder.flush()
        records = [r for w in self.workers for r in self.recorder.read(w.worker_id)]
        configs = {
            worker.worker_id: shadow_config(worker, self._comparisons_expected(worker))
            for worker in self.workers
        }
        report = build_report(records, configs, source=mask_url(self.flags_url))
        self.result.report = report
        self.result.flag_changes = {
            worker.worker_id: len(self.store.history(worker.worker_id)) for worker in self.workers
        }
        self.print(
            "shadow report (cutover.verdict.report, as `cutover shadow report` prints it; judged "
            "by each worker's shadow flags of the shadow stage):",
            "",
            report.render_text().rstrip(),
            "",
        )

    def _comparisons_expected(self, worker: SampleWorker) -> int:
        return self.calls + (1 if worker.divergent else 0)


@functools.cache
def _burn_result(milliseconds: float) -> int:
    return tasks.burn_cpu(milliseconds)


async def _expected(task: TaskFunc, items: Sequence[int]) -> list[Any]:
    """What the legacy code computes for ``items``, for a quick correctness check."""
    if task is tasks.io_light:
        return [item * 2 for item in items]
    if task in (tasks.mixed, tasks.cpu_heavy):
        offset = _burn_result(2 if task is tasks.mixed else 10)
        return [item + offset for item in items]
    return [await task(item) for item in items]


# --- the whole command ---------------------------------------------------------------------


SHORT_CALLS: Final = 3
FULL_CALLS: Final = 10


async def run_demo(
    *,
    short: bool = False,
    redis_url: str | None = None,
    broker_url: str | None = None,
    out: TextIO | None = None,
) -> int:
    """``cutover demo``: start the services, walk the tour, stop everything; exit status."""
    out = out if out is not None else sys.stdout
    started = time.monotonic()
    prepare_environment()
    calls = SHORT_CALLS if short else FULL_CALLS

    def say(*lines: str) -> None:
        out.write("\n".join(lines) + "\n")
        out.flush()

    say(
        f"cutover demo: {len(WORKERS)} sample workers, legacy -> shadow -> 25% -> 100%, "
        f"{calls} calls per worker and stage" + (" (--short)" if short else "")
    )
    for worker in WORKERS:
        say(f"  {worker.worker_id:<16} {worker.summary}; moves to {worker.candidate}")
    say("")
    result: TourResult | None = None
    with tempfile.TemporaryDirectory(prefix="cutover-demo-") as workdir:
        # The flags snapshot and anything else cutover keeps locally stay in the temp dir.
        os.environ["CUTOVER_HOME"] = str(Path(workdir) / "home")
        services = Services(
            Path(workdir),
            redis_url=redis_url,
            broker_url=broker_url,
            queues=tuple(queue_for_worker(worker.worker_id) for worker in WORKERS),
            worker_name="cutover-demo",
        )
        progress = ProgressBar(Tour.steps(calls), "demo")
        try:
            async with services:
                progress.set_label("starting Redis")
                flags_url = await services.start_redis()
                os.environ["CUTOVER_FLAGS_URL"] = flags_url
                progress.set_label("starting a Celery worker and Ray")
                await asyncio.gather(services.start_celery(), services.start_ray())
                await services.start_celery_engine()
                progress.set_label("warming up the engines")
                warmup_s = await warm_up(WORKERS)
                say(*_services_lines(services, flags_url, warmup_s), "")
                tour = Tour(flags_url, calls, out, progress)
                result = await tour.run()
                progress.close()
        finally:
            left = services.still_running()
            say(
                "stopped: "
                + ", ".join(f"{p.name} (pid {p.pid})" for p in services.started)
                + (", the local Ray instance" if "ray" in services.startup_s else ""),
                "processes left running: "
                + (", ".join(str(pid) for pid in left) if left else "none"),
            )
    elapsed = time.monotonic() - started
    ok = result is not None and _summary(result, say)
    say(f"demo finished in {elapsed:.1f} s")
    return 0 if ok else 1


async def warm_up(workers: Sequence[SampleWorker]) -> float:
    """Run each worker's tasks once on its candidate engine, outside the tour.

    A fresh Celery pool child or Ray worker imports the task's module on its first task (a
    few hundred ms); production workers are long-lived, so the tour starts warm.
    """
    started = time.perf_counter()
    for worker in workers:
        engine = get_engine(worker.candidate)
        for task in (worker.task, worker.divergent):
            if task is not None:
                options = CallOptions(worker_id=worker.worker_id, call_id="demo-warm-up")
                await engine.map_batches(list(range(8)), task, 1, 8, options)
    return time.perf_counter() - started


def _services_lines(services: Services, flags_url: str, warmup_s: float) -> list[str]:
    redis = "embedded redis-server" if services.embedded else "Redis"
    settings = services.celery_settings
    lines = [
        f"services: {redis} at {mask_url(flags_url)} (flags, shadow records, Celery results)",
    ]
    if settings is not None:
        lines.append(f"  celery broker {mask_url(settings.broker_url)}")
    for process in services.started:
        lines.append(f"  started {process.name}: pid {process.pid}")
    lines.append(f"  started Ray: {len(services.ray_pids())} local processes")
    lines.append(
        "  start-up: "
        + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in services.startup_s.items())
        + f"; warm-up (the engines' workers import the tasks) {warmup_s:.1f} s"
    )
    return lines


def _summary(result: TourResult, say: Callable[..., None]) -> bool:
    """Closing lines; True when the tour did what it shows (a mismatch caught, no wrong result)."""
    wrong = sum(r.wrong_results for _, results in result.stages for r in results)
    caught = {record.worker for record in result.mismatches}
    lines = [
        "summary:",
        "  flag changes written and audited: "
        + ", ".join(f"{w} {n}" for w, n in result.flag_changes.items())
        + " (cutover flags history WORKER)",
        f"  shadow mismatches caught: {len(result.mismatches)}, in "
        + (", ".join(sorted(caught)) or "no worker"),
        f"  wrong results returned to a caller: {wrong} (the primary's result always wins)",
        "  shadow verdicts:",
    ]
    for pair in result.report.pairs if result.report else ():
        failed = [c for c in pair.verdict.criteria if not c.passed]
        verdict = state_text(pair.verdict)
        why = "; ".join(f"{c.name} {c.detail}" for c in failed)
        lines.append(
            f"    {pair.worker} ({pair.primary_route} -> {pair.candidate_route}): {verdict}"
            + (f": {why}" if why else "")
        )
    lines.append(
        "  (the tour moves every worker to 100% to show the ramp; a real cutover promotes a "
        "worker only once its verdict is READY)"
    )
    say(*lines)
    return wrong == 0 and bool(result.mismatches)


__all__ = [
    "STAGES",
    "WORKERS",
    "SampleWorker",
    "Stage",
    "Tour",
    "TourResult",
    "WorkerStageResult",
    "describe_flags",
    "run_demo",
    "shadow_config",
    "stage_table",
    "warm_up",
]
