"""``cutover promote`` and ``cutover rollback``: move a worker along its rollout plan.

::

    cutover promote WORKER --reason TEXT [--force] [--actor A] [--json] [--flags-url URL]
    cutover rollback WORKER --reason TEXT [--allow-new] [--actor A] [--json] [--flags-url URL]

``promote`` takes one step of the worker's plan (default 0 -> 5 -> 25 -> 50 -> 100 percent)
only when the shadow verdict on its candidate holds (what ``cutover shadow report`` says);
otherwise it is refused (exit status 2) with the failing numbers. ``--force`` promotes
anyway and the audit trail says so. ``rollback`` sends every call back to the worker's base
at once. Both are audited (``cutover flags history WORKER``); see :mod:`cutover.ops.rollout`.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from cutover.cli.common import add_flags_url, store_and_records
from cutover.cli.flags_cmd import default_actor
from cutover.ops.rollout import RolloutChange, describe_plan, plan_of, promote, rollback
from cutover.verdict.report import state_text
from flags.stores import open_store


def register(subparsers: Any) -> None:
    """Add ``promote`` and ``rollback`` to the ``cutover`` parser."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("worker", metavar="WORKER")
    common.add_argument("--reason", required=True, metavar="TEXT", help="why (required)")
    common.add_argument("--actor", metavar="A", help="who (default: user@host)")
    common.add_argument("--json", action="store_true", help="print JSON")
    add_flags_url(common)
    cmd = subparsers.add_parser(
        "promote",
        parents=[common],
        help="one step along the worker's rollout plan, if its shadow verdict holds",
        description=(
            "Move WORKER one step along its rollout plan (default 0 -> 5 -> 25 -> 50 -> 100 "
            "percent) when the shadow verdict on its candidate holds; refused otherwise."
        ),
    )
    cmd.add_argument(
        "--force",
        action="store_true",
        help="promote although the verdict does not hold (recorded as forced)",
    )
    cmd.set_defaults(handler=cmd_promote)
    cmd = subparsers.add_parser(
        "rollback",
        parents=[common],
        help="send every call of a worker back to its base route, now",
        description=(
            "Route every call of WORKER on its base engine at once (percent 0). A WORKER "
            "without flags in the store is refused (exit status 2) unless --allow-new."
        ),
    )
    cmd.add_argument(
        "--allow-new",
        action="store_true",
        help="accept a worker that has no flags yet (nothing to roll back; nothing written)",
    )
    cmd.set_defaults(handler=cmd_rollback)


def cmd_promote(args: argparse.Namespace) -> int:
    """``cutover promote WORKER --reason TEXT [--force]``."""
    with store_and_records(args.flags_url) as (store, recorder):
        change = promote(
            args.worker,
            args.reason,
            args.actor or default_actor(),
            args.force,
            store=store,
            recorder=recorder,
        )
    _print(args, change)
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    """``cutover rollback WORKER --reason TEXT``."""
    store = open_store(args.flags_url)
    try:
        change = rollback(
            args.worker,
            args.reason,
            args.actor or default_actor(),
            store=store,
            allow_new=args.allow_new,
        )
    finally:
        store.close()
    _print(args, change)
    return 0


def _print(args: argparse.Namespace, change: RolloutChange) -> None:
    if args.json:
        data = {
            "worker": change.worker,
            "action": change.action,
            "candidate": change.candidate,
            "written": change.written,
            "forced": change.forced,
            "percent": {"old": change.old_percent, "new": change.new_percent},
            "version": {"old": change.old.version, "new": change.new.version},
            "flags": change.new.to_dict(),
            "verdict": None
            if change.evidence is None or change.evidence.pair is None
            else change.evidence.pair.verdict.to_dict(),
        }
        json.dump(data, sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
        return
    old, new = change.old, change.new
    if change.action == "rollback":
        if not change.written:
            known = "" if new.version else " (no flags recorded for it)"
            print(f"{change.worker}: already on its base {new.base}{known}; nothing written")
            return
        print(
            f"{change.worker}: rolled back, every call on {new.base} ({old.route} "
            f"{old.percent:g}% -> 0%, version {old.version} -> {new.version})"
        )
        return
    plan = describe_plan(plan_of(new), change.new_percent)
    print(
        f"{change.worker}: {change.candidate} {change.old_percent:g}% -> "
        f"{change.new_percent:g}% (version {old.version} -> {new.version}; plan {plan})"
    )
    pair = None if change.evidence is None else change.evidence.pair
    if change.forced:
        print("  FORCED: the shadow verdict does not hold")
    if pair is None:
        print(f"  no shadow records of {change.candidate}")
        return
    print(f"  verdict: {state_text(pair.verdict)}")
    for criterion in pair.verdict.criteria:
        print(f"    {criterion.line()}")


__all__ = ["cmd_promote", "cmd_rollback", "register"]
