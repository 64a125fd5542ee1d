"""``cutover report --html``: one self-contained page people look at during cutover week.

Per worker: its current flags and where its calls go, the rollout history as a timeline
(from the flag store's audit trail), the shadow match rate over time, primary vs candidate
latency distributions, the most frequent mismatch diffs and the readiness verdict (the one
``cutover promote`` applies, :mod:`cutover.ops.evidence`).

The page opens offline: CSS is inline, charts are inline SVG (:mod:`cutover.ops.svg`), and
there is no script at all. Everything that comes from flags or records (worker ids, reasons,
diffs, sample inputs) is escaped with :func:`html.escape`, so a diff that contains markup is
shown, never run.
"""

from __future__ import annotations

import html
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from compat.shadow.recorders import DEFAULT_READ_LIMIT, ShadowRecorder
from compat.shadow.records import AGREEMENTS, CANDIDATE_TIMEOUT, OUTCOMES, ShadowRecord
from cutover import __version__
from cutover.display import show_value
from cutover.ops.evidence import candidate_of, evidence_for, thresholds_of
from cutover.ops.html_items import failures_table, items_table, sample
from cutover.ops.rollout import describe_plan, plan_of, position
from cutover.ops.svg import Series, histogram_chart, line_chart
from cutover.verdict.criteria import Criterion
from cutover.verdict.report import DiffGroup, PairReport, build_report, state_text
from flags.model import FlagRecord, ShadowConfig
from flags.store import AuditEntry, FlagStore
from ground.errors import FlagError, InvalidArgumentError

HISTORY_LIMIT: Final = 200
"""Audit entries shown per worker."""
TIME_BINS: Final = 24
"""Points of the match-rate-over-time line."""
PRIMARY_COLOR: Final = "#2b6cb0"
CANDIDATE_COLOR: Final = "#dd6b20"
MATCH_COLOR: Final = "#2f855a"
PERCENT_COLOR: Final = "#6b46c1"
BOUND_COLOR: Final = "#c05621"
LOWER_COLOR: Final = "#2c7a7b"


def _show_html(value: Any) -> str:
    """A flag value as the page shows it: lists read as prose."""
    return show_value(value, ", ")


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


@dataclass(frozen=True, slots=True)
class WorkerView:
    """What the page shows about one worker, read from the store and the recorder."""

    worker: str
    record: FlagRecord
    history: tuple[AuditEntry, ...]
    records: tuple[ShadowRecord, ...]
    """The worker's shadow records with its candidate (all of them without one)."""
    candidate: str | None
    pair: PairReport | None
    problem: str | None = None
    """Why the flags could not be read (the worker then routes on legacy)."""


def collect_views(
    store: FlagStore,
    recorder: ShadowRecorder,
    workers: Sequence[str] | None = None,
    *,
    read_limit: int = DEFAULT_READ_LIMIT,
) -> list[WorkerView]:
    """Read what the page needs for ``workers`` (default: every worker with flags or records)."""
    if workers is None:
        names = sorted(set(store.list_workers()) | set(recorder.workers()))
    else:
        names = list(dict.fromkeys(workers))
    views: list[WorkerView] = []
    for worker in names:
        problem = None
        try:
            record = store.get(worker)
        except FlagError as exc:
            record, problem = FlagRecord(), str(exc)
        history = tuple(store.history(worker, limit=HISTORY_LIMIT))
        records = recorder.read(worker, limit=read_limit)
        candidate = candidate_of(record)
        if candidate is not None:
            mine = [r for r in records if r.candidate_route == candidate]
            pair = evidence_for(worker, record, mine).pair
        else:
            mine = list(records)
            report = build_report(mine, {worker: record.shadow})
            pair = max(report.pairs, key=lambda p: p.comparisons, default=None)
        views.append(WorkerView(worker, record, history, tuple(mine), candidate, pair, problem))
    return views


# --- numbers for the charts ------------------------------------------------------------------


def match_rate_series(
    records: Sequence[ShadowRecord], bins: int = TIME_BINS
) -> list[tuple[float, float]]:
    """``(time, match rate)`` per time bin that has records, oldest first."""
    if not records:
        return []
    first = min(r.created_at for r in records)
    last = max(r.created_at for r in records)
    width = (last - first) / bins or 1.0
    totals = [0] * bins
    agreed = [0] * bins
    for record in records:
        index = min(int((record.created_at - first) / width), bins - 1)
        totals[index] += 1
        agreed[index] += record.outcome in AGREEMENTS
    return [
        (first + (i + 0.5) * width if last > first else first, agreed[i] / totals[i])
        for i in range(bins)
        if totals[i]
    ]


def rollout_series(view: WorkerView, now: float) -> list[tuple[float, float]]:
    """``(time, percent of calls off the base)`` after each audited change, then now."""
    points: list[tuple[float, float]] = []
    for entry in view.history:
        if entry.new is None:
            continue
        try:
            at = datetime.fromisoformat(entry.at).timestamp()
            points.append((at, position(FlagRecord.from_dict(entry.new))))
        except (ValueError, FlagError):
            continue
    if points:
        points.append((max(now, points[-1][0]), position(view.record)))
    return points


def latencies(view: WorkerView) -> tuple[list[float], list[float]]:
    """Primary and candidate latencies (s) of the records; a timeout counts as the timeout."""
    timeout = (view.record.shadow or ShadowConfig(route="legacy")).timeout_s
    primary = [r.primary_latency_s for r in view.records]
    candidate = [
        max(timeout, r.candidate_latency_s or 0.0)
        if r.outcome == CANDIDATE_TIMEOUT
        else r.candidate_latency_s
        for r in view.records
        if r.outcome == CANDIDATE_TIMEOUT or r.candidate_latency_s is not None
    ]
    return primary, [c for c in candidate if c is not None]


# --- formatting ------------------------------------------------------------------------------


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%m-%d %H:%M:%S")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.3g} ms"
    return f"{seconds:.3g} s"


def _rate(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.2f}%"


def _routing(record: FlagRecord) -> str:
    if record.kill:
        return "killed: every call on legacy"
    off_base = position(record)
    if off_base <= 0:
        return f"every call on {record.base}"
    if off_base >= 100:
        return f"every call on {record.route}"
    return f"{off_base:g}% on {record.route}, {100 - off_base:g}% on {record.base}"


# --- the page --------------------------------------------------------------------------------

_CSS: Final = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
color:#1a202c;background:#f7fafc}
header{background:#1a365d;color:#fff;padding:16px 24px}
header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;opacity:.85}
main{padding:16px 24px;max-width:1320px}
section.worker{background:#fff;border:1px solid #e2e8f0;border-radius:8px;margin:16px 0;
padding:16px 20px}
section.worker h2{margin:0 0 4px;font-size:20px}
h3{font-size:15px;margin:18px 0 6px;color:#2d3748}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:16px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #edf2f7;vertical-align:top}
th{background:#edf2f7}
td.num{text-align:right;font-variant-numeric:tabular-nums}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px}
pre{white-space:pre-wrap;word-break:break-all;margin:0}
.verdict{display:inline-block;padding:2px 10px;border-radius:12px;font-weight:600}
.verdict.ready{background:#c6f6d5;color:#22543d}
.verdict.not-ready{background:#fed7d7;color:#742a2a}
.verdict.none{background:#e2e8f0;color:#4a5568}
.verdict.undecided{background:#fefcbf;color:#744210}
.pass{color:#22543d;font-weight:600}.fail{color:#9b2c2c;font-weight:600}
.undecided{color:#744210;font-weight:600}
div.bounds{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:8px}
.action-promote{color:#22543d;font-weight:600}.action-rollback{color:#9b2c2c;font-weight:600}
.muted{color:#718096;fill:#718096}
svg.chart{width:100%;height:auto;background:#fff;border:1px solid #edf2f7;border-radius:6px}
svg .axis{stroke:#4a5568;stroke-width:1}
svg .grid{stroke:#edf2f7;stroke-width:1}
svg .tick,svg .legend{font-size:11px;fill:#4a5568}
svg .threshold{stroke:#c53030;stroke-width:1;stroke-dasharray:5 4}
svg .threshold-label{font-size:11px;fill:#c53030}
nav a{margin-right:12px}
"""


def _flags_table(view: WorkerView) -> str:
    record = view.record
    rows = [
        ("route", record.route),
        ("percent", f"{record.percent:g}"),
        ("base", record.base),
        ("calls go", _routing(record)),
        ("candidate", view.candidate or "-"),
        ("rollout plan", describe_plan(plan_of(record), position(record))),
        (
            "shadow",
            "-" if record.shadow is None else f"{record.shadow.route} @ {record.shadow.sample:g}",
        ),
        ("kill switch", _show_html(record.kill)),
        ("fallback", record.fallback),
        ("version", str(record.version)),
        ("last change", f"{record.updated_at or '-'} by {record.updated_by or '-'}"),
        ("reason", record.reason or "-"),
    ]
    if record.shadow is not None:
        s = record.shadow
        rows += [
            ("max mismatch rate", _rate(s.max_mismatch_rate)),
            ("max candidate error rate", _rate(s.max_candidate_error_rate)),
            ("max latency ratio", f"{s.max_candidate_p95_ratio:g} x primary (median per call)"),
            ("min comparisons", str(s.min_comparisons)),
            ("verdict alpha", f"{s.alpha:g}"),
        ]
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    return f'<table class="flags">{body}</table>'


def _history_table(view: WorkerView) -> str:
    if not view.history:
        return '<p class="muted">no change recorded</p>'
    rows = []
    for entry in reversed(view.history):
        changes = "; ".join(
            f"{name} {_show_html(old)} → {_show_html(new)}"
            for name, (old, new) in entry.changes().items()
        )
        rows.append(
            f"<tr><td><code>{_e(entry.at)}</code></td>"
            f'<td class="action-{_e(entry.action)}">{_e(entry.action)}</td>'
            f"<td>{_e(entry.version)}</td><td>{_e(entry.actor)}</td><td>{_e(entry.reason)}</td>"
            f"<td>{_e(changes or 'no flag changed')}</td></tr>"
        )
    return (
        '<table class="history"><tr><th>when</th><th>action</th><th>version</th><th>who</th>'
        f"<th>why</th><th>change</th></tr>{''.join(rows)}</table>"
    )


_VERDICT_CSS: Final = {"ready": "ready", "not_ready": "not-ready", "undecided": "undecided"}


def _bound_chart(criterion: Criterion) -> str:
    """The criterion's confidence bounds at growing sample sizes, and its threshold."""
    finite = [v for _, low, high in criterion.history for v in (low, high) if math.isfinite(v)]
    top = max([criterion.threshold * 2, *finite[-1:]]) or 1.0
    capped = [
        (n, min(low, top), min(high, top) if math.isfinite(high) else top)
        for n, low, high in criterion.history
    ]
    is_rate = criterion.key != "latency_ratio"
    return line_chart(
        [
            Series("upper bound", [(float(n), high) for n, _, high in capped], BOUND_COLOR),
            Series("lower bound", [(float(n), low) for n, low, _ in capped], LOWER_COLOR),
        ],
        title=f"{criterion.name}: bounds as comparisons grow",
        css_class="bounds",
        y_range=(0.0, top),
        x_label=lambda v: f"{v:.0f}",
        y_label=(lambda v: _rate(v)) if is_rate else (lambda v: f"{v:.2g}x"),
        threshold=(
            criterion.threshold,
            f"limit {_rate(criterion.threshold) if is_rate else f'{criterion.threshold:g}x'}",
        ),
        empty_message="no comparisons yet",
    )


def _verdict(view: WorkerView) -> str:
    pair = view.pair
    if pair is None:
        what = f"candidate {view.candidate}" if view.candidate else "any candidate"
        return (
            f'<p><span class="verdict none">NO EVIDENCE</span> no shadow records of {_e(what)} '
            "since the worker's last flag change</p>"
        )
    verdict = pair.verdict
    source = "" if verdict.thresholds_from == "flags" else " (default thresholds)"
    items = "".join(
        f'<li><span class="{c.state}">{_e(c.mark.strip())}</span> {_e(c.name)}: {_e(c.detail)}</li>'
        for c in verdict.criteria
    )
    split = "".join(
        f'<li><span class="{c.state}">{_e(c.mark.strip())}</span> {_e(c.name)}: {_e(c.detail)}</li>'
        for c in verdict.informational
    )
    if split:
        split = (
            '<p class="muted">latency split (informational, not part of the verdict):</p>'
            f'<ul class="criteria">{split}</ul>'
        )
    charts = "".join(
        f'<div class="bound"><p class="muted">{_e(c.name)}: {_e(c.mark.strip())}</p>'
        f"{_bound_chart(c)}</div>"
        for c in verdict.criteria
        if c.history
    )
    outcomes = ", ".join(f"{name} {pair.outcomes[name]}" for name in OUTCOMES)
    return (
        f'<p><span class="verdict {_VERDICT_CSS[verdict.state]}">{_e(state_text(verdict))}'
        f"</span> {_e(pair.primary_route)} → "
        f"{_e(pair.candidate_route)}: {pair.comparisons} comparisons since the last flag "
        f"change, match rate {_rate(pair.match_rate)}{_e(source)}; every bound holds at "
        f"{1 - verdict.alpha:.0%} however often this page is read</p>"
        f'<ul class="criteria">{items}</ul>{split}<div class="bounds">{charts}</div>'
        f'<p class="muted">outcomes: {_e(outcomes)}; {pair.noise} noise mismatches not '
        f"counted; {pair.skipped} shadows skipped under load</p>"
    )


def _groups_table(title: str, groups: Sequence[DiffGroup]) -> str:
    if not groups:
        return ""
    rows = "".join(
        f'<tr><td class="num">{g.count}</td><td><pre>{_e(g.signature)}</pre></td>'
        f"<td><pre>{_e(g.example)}</pre></td><td><pre>{_e(sample(g.sample_input))}</pre>"
        f'<span class="muted">{_e(g.call_id)}</span></td></tr>'
        for g in groups
    )
    return (
        f'<h3>{_e(title)}</h3><table class="diffs"><tr><th>count</th><th>kind</th>'
        f"<th>example</th><th>sample input</th></tr>{rows}</table>"
    )


def _latency_table(pair: PairReport | None) -> str:
    if pair is None:
        return ""
    rows = "".join(
        f'<tr><td>{name}</td><td class="num">{_duration(lat.p50)}</td>'
        f'<td class="num">{_duration(lat.p95)}</td><td class="num">{lat.samples}</td></tr>'
        for name, lat in (
            ("primary", pair.primary_latency),
            ("primary: queue wait", pair.split.primary_queue_wait),
            ("primary: execution", pair.split.primary_execution),
            ("candidate", pair.candidate_latency),
            ("candidate: queue wait", pair.split.candidate_queue_wait),
            ("candidate: execution", pair.split.candidate_execution),
        )
        if lat.samples or ":" not in name  # the split only where the engines reported it
    )
    return (
        '<table class="latency"><tr><th>latency</th><th>p50</th><th>p95</th><th>samples</th>'
        f"</tr>{rows}</table>"
    )


def _anchor(worker: str) -> str:
    return "worker-" + "".join(c if c.isalnum() else "-" for c in worker)


def _section(view: WorkerView, now: float) -> str:
    record = view.record
    threshold_rate = (
        thresholds_of(record, view.candidate) if view.candidate else record.shadow
    ) or ShadowConfig(route="legacy")
    timeline = line_chart(
        [
            Series(
                f"% of calls on {view.candidate or record.route}",
                rollout_series(view, now),
                PERCENT_COLOR,
            )
        ],
        title=f"rollout of {view.worker}",
        css_class="rollout",
        y_range=(0.0, 100.0),
        x_label=_when,
        y_label=lambda v: f"{v:g}%",
        step=True,
        empty_message="no rollout history",
    )
    match = line_chart(
        [Series("match rate", match_rate_series(view.records), MATCH_COLOR)],
        title=f"shadow match rate of {view.worker}",
        css_class="match-rate",
        y_range=(0.0, 1.0),
        x_label=_when,
        y_label=lambda v: f"{v * 100:.0f}%",
        threshold=(
            1 - threshold_rate.max_mismatch_rate,
            f"required {_rate(1 - threshold_rate.max_mismatch_rate)}",
        ),
        empty_message="no shadow records",
    )
    primary, candidate = latencies(view)
    candidate_name = f"candidate ({view.pair.candidate_route})" if view.pair else "candidate"
    primary_name = f"primary ({view.pair.primary_route})" if view.pair else "primary"
    distribution = histogram_chart(
        [(primary_name, primary, PRIMARY_COLOR), (candidate_name, candidate, CANDIDATE_COLOR)],
        title=f"latency of {view.worker}: primary vs candidate",
        css_class="latency",
        value_label=_duration,
        empty_message="no latency samples",
    )
    problem = (
        f'<p class="fail">invalid flags (routes on legacy): {_e(view.problem)}</p>'
        if view.problem
        else ""
    )
    diffs = ""
    if view.pair is not None:
        diffs = (
            _groups_table("Top mismatch diffs", view.pair.top_mismatches)
            + items_table(view.pair.items)
            + _groups_table("Candidate errors", view.pair.candidate_errors)
            + failures_table(view.pair.failures)
        )
        if not diffs:
            diffs = '<h3>Top mismatch diffs</h3><p class="muted">no mismatch recorded</p>'
    return (
        f'<section class="worker" id="{_e(_anchor(view.worker))}" data-worker="{_e(view.worker)}">'
        f"<h2>{_e(view.worker)}</h2><p>{_e(_routing(record))}</p>{problem}"
        f"<h3>Readiness verdict</h3>{_verdict(view)}"
        f'<div class="grid2"><div><h3>Current flags</h3>{_flags_table(view)}</div>'
        f"<div><h3>Rollout timeline</h3>{timeline}</div></div>"
        f'<div class="grid2"><div><h3>Shadow match rate over time</h3>{match}</div>'
        f"<div><h3>Latency: primary vs candidate</h3>{distribution}"
        f"{_latency_table(view.pair)}</div></div>"
        f"{diffs}<h3>Rollout history</h3>{_history_table(view)}</section>"
    )


def _summary(views: Sequence[WorkerView]) -> str:
    rows = []
    for view in views:
        if view.pair is None:
            verdict = '<span class="verdict none">NO EVIDENCE</span>'
        else:
            state = view.pair.verdict.state
            verdict = (
                f'<span class="verdict {_VERDICT_CSS[state]}">'
                f"{_e(state_text(view.pair.verdict))}</span>"
            )
        rows.append(
            f'<tr><td><a href="#{_e(_anchor(view.worker))}">{_e(view.worker)}</a></td>'
            f"<td>{_e(_routing(view.record))}</td><td>{_e(view.candidate or '-')}</td>"
            f'<td class="num">{view.pair.comparisons if view.pair else 0}</td>'
            f'<td class="num">{_rate(view.pair.match_rate if view.pair else None)}</td>'
            f"<td>{verdict}</td></tr>"
        )
    return (
        '<table class="summary"><tr><th>worker</th><th>calls go</th><th>candidate</th>'
        "<th>comparisons</th><th>match rate</th><th>verdict</th></tr>"
        f"{''.join(rows)}</table>"
    )


def render_html(
    views: Sequence[WorkerView], *, source: str, generated_at: float | None = None
) -> str:
    """The whole page as text (UTF-8, no external reference of any kind)."""
    now = time.time() if generated_at is None else generated_at
    stamp = datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds")
    body = (
        _summary(views) + "".join(_section(view, now) for view in views)
        if views
        else '<p class="muted">no worker has flags or shadow records</p>'
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>cutover report {_e(stamp)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>Cutover report</h1><p>generated {_e(stamp)} by cutover "
        f"{_e(__version__)} from {_e(source)}; {len(views)} workers</p></header>"
        f"<main>{body}</main></body></html>\n"
    )


def write_report(
    path: str | os.PathLike[str],
    store: FlagStore,
    recorder: ShadowRecorder,
    workers: Sequence[str] | None = None,
    *,
    now: float | None = None,
) -> list[WorkerView]:
    """Write the page for ``workers`` (default: all) to ``path``; return what it shows."""
    views = collect_views(store, recorder, workers)
    page = render_html(views, source=store.display_url, generated_at=now)
    target = Path(path)
    try:
        target.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise InvalidArgumentError(
            f"cannot write the report to {target}: {exc.strerror or exc}; choose a writable path"
        ) from exc
    return views


__all__ = [
    "WorkerView",
    "collect_views",
    "latencies",
    "match_rate_series",
    "render_html",
    "rollout_series",
    "write_report",
]
