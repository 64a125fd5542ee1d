"""``cutover metrics``: serve the cutover's Prometheus metrics over HTTP.

::

    cutover metrics --port N [--addr A] [--flags-url URL]

Serves ``/metrics`` (any path, in fact) until Ctrl-C or SIGTERM: the flag gauges of every
worker (version, percent, kill, global kill, staleness), live from the flag store, and this
process's call counters. The call counters of production workers live in *their* processes:
a host application mounts them with :func:`cutover.ops.prometheus.make_wsgi_app` or
:func:`~cutover.ops.prometheus.start_metrics_server` (see :mod:`cutover.ops.prometheus`).
``--port 0`` picks a free port; the address served is printed on stderr.
"""

from __future__ import annotations

import argparse
import sys
import threading
from typing import Any

from cutover.cli.common import add_flags_url
from cutover.cli.signals import stop_on_signals
from flags import FlagTable
from ground.errors import InvalidArgumentError


def register(subparsers: Any) -> None:
    """Add ``metrics`` to the ``cutover`` parser."""
    cmd = subparsers.add_parser(
        "metrics",
        help="serve Prometheus metrics (flags per worker, this process's counters)",
        description="Serve the cutover's Prometheus metrics on --port until interrupted.",
    )
    cmd.add_argument("--port", type=int, required=True, metavar="N", help="TCP port (0: any)")
    cmd.add_argument("--addr", default="0.0.0.0", metavar="A", help="address (default 0.0.0.0)")
    add_flags_url(cmd)
    cmd.set_defaults(handler=cmd_metrics)


def cmd_metrics(args: argparse.Namespace) -> int:
    """``cutover metrics --port N``."""
    from cutover.ops.prometheus import build_registry, start_metrics_server

    if not 0 <= args.port <= 65535:
        raise InvalidArgumentError(f"--port {args.port}: expected a TCP port from 0 to 65535")
    table = FlagTable(args.flags_url)
    try:
        server, thread = start_metrics_server(args.port, args.addr, build_registry(lambda: table))
        host, port = str(server.server_address[0]), int(server.server_address[1])
        print(
            f"metrics: serving http://{host}:{port}/metrics (flags from {table.url}); Ctrl-C stops",
            file=sys.stderr,
            flush=True,
        )
        stop = threading.Event()
        with stop_on_signals(stop):
            while not stop.wait(1.0):
                pass
        server.shutdown()
        server.server_close()
        thread.join(timeout=5.0)
        print("metrics: stopped", file=sys.stderr, flush=True)
        return 0
    finally:
        table.close()


__all__ = ["cmd_metrics", "register"]
