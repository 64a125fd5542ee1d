"""The per-item tables of the HTML report: which items of batch calls differed or raised.

Both render records' already-redacted items (index, input, lines) as escaped text; kept
apart from :mod:`cutover.ops.html_report` so that the page module stays one job long.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

from compat.shadow.records import ItemMismatch
from cutover.verdict.items import FailuresReport, ItemsReport


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def sample(value: Any, limit: int = 300) -> str:
    """A redacted input as one line of JSON, cut at ``limit`` characters."""
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _item_rows(items: Sequence[ItemMismatch]) -> list[str]:
    """One row per item: index, redacted input, its lines (diffs, or who raised what)."""
    return [
        f'<tr class="item"><td class="num">{item.index}</td>'
        f"<td><pre>{_e(sample(item.input))}</pre></td>"
        f"<td><pre>{_e(chr(10).join(item.diffs))}</pre></td></tr>"
        for item in items
    ]


def items_table(report: ItemsReport) -> str:
    """Batch calls whose items differed: per call the counts, then each item shown (index,
    redacted input, its diff lines)."""
    if not report.calls:
        return ""
    rows = []
    for call in report.newest:
        more = f"; {call.not_shown} more not recorded one by one" if call.not_shown else ""
        rows.append(
            f'<tr class="call"><td colspan="3"><strong>{_e(call.operation)} call '
            f"{_e(call.call_id)}</strong> ({_e(call.outcome)}): {call.mismatched_items} of "
            f"{call.items} items differ{_e(more)}</td></tr>"
        )
        rows.extend(_item_rows(call.shown))
    return (
        f'<h3>Items that differed</h3><p class="muted">{report.mismatched_items} of '
        f"{report.items} items in {report.calls} batch call(s); newest "
        f'{len(report.newest)} shown</p><table class="items"><tr><th>item</th><th>input</th>'
        f"<th>differences</th></tr>{''.join(rows)}</table>"
    )


def failures_table(report: FailuresReport) -> str:
    """Batch calls in which a side raised: the items its engine named (index, input, who
    raised what)."""
    if not report.calls:
        return ""
    rows = []
    for call in report.newest:
        rows.append(
            f'<tr class="call"><td colspan="3"><strong>{_e(call.operation)} call '
            f"{_e(call.call_id)}</strong> ({_e(call.outcome)}): {len(call.failed)} of "
            f"{call.items} items raised</td></tr>"
        )
        rows.extend(_item_rows(call.failed))
    return (
        f'<h3>Items that raised</h3><p class="muted">{report.failed_items} item(s) in '
        f"{report.calls} batch call(s); newest {len(report.newest)} shown</p>"
        f'<table class="items"><tr><th>item</th><th>input</th><th>raised</th></tr>'
        f"{''.join(rows)}</table>"
    )


__all__ = ["failures_table", "items_table", "sample"]
