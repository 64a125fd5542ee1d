"""``cutover bench``: the seed's 1000-task table, measured on this machine.

::

    cutover bench [--quick] [--json] [--routes R,...] [--scenarios S,...] [--repeats N]
                  [--write-results PATH | --no-write-results]

Runs :mod:`cutover.demo.bench`: small / medium / large scenarios of 1000 tasks on the
``legacy``, ``celery``, ``ray``, ``hybrid`` and ``hybrid-adaptive`` routes of the shim and on
the raw engines, printing the table beside the seed's figures (a progress bar on stderr
meanwhile), the engines' start-up times, the issue's targets and why any was missed.

It starts what it needs and stops it at the end (also on Ctrl-C): a Celery worker on the
configured broker (``CUTOVER_BROKER_URL``; an embedded Redis when none answers) and a local
Ray (or ``RAY_ADDRESS``). A full run (every scenario and route, not ``--quick``) records its
results in ``benchmarks/RESULTS.md`` of the source checkout unless ``--no-write-results``;
``--write-results PATH`` writes them anywhere, for any run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from cutover.demo.bench import (
    DEFAULT_REPEATS,
    RESULTS_PATH,
    ROUTES,
    SCENARIOS,
    BenchConfig,
    parse_names,
    render_markdown,
    render_text,
    run_bench,
)
from cutover.demo.services import interrupts_as_keyboard_interrupt
from ground.errors import InvalidArgumentError

QUICK_REPEATS = 1


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    """The run that the options ask for."""
    repeats = (
        args.repeats
        if args.repeats is not None
        else (QUICK_REPEATS if args.quick else DEFAULT_REPEATS)
    )
    if repeats < 1:
        raise InvalidArgumentError(f"--repeats {repeats}: expected at least 1")
    return BenchConfig(
        scenarios=tuple(parse_names(args.scenarios, tuple(SCENARIOS), "scenario")),
        routes=tuple(parse_names(args.routes, tuple(ROUTES), "route")),
        repeats=repeats,
        quick=args.quick,
    )


def results_path(args: argparse.Namespace, config: BenchConfig) -> Path | None:
    """Where to record the results: asked for, or the checkout's file for a full run."""
    if args.write_results is not None:
        return Path(args.write_results)
    if args.no_write_results or not config.full or RESULTS_PATH is None:
        return None
    return RESULTS_PATH


def cmd_bench(args: argparse.Namespace) -> int:
    """``cutover bench``."""
    config = config_from_args(args)
    with interrupts_as_keyboard_interrupt():
        report = asyncio.run(run_bench(config))
    if args.json:
        json.dump(report.to_dict(), sys.stdout, indent=2, default=repr)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render_text(report))
    target = results_path(args, config)
    if target is not None:
        target.write_text(render_markdown(report), encoding="utf-8")
        print(f"results recorded in {target}", file=sys.stderr)
    return 1 if report.failed else 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``cutover bench``."""
    parser = subparsers.add_parser(
        "bench",
        help="measure the seed's 1000-task table on every route",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: 100 tasks per scenario, 1 timed run (well under a minute)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument(
        "--routes",
        nargs="+",
        metavar="ROUTE",
        help=f"routes to measure, comma- or space-separated (default all: {', '.join(ROUTES)})",
    )
    parser.add_argument(
        "--scenarios",
        nargs="+",
        metavar="SCENARIO",
        help=f"scenarios to run (default all: {', '.join(SCENARIOS)})",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        metavar="N",
        help=f"timed runs per cell, the median is reported (default {DEFAULT_REPEATS}, "
        f"{QUICK_REPEATS} with --quick)",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--write-results",
        metavar="PATH",
        help="write the results as Markdown to PATH (default for a full run: "
        "benchmarks/RESULTS.md of the checkout)",
    )
    where.add_argument(
        "--no-write-results", action="store_true", help="do not record a full run's results"
    )
    parser.set_defaults(handler=cmd_bench)


__all__ = ["cmd_bench", "config_from_args", "register", "results_path"]
