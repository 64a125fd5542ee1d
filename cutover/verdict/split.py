"""The latency split in the verdict: queue wait and execution judged apart, informational.

A candidate slower than its primary is slower either because its engine runs the work
slower or because its queue is backed up. Where the engines report it, every shadow record
splits each side's latency into queue wait and execution (:mod:`adapters.timing`); here
they become two more per-call ratios, judged by the same anytime-valid sign test as the
latency criterion (:func:`cutover.verdict.criteria.latency_criterion`), and shown beside the
verdict without ever being part of it (docs/VERDICT.md):

- ``execution_ratio``: candidate execution / primary execution, against
  ``shadow.max_candidate_p95_ratio`` ("is the engine itself slower?");
- ``queue_wait_ratio``: candidate queue wait / primary latency, against the slowdown the
  flags allow, ``max_candidate_p95_ratio - 1`` ("does the queue eat the budget?").
"""

from __future__ import annotations

from collections.abc import Sequence

from compat.shadow.records import ShadowRecord
from cutover.verdict.criteria import Criterion, latency_criterion
from flags import ShadowConfig


def split_ratios(records: Sequence[ShadowRecord]) -> tuple[list[float], list[float]]:
    """Per call, in time order: candidate execution / primary execution, and candidate
    queue wait / primary latency. Only calls whose two sides both reported their split."""
    executions: list[float] = []
    waits: list[float] = []
    for record in records:
        if (
            record.candidate_execution_s is None
            or record.candidate_queue_wait_s is None
            or record.primary_execution_s is None
            or record.primary_execution_s <= 0
            or record.primary_latency_s <= 0
        ):
            continue
        executions.append(record.candidate_execution_s / record.primary_execution_s)
        waits.append(record.candidate_queue_wait_s / record.primary_latency_s)
    return executions, waits


def split_criteria(records: Sequence[ShadowRecord], config: ShadowConfig) -> list[Criterion]:
    """The two informational criteria of ``records`` (in time order); none when no record
    carries the split. Reading them never changes the verdict, whose criteria keep their
    level alpha; each of these holds at alpha on its own."""
    executions, waits = split_ratios(records)
    if not executions:
        return []
    allowed = config.max_candidate_p95_ratio
    return [
        latency_criterion(
            executions,
            allowed,
            config.alpha,
            name="execution ratio (median per call, informational)",
            key="execution_ratio",
        ),
        latency_criterion(
            waits,
            max(allowed - 1.0, 0.0),
            config.alpha,
            name="candidate queue wait in primary latencies (median per call, informational)",
            key="queue_wait_ratio",
        ),
    ]


def split_columns(
    records: Sequence[ShadowRecord],
) -> tuple[list[float], list[float], list[float], list[float]]:
    """Primary queue wait, primary execution, candidate queue wait, candidate execution:
    each over the records that carry it (for the reports' percentiles)."""
    columns: tuple[list[float], list[float], list[float], list[float]] = ([], [], [], [])
    for record in records:
        values = (
            record.primary_queue_wait_s,
            record.primary_execution_s,
            record.candidate_queue_wait_s,
            record.candidate_execution_s,
        )
        for column, value in zip(columns, values, strict=True):
            if value is not None:
                column.append(value)
    return columns


__all__ = ["split_columns", "split_criteria", "split_ratios"]
