"""RabbitMQ dead-letter listing, side by side: one page against the whole queue (issue #18).

The queue ``cutover.dead`` is filled to its length cap (10,000 dead letters of ~2.5 kB),
then timed, with the peak of Python memory (``tracemalloc``) each:

- ``page(50)``: the newest 50, what ``cutover dlq list`` shows (a scan keeping 51 messages);
- ``page(10000)``: every entry at once, what the listing held before it paged;
- ``get`` of the oldest entry (the scan stops there) and of the newest (a full scan).

Run: ``python -m benchmarks.dlq_bench --amqp-url amqp://user:pw@host:5672/VHOST``. It
**purges** ``cutover.dead`` in that vhost before and after: give it a vhost of its own.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import kombu as _kombu

from adapters import codec
from adapters.celery.dlq_backends.amqp import (
    EXCHANGE,
    MARKER_HEADER,
    MAX_ENTRIES,
    QUEUE,
    AmqpDeadLetterStore,
)
from benchmarks.common import machine_details, render_table

kombu: Any = _kombu  # kombu has no type hints


def fill(url: str, count: int) -> None:
    """``count`` dead letters as workers publish them (confirmed), ids ``bench-<n>``."""
    body = codec.dumps(
        {
            "reason": "retries-exhausted",
            "task_name": "cutover.run_batch",
            "reference": "myapp.tasks:enrich",
            "items": list(range(50)),
            "options": {"worker": "bench"},
            "queue": "cutover.bench",
            "exc_type": "TimeoutError",
            "exc_message": "upstream timed out",
            "traceback": "Traceback (most recent call last):\n" + "  frame\n" * 250,
            "failed_at": time.time(),
        }
    )
    transport = {"confirm_publish": True}
    with (
        kombu.Connection(url, transport_options=transport) as connection,
        connection.Producer() as producer,
    ):
        for n in range(count):
            producer.publish(
                body,
                exchange=EXCHANGE,
                routing_key="cutover.dead",
                content_type=codec.CONTENT_TYPE,
                content_encoding="utf-8",
                message_id=f"bench-{n}",
                headers={MARKER_HEADER: 1},
                declare=[QUEUE],
            )


def timed(run: Callable[[], Any]) -> tuple[float, float]:
    """Seconds and peak MiB of Python memory of one run."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        run()
        return time.perf_counter() - started, tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def main(argv: list[str] | None = None) -> int:
    """Fill, measure side by side, purge."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--amqp-url", required=True, help="a vhost of its own (it is purged)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    store = AmqpDeadLetterStore(args.amqp_url)
    store.purge()
    try:
        fill(args.amqp_url, MAX_ENTRIES)
        cells: list[tuple[str, Callable[[], Any]]] = [
            ("page(50): the newest 50", lambda: store.page(50)),
            (f"page({MAX_ENTRIES}): the whole queue", lambda: store.page(MAX_ENTRIES)),
            ("get(oldest)", lambda: store.get("bench-0")),
            ("get(newest)", lambda: store.get(f"bench-{MAX_ENTRIES - 1}")),
        ]
        figures = {}
        for label, run in cells:
            seconds, peak = timed(run)
            figures[label] = {"seconds": seconds, "peak_mib": peak}
    finally:
        store.purge()
    report = {"machine": machine_details(), "queue": MAX_ENTRIES, "figures": figures}
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
        return 0
    print(f"machine: {report['machine']}    queue: {MAX_ENTRIES} dead letters")
    rows = [[k, f"{v['seconds']:.2f}", f"{v['peak_mib']:.1f}"] for k, v in figures.items()]
    print(render_table(["RabbitMQ dead letters", "seconds", "peak MiB"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
