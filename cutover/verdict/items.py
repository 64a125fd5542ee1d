"""Which items of a batch call differed: the per-item part of the shadow report.

The report's grouped diffs say what *kind* of difference is frequent; a batch of 500 items of
which 3 differ also needs to say *which* 3, with their inputs, so that someone can re-run
exactly those. The shadow runner already keeps that on each record (``item_mismatches``:
the first differing items' index, redacted input and diff lines; ``mismatched_items``: how
many differed in all); this module picks the newest such calls of a route pair and renders
them for the terminal (the HTML report renders the same data its own way). Everything shown
was redacted when the record was made.

Likewise for partial batch failures: when a side raised, a remote engine names the items that
raised (``failed_items`` on the record: index, redacted input, which side raised what), and
:func:`failures_report` / :func:`render_failures` show the newest such calls.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from compat.shadow.records import ItemMismatch, ShadowRecord

CALLS_SHOWN: Final = 5
"""Batch calls with differing items shown per route pair, newest first."""
ITEMS_SHOWN: Final = 10
"""Differing items shown per call (a record keeps a few more; the count says how many)."""


@dataclass(frozen=True, slots=True)
class BatchItems:
    """One batch call whose items differed: the items shown and the counts."""

    call_id: str
    operation: str
    outcome: str
    created_at: float
    items: int
    mismatched_items: int
    shown: tuple[ItemMismatch, ...]

    @property
    def not_shown(self) -> int:
        """Differing items of this call that are counted but not shown."""
        return max(0, self.mismatched_items - len(self.shown))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "call_id": self.call_id,
            "operation": self.operation,
            "outcome": self.outcome,
            "created_at": self.created_at,
            "items": self.items,
            "mismatched_items": self.mismatched_items,
            "shown": [item.to_dict() for item in self.shown],
        }


@dataclass(frozen=True, slots=True)
class ItemsReport:
    """The per-item view of a route pair: totals over every batch call with differing items,
    and the newest :data:`CALLS_SHOWN` of those calls."""

    calls: int = 0
    mismatched_items: int = 0
    items: int = 0
    """Items in those calls (the denominator of ``mismatched_items``)."""
    newest: tuple[BatchItems, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "calls": self.calls,
            "mismatched_items": self.mismatched_items,
            "items": self.items,
            "newest": [call.to_dict() for call in self.newest],
        }


NO_ITEMS: Final = ItemsReport()


def items_report(records: Sequence[ShadowRecord]) -> ItemsReport:
    """The per-item view of ``records`` (one route pair): calls whose items differed."""
    differing = [
        record for record in records if record.item_mismatches or record.mismatched_items > 0
    ]
    if not differing:
        return NO_ITEMS
    differing.sort(key=lambda record: record.created_at, reverse=True)
    return ItemsReport(
        calls=len(differing),
        mismatched_items=sum(_count(record) for record in differing),
        items=sum(record.items for record in differing),
        newest=tuple(
            BatchItems(
                call_id=record.call_id,
                operation=record.operation,
                outcome=record.outcome,
                created_at=record.created_at,
                items=record.items,
                mismatched_items=_count(record),
                shown=record.item_mismatches[:ITEMS_SHOWN],
            )
            for record in differing[:CALLS_SHOWN]
        ),
    )


def _count(record: ShadowRecord) -> int:
    # A record always counts at least the items it names.
    return max(record.mismatched_items, len(record.item_mismatches))


@dataclass(frozen=True, slots=True)
class FailedCall:
    """One batch call in which a side raised, and the items its engine named as raising."""

    call_id: str
    operation: str
    outcome: str
    created_at: float
    items: int
    failed: tuple[ItemMismatch, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "call_id": self.call_id,
            "operation": self.operation,
            "outcome": self.outcome,
            "created_at": self.created_at,
            "items": self.items,
            "failed_items": [item.to_dict() for item in self.failed],
        }


@dataclass(frozen=True, slots=True)
class FailuresReport:
    """Which items raised, over a route pair's batch calls in which a side raised.

    The engines name the items (:mod:`adapters.item_errors`); a legacy pipeline or task
    failure names none and is not counted here (its error is in the error groups).
    """

    calls: int = 0
    failed_items: int = 0
    newest: tuple[FailedCall, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "calls": self.calls,
            "failed_items": self.failed_items,
            "newest": [call.to_dict() for call in self.newest],
        }


NO_FAILURES: Final = FailuresReport()


def failures_report(records: Sequence[ShadowRecord]) -> FailuresReport:
    """The calls of ``records`` (one route pair) whose failing items were named."""
    failing = [record for record in records if record.failed_items]
    if not failing:
        return NO_FAILURES
    failing.sort(key=lambda record: record.created_at, reverse=True)
    return FailuresReport(
        calls=len(failing),
        failed_items=sum(len(record.failed_items) for record in failing),
        newest=tuple(
            FailedCall(
                call_id=record.call_id,
                operation=record.operation,
                outcome=record.outcome,
                created_at=record.created_at,
                items=record.items,
                failed=record.failed_items[:ITEMS_SHOWN],
            )
            for record in failing[:CALLS_SHOWN]
        ),
    )


def render_failures(report: FailuresReport) -> list[str]:
    """The terminal lines of a pair's failing items (none when no engine named any)."""
    if not report.calls:
        return []
    lines = [
        "",
        f"  items that raised: {report.failed_items} in {report.calls} batch call(s); "
        f"newest {len(report.newest)}:",
    ]
    for call in report.newest:
        lines.append(
            f"    {call.operation} call {call.call_id} ({call.outcome}): "
            f"{len(call.failed)} of {call.items} items raised"
        )
        for item in call.failed:
            lines.extend(_item_lines(item))
    return lines


def sample_text(value: Any, limit: int = 100) -> str:
    """A redacted input as one line of JSON, cut at ``limit`` characters."""
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _item_lines(item: ItemMismatch) -> list[str]:
    """One named item of a call: its index and redacted input, then its diff lines."""
    return [
        f"      item {item.index}, input {sample_text(item.input)}",
        *(f"        {line}" for line in item.diffs),
    ]


def render_items(report: ItemsReport) -> list[str]:
    """The terminal lines of a pair's per-item view (none when no item differed)."""
    if not report.calls:
        return []
    lines = [
        "",
        f"  items that differed: {report.mismatched_items} of {report.items} items in "
        f"{report.calls} batch call(s); newest {len(report.newest)}:",
    ]
    for call in report.newest:
        lines.append(
            f"    {call.operation} call {call.call_id} ({call.outcome}): "
            f"{call.mismatched_items} of {call.items} items differ"
        )
        for item in call.shown:
            lines.extend(_item_lines(item))
        if call.not_shown:
            lines.append(f"      ... and {call.not_shown} more item(s), not recorded one by one")
    return lines


__all__ = [
    "CALLS_SHOWN",
    "ITEMS_SHOWN",
    "NO_FAILURES",
    "NO_ITEMS",
    "BatchItems",
    "FailedCall",
    "FailuresReport",
    "ItemsReport",
    "failures_report",
    "items_report",
    "render_failures",
    "render_items",
    "sample_text",
]
