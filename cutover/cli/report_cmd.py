"""``cutover report --html FILE``: the page people look at during cutover week.

::

    cutover report --html FILE [WORKER ...] [--flags-url URL]

One self-contained HTML file (inline CSS and SVG, no script, nothing fetched: it opens
offline) with, per worker, its flags and routing, the rollout timeline from the audit trail,
the shadow match rate over time, primary vs candidate latency distributions, the top
mismatch diffs and the readiness verdict (:mod:`cutover.ops.html_report`). The terminal
equivalents stay ``cutover shadow report`` and ``cutover flags list``.
"""

from __future__ import annotations

import argparse
from typing import Any

from cutover.cli.common import add_flags_url, store_and_records
from cutover.ops.html_report import write_report


def register(subparsers: Any) -> None:
    """Add ``report`` to the ``cutover`` parser."""
    cmd = subparsers.add_parser(
        "report",
        help="a self-contained HTML page: flags, rollout, shadow numbers, verdict per worker",
        description="Write the cutover report (one offline HTML page) to --html FILE.",
    )
    cmd.add_argument("workers", metavar="WORKER", nargs="*", help="only these (default: all)")
    cmd.add_argument("--html", required=True, metavar="FILE", help="where to write the page")
    add_flags_url(cmd)
    cmd.set_defaults(handler=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    """``cutover report --html FILE``."""
    with store_and_records(args.flags_url) as (store, recorder):
        views = write_report(args.html, store, recorder, args.workers or None)
    ready = sum(1 for view in views if view.pair is not None and view.pair.verdict.ready)
    print(f"wrote {args.html}: {len(views)} workers, {ready} ready")
    return 0


__all__ = ["cmd_report", "register"]
