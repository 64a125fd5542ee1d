"""``cutover guard``: the automatic guard, without Celery Beat.

::

    cutover guard [--once] [--interval S] [--window S] [--json] [--flags-url URL]

Every ``--interval`` seconds (default ``CUTOVER_GUARD_INTERVAL_S``, 30) it judges each worker
with a candidate over the last ``--window`` seconds of shadow records made since its last
flag change (default ``CUTOVER_GUARD_WINDOW_S``, 300) and rolls back, as ``auto-guard``,
every worker whose verdict is NOT READY: a mismatch, error or latency criterion proven worse
than its threshold (:mod:`cutover.ops.guard`, :mod:`cutover.verdict`).
``--once`` runs one pass and exits: 0 when nothing tripped, 1 when something did. Ctrl-C or
SIGTERM stops the loop after the pass in progress, with exit status 0.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from datetime import UTC, datetime
from typing import Any

from cutover.cli.common import add_flags_url, store_and_records
from cutover.cli.signals import stop_on_signals
from cutover.ops.guard import GuardCheck, run_guard_forever, run_guard_once
from cutover.ops.guard_settings import INTERVAL_ENV, WINDOW_ENV, GuardSettings
from ground.errors import InvalidArgumentError

EXIT_TRIPPED = 1


def register(subparsers: Any) -> None:
    """Add ``guard`` to the ``cutover`` parser."""
    cmd = subparsers.add_parser(
        "guard",
        help="roll workers back when their shadow verdict is proven NOT READY",
        description=(
            "Judge each worker's candidate over a sliding window of shadow records (since its "
            "last flag change) and roll back (actor auto-guard) those proven NOT READY."
        ),
    )
    cmd.add_argument("--once", action="store_true", help="one pass, then exit (1 if tripped)")
    cmd.add_argument(
        "--interval", type=float, metavar="S", help=f"seconds between passes (${INTERVAL_ENV})"
    )
    cmd.add_argument(
        "--window", type=float, metavar="S", help=f"seconds of records judged (${WINDOW_ENV})"
    )
    cmd.add_argument("--json", action="store_true", help="one JSON object per pass")
    add_flags_url(cmd)
    cmd.set_defaults(handler=cmd_guard)


def _settings(args: argparse.Namespace) -> GuardSettings:
    base = GuardSettings.from_env()
    for name in ("interval", "window"):
        value = getattr(args, name)
        if value is not None and not value > 0:
            raise InvalidArgumentError(f"--{name} {value:g}: expected seconds above 0")
    return GuardSettings(
        interval_s=base.interval_s if args.interval is None else args.interval,
        window_s=base.window_s if args.window is None else args.window,
    )


def cmd_guard(args: argparse.Namespace) -> int:
    """``cutover guard [--once]``."""
    settings = _settings(args)
    with store_and_records(args.flags_url) as (store, recorder):
        if args.once:
            checks = run_guard_once(store, recorder, settings=settings)
            _print_pass(args, checks)
            tripped = any(check.status in ("rolled-back", "tripped") for check in checks)
            return EXIT_TRIPPED if tripped else 0
        print(
            f"guard: every {settings.interval_s:g} s over the last {settings.window_s:g} s of "
            "shadow records (Ctrl-C stops)",
            file=sys.stderr,
            flush=True,
        )
        stop = threading.Event()
        with stop_on_signals(stop):
            passes = run_guard_forever(
                store,
                recorder,
                stop,
                settings=settings,
                on_pass=lambda checks: _print_pass(args, checks),
            )
        print(f"guard: stopped after {passes} passes", file=sys.stderr, flush=True)
        return 0


def _print_pass(args: argparse.Namespace, checks: list[GuardCheck]) -> None:
    at = datetime.now(UTC).isoformat(timespec="seconds")
    if args.json:
        print(json.dumps({"at": at, "checks": [c.to_dict() for c in checks]}, sort_keys=True))
    elif not checks:
        print(f"{at} no worker has a candidate to guard")
    else:
        for check in checks:
            print(f"{at} {check.worker}: {check.status.upper()}: {check.detail}")
    sys.stdout.flush()


__all__ = ["EXIT_TRIPPED", "cmd_guard", "register"]
