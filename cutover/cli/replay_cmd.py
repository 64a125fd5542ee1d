"""``cutover replay``: a worker's recorded calls, run again on a candidate route, compared.

::

    cutover replay WORKER --route ROUTE [--primary legacy] [--recordings DIR] [--output DIR]
                   [--allow-side-effects] [--restart] [--limit N] [--json] [--flags-url URL]

Reads ``calls-WORKER.jsonl`` (recorded with ``CUTOVER_RECORD_CALLS``; ``--recordings`` is
where, default ``$CUTOVER_RECORD_DIR`` or ``$CUTOVER_HOME/recordings``), runs each call on the
primary and on ``--route`` through the shim's shadow runner, with the worker's ``shadow``
comparison options from the flag store, and writes the comparison records to ``--output``
(default ``<recordings>/replay-ROUTE``). A progress bar on stderr; an interrupted replay
resumes where it stopped (``--restart`` starts over). Exit status 0 when every call agreed,
1 when one did not, 2 when the replay was refused (:mod:`cutover.ops.replay`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from adapters.registry import ENGINE_NAMES
from compat.shadow.recorders.jsonl_recorder import file_name
from compat.shadow.records import DISAGREEMENTS, OUTCOMES
from cutover.cli.common import add_flags_url
from cutover.demo.progress import ProgressBar
from cutover.ops.replay import Replay, ReplayResult
from ground.errors import FlagError, InvalidArgumentError


def register(subparsers: Any) -> None:
    """Add ``replay`` to the ``cutover`` parser."""
    cmd = subparsers.add_parser(
        "replay",
        help="run a worker's recorded calls again on a candidate route, offline, and compare",
        description="Offline shadowing: recorded calls on the primary and on a candidate.",
    )
    cmd.add_argument("worker", metavar="WORKER")
    cmd.add_argument(
        "--route", required=True, choices=ENGINE_NAMES, help="the candidate route to judge"
    )
    cmd.add_argument(
        "--primary", default="legacy", choices=ENGINE_NAMES, help="the reference (legacy)"
    )
    cmd.add_argument("--recordings", metavar="DIR", help="where the recorded calls are")
    cmd.add_argument("--output", metavar="DIR", help="where records and progress go")
    cmd.add_argument(
        "--allow-side-effects",
        action="store_true",
        help="replay tasks not declared shadow-safe (they run twice)",
    )
    cmd.add_argument("--restart", action="store_true", help="start over, not where it stopped")
    cmd.add_argument("--limit", type=int, metavar="N", help="replay at most N calls this run")
    cmd.add_argument("--json", action="store_true", help="print JSON instead of text")
    add_flags_url(cmd)
    cmd.set_defaults(handler=cmd_replay)


def _worker_shadow(worker: str, flags_url: str | None) -> tuple[Any, int]:
    """The worker's shadow options and flag version (``None``, 0 when it has none)."""
    from flags.stores import open_store

    try:
        store = open_store(flags_url)
        try:
            record = store.get(worker)
        finally:
            store.close()
    except FlagError as exc:
        print(f"cutover: warning: flags unreadable ({exc}): default comparison", file=sys.stderr)
        return None, 0
    return record.shadow, record.version


def cmd_replay(args: argparse.Namespace) -> int:
    """``cutover replay``."""
    if args.limit is not None and args.limit < 1:
        raise InvalidArgumentError(f"--limit must be at least 1, got {args.limit}")
    from compat.shadow.call_recorder import DIR_ENV
    from flags.stores import cutover_home

    recordings = Path(
        args.recordings or os.environ.get(DIR_ENV) or cutover_home() / "recordings"
    ).expanduser()
    output = Path(args.output).expanduser() if args.output else recordings / f"replay-{args.route}"
    shadow, version = _worker_shadow(args.worker, args.flags_url)
    replay = Replay(
        worker=args.worker,
        candidate=args.route,
        recordings=recordings,
        output=output,
        primary=args.primary,
        shadow=shadow,
        flag_version=version,
        allow_side_effects=args.allow_side_effects,
        restart=args.restart,
        limit=args.limit,
    )
    result = asyncio.run(_run(replay))
    disagreed = sum(result.outcomes[outcome] for outcome in DISAGREEMENTS)
    if args.json:
        json.dump(result.to_dict(), sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        _print_text(result, output)
    return 1 if disagreed else 0


async def _run(replay: Replay) -> ReplayResult:
    from adapters.registry import loaded_engines

    before = set(loaded_engines())
    bar: ProgressBar | None = None

    def on_call(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = ProgressBar(total, f"replay {replay.worker} on {replay.candidate}")
            bar.done = done - 1
        bar.advance()

    try:
        return await replay.run(on_call)
    finally:
        if bar is not None:
            bar.close()
        for name, engine in loaded_engines().items():
            if name not in before:  # the engines this replay started (a local Ray stops)
                await engine.close()


def _print_text(result: ReplayResult, output: Path) -> None:
    counts = ", ".join(f"{outcome} {result.outcomes[outcome]}" for outcome in OUTCOMES)
    resumed = f" (resumed after {result.resumed_from})" if result.resumed_from else ""
    print(
        f"{result.worker}: replayed {result.replayed} of {result.total} recorded calls"
        f"{resumed}, {result.primary} -> {result.candidate}"
    )
    print(f"  outcomes: {counts}")
    print(f"  records: {output / file_name(result.worker)}")
    flags_file = (output / "flags.json").absolute().as_uri()
    print(f"  report:  cutover shadow report {result.worker} --flags-url {flags_file}")


__all__ = ["cmd_replay", "register"]
