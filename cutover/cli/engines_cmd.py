"""``cutover engines``: can the engines start here, with this environment?

::

    cutover engines [ENGINE ...] [--json] [--timeout S]

Starts each remote engine (default: celery and ray) the way a production worker's first
call would, from the same environment (``CUTOVER_BROKER_URL``, ``RAY_ADDRESS``, ...), and
says for each whether it can take work, or the error that keeps it from starting (an
unreachable broker, a ``ray://`` address without the Ray Client, a Ray cluster that refuses
our token). Exit status 1 when one cannot. A production worker whose route cannot start
falls back to legacy (unless its ``fallback`` is ``fail``), logs ``engine_unavailable`` at
error once, and exports ``cutover_engine_up{route} 0``; this command is how an operator sees
the reason from a shell. Without ``RAY_ADDRESS``, checking ray starts a local Ray instance
(a few seconds) and stops it again.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Mapping
from typing import Any

from adapters.base import EngineHealth
from flags.model import FlagRecord
from ground.errors import InvalidArgumentError

CHECKED = ("celery", "ray")
EXIT_UNAVAILABLE = 1


def register(subparsers: Any) -> None:
    """Add ``engines`` to the ``cutover`` parser."""
    cmd = subparsers.add_parser(
        "engines",
        help="start each engine with this environment and say whether it can take work",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cmd.add_argument(
        "engines", nargs="*", metavar="ENGINE", help=f"which ({', '.join(CHECKED)}; default all)"
    )
    cmd.add_argument("--json", action="store_true", help="print JSON")
    cmd.add_argument(
        "--timeout", type=float, default=120.0, metavar="S", help="per engine (default 120)"
    )
    cmd.set_defaults(handler=cmd_engines)


def cmd_engines(args: argparse.Namespace) -> int:
    """``cutover engines [ENGINE ...]``."""
    names = list(dict.fromkeys(args.engines)) or list(CHECKED)
    unknown = [name for name in names if name not in CHECKED]
    if unknown:
        raise InvalidArgumentError(
            f"unknown engine {', '.join(unknown)}: choose from {', '.join(CHECKED)}"
        )
    if not args.timeout > 0:
        raise InvalidArgumentError(f"--timeout {args.timeout}: expected seconds > 0")
    reports = check_engines(names, args.timeout)
    if args.json:
        json.dump([_as_dict(report) for report in reports], sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        width = max(len("ENGINE"), *(len(report.engine) for report in reports))
        print(f"{'ENGINE':<{width}}  STATUS       DETAIL")
        for report in reports:
            status = "ok" if report.healthy else "UNAVAILABLE"
            print(f"{report.engine:<{width}}  {status:<11}  {report.detail}")
    return 0 if all(report.healthy for report in reports) else EXIT_UNAVAILABLE


async def _check_all(names: list[str], timeout_s: float) -> list[EngineHealth]:
    from adapters.registry import close_all, get_engine

    reports = []
    try:
        for name in names:
            engine = get_engine(name)
            try:
                async with asyncio.timeout(timeout_s):
                    reports.append(await engine.health())
            except TimeoutError:
                reports.append(
                    EngineHealth(name, healthy=False, detail=f"no answer within {timeout_s:g}s")
                )
    finally:
        await close_all()
    return reports


def engines_in_use(records: Mapping[str, FlagRecord]) -> dict[str, list[str]]:
    """Remote engine -> the workers whose flags name it (route, base, shadow or hybrid)."""
    used: dict[str, list[str]] = {}
    for worker, record in sorted(records.items()):
        named = {record.route, record.base}
        if record.shadow is not None:
            named.add(record.shadow.route)
        if record.route == "hybrid":
            hybrid = record.hybrid
            named |= {hybrid.small, hybrid.large, *hybrid.candidates}
        for engine in sorted(named & set(CHECKED)):
            used.setdefault(engine, []).append(worker)
    return used


def check_engines(names: list[str], timeout_s: float = 120.0) -> list[EngineHealth]:
    """Start each engine of ``names`` here and report (what ``cutover engines`` prints)."""
    return asyncio.run(_check_all(names, timeout_s))


def _as_dict(report: EngineHealth) -> dict[str, Any]:
    return {
        "engine": report.engine,
        "healthy": report.healthy,
        "detail": report.detail,
        "workers": report.workers,
    }


__all__ = ["check_engines", "cmd_engines", "engines_in_use", "register"]
