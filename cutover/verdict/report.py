"""Is the candidate ready? The numbers of shadow mode, per worker and route pair.

For each worker and (primary route, candidate route) pair of the records given:

- **comparisons**: every record, whatever its outcome; counts by outcome;
- **match rate** = (``match`` + ``both_failed``) / comparisons, and **mismatch rate** =
  (``mismatch`` + ``candidate_error`` + ``candidate_timeout``) / comparisons: the two add up
  to 1 (see :mod:`compat.shadow.records` for the outcomes);
- **latency** p50 / p95 of primary and candidate (nearest-rank percentiles). A timed-out
  candidate counts with the worker's ``shadow.timeout_s``: it took at least that long, and
  leaving it out would flatter the candidate;
- the most frequent **mismatch diffs**, grouped by :func:`~compat.shadow.compare.diff_signature`
  (list indices and values generalised), each with one concrete diff line and one sample
  input; candidate errors grouped by exception type the same way;
- the **noisy paths** learned and ignored while comparing;
- the **verdict** (:mod:`cutover.verdict.criteria`): ``ready``, ``not_ready`` or
  ``undecided``, from anytime-valid bounds at level ``shadow.alpha`` on

  1. the **noise-corrected mismatch rate** (a mismatch whose every difference lies on a path
     the worker learned as noisy, from two primary runs that differed there, is noise, not a
     defect: Diffy's rule) against ``shadow.max_mismatch_rate``;
  2. the **candidate error rate** (errors and timeouts) against
     ``shadow.max_candidate_error_rate``;
  3. the **median per-call latency ratio** candidate / primary (timeouts and shadows skipped
     under load count as slower than allowed) against ``shadow.max_candidate_p95_ratio``;

  and the ``shadow.min_comparisons`` floor before ``ready``. The report can be read after
  every batch: the chance that a verdict it ever gives is wrong is at most ``alpha``.
- the **latency split** where the engines report it (:mod:`adapters.timing`): p50 / p95 of
  each side's queue wait and execution, and two *informational* criteria beside the verdict
  (never part of it): the median per-call **execution ratio** candidate / primary against
  ``shadow.max_candidate_p95_ratio`` ("is the engine slower?"), and the median per-call
  **queue wait** of the candidate in primary latencies against the slowdown the flags allow
  (``max_candidate_p95_ratio - 1``: "is the queue eating the budget?"). See docs/VERDICT.md.

The thresholds are the worker's current ``shadow`` flags; a worker with no shadow
configuration any more is judged by the defaults of :class:`~flags.ShadowConfig`.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from compat.shadow.compare import MAX_DIFFS, diff_signature
from compat.shadow.normalize import PATH_PREFIX, PatternSet, parse_path, pattern_set
from compat.shadow.records import (
    AGREEMENTS,
    CANDIDATE_ERROR,
    CANDIDATE_TIMEOUT,
    DISAGREEMENTS,
    MISMATCH,
    OUTCOMES,
    ShadowRecord,
)
from cutover.verdict import items as per_item
from cutover.verdict.criteria import (
    Criterion,
    Verdict,
    combine,
    floor_criterion,
    latency_criterion,
    percent,
    rate_criterion,
)
from cutover.verdict.latency import Latency, LatencySplit, percentile
from cutover.verdict.latency import latency_of as _latency
from cutover.verdict.split import split_criteria
from flags import ShadowConfig
from ground.errors import FlagValidationError

TOP_DIFFS: Final = 5
"""Mismatch groups (and candidate error groups) shown per route pair."""


# --- the report's parts ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DiffGroup:
    """Records that share one kind of difference (or one candidate exception type)."""

    signature: str
    count: int
    example: str
    call_id: str
    sample_input: Any

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "signature": self.signature,
            "count": self.count,
            "example": self.example,
            "call_id": self.call_id,
            "sample_input": self.sample_input,
        }


@dataclass(frozen=True, slots=True)
class PairReport:
    """Shadow numbers of one worker and one (primary route, candidate route) pair."""

    worker: str
    primary_route: str
    candidate_route: str
    comparisons: int
    outcomes: Mapping[str, int]
    match_rate: float | None
    mismatch_rate: float | None
    primary_latency: Latency
    candidate_latency: Latency
    top_mismatches: tuple[DiffGroup, ...]
    candidate_errors: tuple[DiffGroup, ...]
    noisy_paths: tuple[str, ...]
    noise: int
    """Mismatches whose every difference is on a learned noisy path (not counted)."""
    skipped: int
    """Calls sampled for a shadow but skipped because too many shadows were in flight."""
    operations: Mapping[str, int]
    flag_versions: tuple[int, int]
    first_at: float
    last_at: float
    verdict: Verdict
    items: per_item.ItemsReport = per_item.NO_ITEMS
    """Batch calls whose items differed: which items, their inputs and diffs, the counts."""
    split: LatencySplit = field(default_factory=LatencySplit)
    """Each side's queue wait and execution, over the records that carry them."""
    failures: per_item.FailuresReport = per_item.NO_FAILURES
    """Batch calls in which a side raised: the items its (remote) engine named as raising."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "worker": self.worker,
            "primary_route": self.primary_route,
            "candidate_route": self.candidate_route,
            "comparisons": self.comparisons,
            "outcomes": dict(self.outcomes),
            "match_rate": self.match_rate,
            "mismatch_rate": self.mismatch_rate,
            "latency": {
                "primary": self.primary_latency.to_dict(),
                "candidate": self.candidate_latency.to_dict(),
            },
            "latency_split": self.split.to_dict(),
            "top_mismatches": [group.to_dict() for group in self.top_mismatches],
            "candidate_errors": [group.to_dict() for group in self.candidate_errors],
            "noisy_paths": list(self.noisy_paths),
            "noise": self.noise,
            "skipped": self.skipped,
            "operations": dict(self.operations),
            "flag_versions": list(self.flag_versions),
            "first_at": self.first_at,
            "last_at": self.last_at,
            "item_mismatches": self.items.to_dict(),
            "failed_items": self.failures.to_dict(),
            # "verdict", "ready", "alpha", "samples_needed", "thresholds_from", "criteria"
            **self.verdict.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class ShadowReport:
    """Every route pair of every worker with records, sorted by worker."""

    pairs: tuple[PairReport, ...]
    generated_at: float = field(default_factory=time.time)
    source: str | None = None
    """Where the records were read (a URL without its password, a directory)."""
    older: Mapping[str, int] = field(default_factory=dict)
    """Per worker, records left out because they predate its last flag change."""

    def pair(self, worker: str, candidate_route: str | None = None) -> PairReport:
        """The (first) pair of ``worker``, optionally the one with ``candidate_route``."""
        for pair in self.pairs:
            if pair.worker == worker and candidate_route in (None, pair.candidate_route):
                return pair
        raise KeyError(worker)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (what ``cutover shadow report --json`` prints)."""
        return {
            "generated_at": self.generated_at,
            "source": self.source,
            "older_records": dict(self.older),
            "pairs": [pair.to_dict() for pair in self.pairs],
        }

    def render_text(self) -> str:
        """Human-readable: a summary table, then each pair's details."""
        return _render(self)


# --- building ------------------------------------------------------------------------------


def _thresholds(config: ShadowConfig | None, candidate_route: str) -> tuple[ShadowConfig, str]:
    if config is not None:
        return config, "flags"
    try:
        return ShadowConfig(route=candidate_route), "defaults"  # type: ignore[arg-type]
    except FlagValidationError:
        return ShadowConfig(route="legacy"), "defaults"


def _groups(found: dict[str, list[Any]]) -> tuple[DiffGroup, ...]:
    ranked = sorted(found.items(), key=lambda item: -item[1][0])
    return tuple(
        DiffGroup(signature, count, example, call_id, sample)
        for signature, (count, example, call_id, sample) in ranked[:TOP_DIFFS]
    )


def _is_noise(record: ShadowRecord, noisy: PatternSet) -> bool:
    """A mismatch whose every recorded difference is on a learned noisy path.

    Only when the record kept every difference (fewer than the most a record keeps): a
    difference not shown could be a real one.
    """
    if record.outcome != MISMATCH or not noisy or not record.diffs:
        return False
    if len(record.diffs) >= MAX_DIFFS:
        return False
    for line in record.diffs:
        prefix = PATH_PREFIX.match(line)
        if prefix is None or line[prefix.end() : prefix.end() + 2] != ": ":
            return False
        segments = parse_path(prefix.group())
        if segments is None or not noisy.matches_within(segments):
            return False
    return True


def _latency_ratios(records: Sequence[ShadowRecord]) -> list[float]:
    """Per call, candidate latency / primary latency of the same call, in time order.

    A timeout, and each shadow skipped under load before a record, is ``inf``: slower than
    any allowance, whatever it really took. Calls without both latencies are left out.
    """
    ratios: list[float] = []
    for record in records:
        ratios.extend([math.inf] * record.skipped)
        if record.outcome == CANDIDATE_TIMEOUT:
            ratios.append(math.inf)
        elif record.candidate_latency_s is not None and record.primary_latency_s > 0:
            ratios.append(record.candidate_latency_s / record.primary_latency_s)
    return ratios


def _rate_criteria(
    ordered: Sequence[ShadowRecord], config: ShadowConfig, noisy: PatternSet
) -> list[Criterion]:
    """The mismatch and error rate criteria: one each, or one each per operation.

    A worker whose calls are of several operations (batch, pipeline, task, handler) gets its
    rates judged per operation: a rare operation that is broken must not hide in the pooled
    rate of a frequent one. ``alpha`` is then shared among the operations (each gets
    ``alpha / m``), so the chance that any of them is misjudged stays at most ``alpha``.
    """
    operations = sorted({record.operation for record in ordered})
    split = len(operations) > 1
    alpha = config.alpha / len(operations) if split else config.alpha

    def defect(record: ShadowRecord) -> bool:
        return record.outcome in DISAGREEMENTS and not _is_noise(record, noisy)

    def failed(record: ShadowRecord) -> bool:
        return record.outcome in (CANDIDATE_ERROR, CANDIDATE_TIMEOUT)

    rates: list[tuple[str, str, float, Callable[[ShadowRecord], bool]]] = [
        ("mismatch rate (noise-corrected)", "mismatch_rate", config.max_mismatch_rate, defect),
        ("candidate error rate", "error_rate", config.max_candidate_error_rate, failed),
    ]
    criteria: list[Criterion] = []
    for name, key, threshold, counts in rates:
        if not split:
            criteria.append(
                rate_criterion(name, key, [counts(r) for r in ordered], threshold, alpha)
            )
            continue
        for operation in operations:
            mine = [counts(r) for r in ordered if r.operation == operation]
            criterion = rate_criterion(
                f"{name}, {operation} calls",
                f"{key}:{operation}",
                mine,
                threshold,
                alpha,
                unit=f"{operation} comparisons",
            )
            criteria.append(replace(criterion, share=len(mine) / len(ordered)))
    return criteria


def judge(
    records: Sequence[ShadowRecord],
    config: ShadowConfig,
    source: str = "flags",
    noisy: PatternSet | None = None,
) -> Verdict:
    """The verdict on one candidate from its ``records`` (any order; judged in time order).

    What the report, ``promote`` and the guard all use. ``noisy``: the learned noisy paths
    (default: every path listed in ``records``).
    """
    ordered = sorted(records, key=lambda record: record.created_at)
    if noisy is None:
        noisy = pattern_set(sorted({path for r in ordered for path in r.noisy_paths}))
    alpha = config.alpha
    criteria = _rate_criteria(ordered, config, noisy)
    criteria.append(
        latency_criterion(_latency_ratios(ordered), config.max_candidate_p95_ratio, alpha)
    )
    if config.min_comparisons > 0:
        criteria.append(floor_criterion(len(ordered), config.min_comparisons, alpha))
    return combine(criteria, alpha, source, split_criteria(ordered, config))


def _pair_report(
    worker: str,
    primary_route: str,
    candidate_route: str,
    records: Sequence[ShadowRecord],
    config: ShadowConfig | None,
) -> PairReport:
    thresholds, source = _thresholds(config, candidate_route)
    outcomes = Counter(record.outcome for record in records)
    comparisons = len(records)
    agreements = sum(outcomes[name] for name in AGREEMENTS)
    disagreements = sum(outcomes[name] for name in DISAGREEMENTS)
    primary = _latency([record.primary_latency_s for record in records])
    candidate_latencies = []
    for record in records:
        if record.outcome == CANDIDATE_TIMEOUT:
            # It took at least the timeout (whatever the flags say now).
            candidate_latencies.append(max(thresholds.timeout_s, record.candidate_latency_s or 0.0))
        elif record.candidate_latency_s is not None:
            candidate_latencies.append(record.candidate_latency_s)
    candidate = _latency(candidate_latencies)
    mismatches: dict[str, list[Any]] = {}
    errors: dict[str, list[Any]] = {}
    for record in records:
        if record.outcome == MISMATCH:
            lines = record.diffs or ("$: (no difference recorded)",)
            for line in dict.fromkeys(lines):
                signature = diff_signature(line)
                _count(mismatches, signature, line, record)
        elif record.outcome == CANDIDATE_ERROR:
            message = record.candidate_error or "(no message)"
            _count(errors, message.split(":", 1)[0], message, record)
    versions = [record.flag_version for record in records]
    noisy_paths = tuple(sorted({path for record in records for path in record.noisy_paths}))
    noisy = pattern_set(noisy_paths)
    return PairReport(
        worker=worker,
        primary_route=primary_route,
        candidate_route=candidate_route,
        comparisons=comparisons,
        outcomes={name: outcomes[name] for name in OUTCOMES},
        match_rate=agreements / comparisons if comparisons else None,
        mismatch_rate=disagreements / comparisons if comparisons else None,
        primary_latency=primary,
        candidate_latency=candidate,
        top_mismatches=_groups(mismatches),
        candidate_errors=_groups(errors),
        noisy_paths=noisy_paths,
        noise=sum(_is_noise(record, noisy) for record in records),
        skipped=sum(record.skipped for record in records),
        operations=dict(Counter(record.operation for record in records)),
        flag_versions=(min(versions), max(versions)),
        first_at=min(record.created_at for record in records),
        last_at=max(record.created_at for record in records),
        verdict=judge(records, thresholds, source, noisy),
        items=per_item.items_report(records),
        split=LatencySplit.of(records),
        failures=per_item.failures_report(records),
    )


def _count(groups: dict[str, list[Any]], signature: str, line: str, record: ShadowRecord) -> None:
    entry = groups.get(signature)
    if entry is None:
        groups[signature] = [1, line, record.call_id, record.sample_input]
    else:
        entry[0] += 1


def build_report(
    records: Sequence[ShadowRecord],
    configs: Mapping[str, ShadowConfig | None],
    *,
    source: str | None = None,
    older: Mapping[str, int] | None = None,
) -> ShadowReport:
    """The report of ``records``, judged by each worker's shadow configuration in ``configs``.

    A worker missing from ``configs`` (or mapped to ``None``) is judged by the defaults.
    ``older``: how many records of each worker the caller left out as predating its last
    flag change (shown, not judged).
    """
    pairs: dict[tuple[str, str, str], list[ShadowRecord]] = {}
    for record in records:
        key = (record.worker, record.primary_route, record.candidate_route)
        pairs.setdefault(key, []).append(record)
    return ShadowReport(
        pairs=tuple(
            _pair_report(
                worker, primary, candidate, pairs[worker, primary, candidate], configs.get(worker)
            )
            for worker, primary, candidate in sorted(pairs)
        ),
        source=source,
        older={worker: n for worker, n in (older or {}).items() if n},
    )


# --- rendering -----------------------------------------------------------------------------


_percent = percent

_BARS: Final = "▁▂▃▄▅▆▇█"


def state_text(verdict: Verdict) -> str:
    """``READY``, ``NOT READY`` or ``UNDECIDED`` (with the comparisons still needed)."""
    text = verdict.text
    if verdict.state == "undecided" and verdict.samples_needed:
        text += f" (~{verdict.samples_needed} more)"
    return text


def sparkline(criterion: Criterion) -> str:
    """The upper bound at growing sample sizes, one bar each, on a scale from 0 to twice the
    threshold (``█`` at or above it): a bound that sinks below the middle has passed."""
    uppers = [high for _, _, high in criterion.history]
    if not uppers:
        return ""
    finite = [u for u in uppers if math.isfinite(u)]
    top = criterion.threshold * 2 or max(finite, default=0.0) or 1.0

    def bar(value: float) -> str:
        if not math.isfinite(value) or value >= top:
            return _BARS[-1]
        return _BARS[min(int(value / top * len(_BARS)), len(_BARS) - 1)]

    return "".join(bar(u) for u in uppers) + f"  (limit at {bar(criterion.threshold)})"


def _duration(seconds: float | None, digits: int = 1) -> str:
    if seconds is None or math.isnan(seconds):
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.{digits}f} ms"
    return f"{seconds:.{digits + 1}f} s"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "") -> list[str]:
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    return [
        indent
        + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in (header, *rows)
    ]


def _sample(value: Any, limit: int = 100) -> str:
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _render_pair(pair: PairReport) -> list[str]:
    state = state_text(pair.verdict)
    low, high = pair.flag_versions
    versions = str(low) if low == high else f"{low}-{high}"
    lines = [
        f"{pair.worker}: {pair.primary_route} -> {pair.candidate_route}  [{state}]",
        f"  {pair.comparisons} comparisons, flag version {versions}, "
        + ", ".join(f"{op} {n}" for op, n in sorted(pair.operations.items())),
        "  outcomes: " + ", ".join(f"{name} {pair.outcomes[name]}" for name in OUTCOMES),
        f"  match rate {_percent(pair.match_rate)}, mismatch rate {_percent(pair.mismatch_rate)}"
        f" ({pair.noise} noise, not counted); {pair.skipped} shadows skipped under load",
        "",
    ]
    lines += _table(
        ("latency", "p50", "p95", "samples"),
        [
            (name, _duration(lat.p50), _duration(lat.p95), str(lat.samples))
            for name, lat in (
                ("primary", pair.primary_latency),
                ("  queue wait", pair.split.primary_queue_wait),
                ("  execution", pair.split.primary_execution),
                ("candidate", pair.candidate_latency),
                ("  queue wait", pair.split.candidate_queue_wait),
                ("  execution", pair.split.candidate_execution),
            )
            if lat.samples or not name.startswith(" ")
        ],
        indent="  ",
    )
    thresholds = "" if pair.verdict.thresholds_from == "flags" else " (default thresholds)"
    lines += ["", f"  verdict: {state}{thresholds}, alpha {pair.verdict.alpha:g}"]
    for criterion in pair.verdict.criteria:
        lines.append(f"    {criterion.line()}")
        if criterion.history:
            lines.append(f"           upper bound: {sparkline(criterion)}")
    if pair.verdict.informational:
        lines.append("  latency split (informational, not part of the verdict):")
        lines += [f"    {criterion.line()}" for criterion in pair.verdict.informational]
    for title, groups in (
        ("most frequent mismatches", pair.top_mismatches),
        ("candidate errors", pair.candidate_errors),
    ):
        if groups:
            lines += ["", f"  {title}:"]
            for group in groups:
                lines += [
                    f"    {group.count:>6}x  {group.signature}",
                    f"             e.g. {group.example}",
                    f"             input ({group.call_id}): {_sample(group.sample_input)}",
                ]
    lines += per_item.render_items(pair.items) + per_item.render_failures(pair.failures)
    if pair.noisy_paths:
        lines += ["", "  noisy paths (learned, ignored): " + ", ".join(pair.noisy_paths)]
    return lines


def _render(report: ShadowReport) -> str:
    if not report.pairs:
        where = f" in {report.source}" if report.source else ""
        left_out = sum(report.older.values())
        if left_out:
            return (
                f"no shadow records since the last flag change{where} ({left_out} older ones "
                "left out; --all-versions includes them)\n"
            )
        return f"no shadow records{where}\n"
    header = (
        "WORKER",
        "PRIMARY -> CANDIDATE",
        "COMPARISONS",
        "MATCH",
        "MISMATCH",
        "ERROR",
        "TIMEOUT",
        "P95 PRIMARY",
        "P95 CANDIDATE",
        "VERDICT",
    )
    rows = [
        (
            pair.worker,
            f"{pair.primary_route} -> {pair.candidate_route}",
            str(pair.comparisons),
            _percent(pair.match_rate),
            str(pair.outcomes[MISMATCH]),
            str(pair.outcomes[CANDIDATE_ERROR]),
            str(pair.outcomes[CANDIDATE_TIMEOUT]),
            _duration(pair.primary_latency.p95),
            _duration(pair.candidate_latency.p95),
            pair.verdict.text,
        )
        for pair in report.pairs
    ]
    lines = _table(header, rows)
    if report.source:
        lines.append(f"(records from {report.source})")
    left_out = sum(report.older.values())
    if left_out:
        lines.append(
            f"(only records since each worker's last flag change: {left_out} older ones left "
            "out; --all-versions includes them)"
        )
    for pair in report.pairs:
        lines += ["", *_render_pair(pair)]
    return "\n".join(lines) + "\n"


__all__ = [
    "TOP_DIFFS",
    "Criterion",
    "DiffGroup",
    "Latency",
    "PairReport",
    "ShadowReport",
    "Verdict",
    "build_report",
    "judge",
    "percentile",
    "sparkline",
    "state_text",
]
