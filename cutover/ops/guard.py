"""The automatic guard: roll a worker back when its recent shadow numbers go bad.

One pass (:func:`run_guard_once`) looks at every worker that has a candidate (an engine being
rolled out or shadowed, see :func:`cutover.ops.evidence.candidate_of`). It judges the
worker's shadow records with that candidate made since its last flag change and within a
sliding window (``CUTOVER_GUARD_WINDOW_S``, default 300 s) by **the same verdict** as
``cutover shadow report`` and ``promote`` (:mod:`cutover.verdict`): anytime-valid bounds on
the noise-corrected mismatch rate, the candidate error rate and the per-call latency ratio,
against the worker's own thresholds (the defaults when its shadow is about another engine).

The guard trips only when the verdict is ``not_ready``: some criterion is *proven* worse than
its threshold, at level ``shadow.alpha``. That needs no fixed number of comparisons: a
candidate that fails every call is proven bad after a handful, whatever the traffic, while a
rate near its limit waits for the evidence. A tripped worker whose calls partly leave its
base is rolled back at once (:func:`cutover.ops.rollout.rollback`, actor ``auto-guard``, the
failing criteria with their bounds in the reason); one already on its base is only
reported, so a bad window does not write an audit entry on every pass. A rollback is a flag
change: the evidence starts again from it.

Where it runs: ``cutover guard`` (a loop; ``--once`` for one pass) or the Celery Beat
schedule shipped with the app (task ``cutover.guard``, every ``CUTOVER_GUARD_INTERVAL_S``).
Several guards may run at once: a rollback is idempotent.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from compat.shadow.recorders import ShadowRecorder
from compat.shadow.records import CANDIDATE_ERROR, CANDIDATE_TIMEOUT, DISAGREEMENTS, ShadowRecord
from cutover.ops.evidence import candidate_of, evidence_for, made_under
from cutover.ops.guard_settings import GUARD_ACTOR, GuardSettings
from cutover.ops.rollout import rollback
from cutover.verdict.criteria import Verdict
from cutover.verdict.report import state_text
from flags.model import FlagRecord, ShadowConfig
from flags.store import FlagStore
from ground.errors import CutoverError
from ground.logs import get_logger

log = get_logger("cutover.ops.guard")

Status = Literal["rolled-back", "tripped", "healthy", "undecided", "too-few-samples", "error"]
"""``healthy``: proven good; ``undecided``: not proven either way yet; ``too-few-samples``:
no comparison since the last flag change in the window."""


@dataclass(frozen=True, slots=True)
class WindowStats:
    """The shadow numbers of one worker's candidate over the guard's window."""

    candidate: str
    window_s: float
    comparisons: int
    disagreements: int
    candidate_errors: int

    @property
    def mismatch_rate(self) -> float | None:
        """Disagreements / comparisons (``None`` without comparisons)."""
        return self.disagreements / self.comparisons if self.comparisons else None

    @property
    def candidate_error_rate(self) -> float | None:
        """Candidate errors and timeouts / comparisons (``None`` without comparisons)."""
        return self.candidate_errors / self.comparisons if self.comparisons else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "candidate": self.candidate,
            "window_s": self.window_s,
            "comparisons": self.comparisons,
            "disagreements": self.disagreements,
            "candidate_errors": self.candidate_errors,
            "mismatch_rate": self.mismatch_rate,
            "candidate_error_rate": self.candidate_error_rate,
        }


@dataclass(frozen=True, slots=True)
class GuardCheck:
    """What one pass found for one worker, and what it did."""

    worker: str
    status: Status
    candidate: str | None
    stats: WindowStats | None
    tripped: tuple[str, ...]
    """One line per criterion proven worse than its threshold, with its bounds."""
    flag_version: int
    detail: str
    verdict: Verdict | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (what ``cutover guard --json`` prints)."""
        return {
            "worker": self.worker,
            "status": self.status,
            "candidate": self.candidate,
            "window": None if self.stats is None else self.stats.to_dict(),
            "tripped": list(self.tripped),
            "flag_version": self.flag_version,
            "detail": self.detail,
            "verdict": None if self.verdict is None else self.verdict.to_dict(),
        }


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.2f}%"


def window_stats(
    records: Sequence[ShadowRecord], candidate: str, now: float, window_s: float
) -> WindowStats:
    """Count ``records`` of ``candidate`` made after ``now - window_s``.

    There is no upper bound: a record stamped a little in the future (a recorder whose clock
    runs ahead) is recent, and must not wait for this clock to catch up before it counts.
    """
    since = now - window_s
    comparisons = disagreements = errors = 0
    for record in records:
        if record.candidate_route != candidate or record.created_at <= since:
            continue
        comparisons += 1
        if record.outcome in DISAGREEMENTS:
            disagreements += 1
        if record.outcome in (CANDIDATE_ERROR, CANDIDATE_TIMEOUT):
            errors += 1
    return WindowStats(candidate, window_s, comparisons, disagreements, errors)


def crossed(stats: WindowStats, config: ShadowConfig) -> tuple[str, ...]:
    """The thresholds ``stats``' point estimates are above, one line each (empty: none).

    Kept for callers; the guard itself trips on the verdict (a bound, not a point estimate).
    """
    lines: list[str] = []
    rate = stats.mismatch_rate
    if rate is not None and rate > config.max_mismatch_rate:
        lines.append(
            f"mismatch rate {_percent(rate)} ({stats.disagreements} of {stats.comparisons}) > "
            f"{_percent(config.max_mismatch_rate)} allowed"
        )
    errors = stats.candidate_error_rate
    if errors is not None and errors > config.max_candidate_error_rate:
        lines.append(
            f"candidate error rate {_percent(errors)} ({stats.candidate_errors} of "
            f"{stats.comparisons}) > {_percent(config.max_candidate_error_rate)} allowed"
        )
    return tuple(lines)


def judge_worker(
    worker: str,
    record: FlagRecord,
    records: Sequence[ShadowRecord],
    now: float,
    window_s: float,
) -> GuardCheck | None:
    """What the guard thinks of ``worker`` (no I/O); ``None`` when it has no candidate.

    The status is ``tripped`` (verdict ``not_ready``), ``healthy`` (``ready``),
    ``undecided`` or ``too-few-samples``; :func:`run_guard_once` turns ``tripped`` into
    ``rolled-back`` when it had to write.
    """
    candidate = candidate_of(record)
    if candidate is None:
        return None
    recent = [r for r in records if r.created_at > now - window_s]
    evidence = evidence_for(worker, record, recent)
    scoped = [r for r in recent if made_under(record, r)]
    stats = window_stats(scoped, candidate, now, window_s)
    scope = f"in the last {window_s:g} s since the last flag change"
    pair = evidence.pair
    if pair is None:
        detail = f"no comparison of {candidate} {scope}; nothing to judge yet"
        return GuardCheck(worker, "too-few-samples", candidate, stats, (), record.version, detail)
    verdict = pair.verdict
    summary = (
        f"{pair.comparisons} comparisons of {candidate} {scope}: mismatch "
        f"{_percent(stats.mismatch_rate)}, candidate errors {_percent(stats.candidate_error_rate)}"
        f"; verdict {state_text(verdict)}"
    )
    if not verdict.not_ready:
        status: Status = "healthy" if verdict.ready else "undecided"
        return GuardCheck(worker, status, candidate, stats, (), record.version, summary, verdict)
    tripped = tuple(c.line() for c in verdict.criteria if c.state == "fail")
    detail = f"over the last {window_s:g} s of {candidate} shadows: " + "; ".join(tripped)
    return GuardCheck(worker, "tripped", candidate, stats, tripped, record.version, detail, verdict)


def run_guard_once(
    store: FlagStore,
    recorder: ShadowRecorder,
    now: float | None = None,
    *,
    settings: GuardSettings | None = None,
) -> list[GuardCheck]:
    """One pass over every worker with a candidate; roll back the tripped ones.

    ``now`` (epoch seconds, default the current time) ends the window. A worker whose
    records cannot be read is reported with status ``error`` and the others are still
    checked; an unreachable flag store raises :class:`~ground.errors.FlagStoreError`.
    """
    settings = settings or GuardSettings.from_env()
    now = time.time() if now is None else now
    checks: list[GuardCheck] = []
    for worker, record in sorted(store.snapshot().records.items()):
        if candidate_of(record) is None:
            continue
        try:
            records = recorder.read(worker, limit=settings.read_limit)
            check = judge_worker(worker, record, records, now, settings.window_s)
            if check is not None and check.status == "tripped":
                check = _roll_back(store, check)
        except CutoverError as exc:
            log.error("guard_check_failed", worker=worker, error=str(exc))
            check = GuardCheck(worker, "error", candidate_of(record), None, (), 0, str(exc))
        if check is not None:
            checks.append(check)
    return checks


def _roll_back(store: FlagStore, check: GuardCheck) -> GuardCheck:
    change = rollback(check.worker, f"{GUARD_ACTOR}: {check.detail}", GUARD_ACTOR, store=store)
    if not change.written:
        log.warning(
            "guard_tripped_on_base",
            worker=check.worker,
            route=change.new.base,
            flag_version=change.new.version,
            detail=check.detail,
        )
        return check
    log.error(
        "guard_rolled_back",
        worker=check.worker,
        route=change.new.base,
        flag_version=change.new.version,
        candidate=check.candidate,
        detail=check.detail,
    )
    return GuardCheck(
        check.worker,
        "rolled-back",
        check.candidate,
        check.stats,
        check.tripped,
        change.new.version,
        f"rolled back to {change.new.base} (from {change.old.route} at "
        f"{change.old.percent:g}%): {check.detail}",
        check.verdict,
    )


def run_guard_forever(
    store: FlagStore,
    recorder: ShadowRecorder,
    stop: threading.Event,
    *,
    settings: GuardSettings | None = None,
    on_pass: Callable[[list[GuardCheck]], None] | None = None,
) -> int:
    """Run a pass every ``settings.interval_s`` until ``stop`` is set; return the passes run.

    A pass that fails (the flag store unreachable) is logged and the next one runs on time.
    """
    settings = settings or GuardSettings.from_env()
    passes = 0
    while not stop.is_set():
        started = time.monotonic()
        try:
            checks = run_guard_once(store, recorder, settings=settings)
        except CutoverError as exc:
            log.error("guard_pass_failed", error=str(exc))
        else:
            if on_pass is not None:
                on_pass(checks)
        passes += 1
        stop.wait(max(settings.interval_s - (time.monotonic() - started), 0.0))
    return passes


__all__ = [
    "GuardCheck",
    "Status",
    "WindowStats",
    "crossed",
    "judge_worker",
    "run_guard_forever",
    "run_guard_once",
    "window_stats",
]
