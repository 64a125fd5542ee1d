"""``cutover shadow``: is a worker's shadow candidate ready to take over?

::

    cutover shadow report [WORKER] [--json] [--limit N] [--all-versions] [--flags-url URL]

Reads the shadow records beside the flag store (a capped Redis stream per worker, or
``shadow-<worker>.jsonl`` files next to the flags file) and judges each worker's candidate
by its current ``shadow`` flags: comparisons, match rate, counts by outcome, p50/p95
latency of primary and candidate, the most frequent mismatches with a sample input each,
learned noisy paths and the readiness verdict with the numbers behind it
(:mod:`cutover.verdict.report`). ``--limit`` is the number of newest records read per worker.

Like ``promote`` and the guard, it judges only the records made since each worker's last
flag change (the flags changed, the evidence starts again); ``--all-versions`` judges every
record read instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from compat.shadow.recorders import DEFAULT_READ_LIMIT, open_recorder
from cutover.cli.common import add_flags_url, print_help
from cutover.ops.evidence import made_under
from cutover.verdict.report import build_report
from flags import FlagRecord
from flags.stores import configured_flags_url, open_store
from ground.errors import FlagError, InvalidArgumentError
from ground.logs import get_logger, mask_url

log = get_logger("cutover.cli.shadow")


def register(subparsers: Any) -> None:
    """Add ``shadow`` and its sub-commands to the ``cutover`` parser."""
    parser = subparsers.add_parser(
        "shadow",
        help="shadow mode: compare a candidate engine with the primary",
        description="Shadow mode results (see `cutover shadow CMD -h`).",
    )
    parser.set_defaults(handler=lambda _args: print_help(parser))
    commands = parser.add_subparsers(dest="shadow_command", metavar="SUBCOMMAND")

    cmd = commands.add_parser(
        "report",
        help="per worker: match rate, latency, top mismatches, readiness verdict",
        description="Judge each worker's shadow candidate from its recorded comparisons.",
    )
    cmd.add_argument("worker", metavar="WORKER", nargs="?", help="one worker (default: all)")
    cmd.add_argument("--json", action="store_true", help="print JSON instead of tables")
    cmd.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_READ_LIMIT,
        metavar="N",
        help=f"newest records read per worker (default {DEFAULT_READ_LIMIT})",
    )
    cmd.add_argument(
        "--all-versions",
        action="store_true",
        help="judge every record read, not only those since each worker's last flag change",
    )
    add_flags_url(cmd)
    cmd.set_defaults(handler=cmd_report)


def _flags(url: str, workers: set[str]) -> dict[str, FlagRecord | None]:
    """Each worker's current flags (``None``: unreadable or invalid, judged by the defaults)."""
    store = open_store(url)
    try:
        found: dict[str, FlagRecord | None] = {}
        for worker in sorted(workers):
            try:
                found[worker] = store.get(worker)
            except FlagError as exc:
                log.warning("shadow_report_flags_unreadable", worker=worker, error=str(exc))
                found[worker] = None
        return found
    finally:
        store.close()


def cmd_report(args: argparse.Namespace) -> int:
    """``cutover shadow report``."""
    if args.limit < 1:
        raise InvalidArgumentError(f"--limit {args.limit}: expected at least 1")
    url = configured_flags_url(args.flags_url)
    recorder = open_recorder(url)
    try:
        records = recorder.read(args.worker, limit=args.limit)
    finally:
        recorder.close()
    flags = _flags(url, {record.worker for record in records})
    configs = {worker: None if f is None else f.shadow for worker, f in flags.items()}
    older: dict[str, int] = {}
    if not args.all_versions:
        kept = []
        for record in records:
            current = flags[record.worker]
            if current is None or made_under(current, record):
                kept.append(record)
            else:
                older[record.worker] = older.get(record.worker, 0) + 1
        records = kept
    report = build_report(records, configs, source=mask_url(url), older=older)
    if args.json:
        json.dump(report.to_dict(), sys.stdout, indent=2, sort_keys=True, default=repr)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(report.render_text())
    return 0


__all__ = ["cmd_report", "register"]
