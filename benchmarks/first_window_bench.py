"""The all-or-nothing first window, side by side: publishing a call's first window with and
without encoding it all first (issue #18).

A call's first window is published as one group; with ``all_or_nothing`` every message's
arguments are encoded once before the first is published (and kombu encodes each again to
publish it), so a refused value in the last batch leaves none sent. Timed here, interleaved,
through the engine's real :class:`~adapters.celery.publisher.Publisher` to a Redis broker
queue that nobody consumes (deleted after each round), for windows of small and large
batches; the check alone (:func:`~adapters.celery.publisher.check_encodable`) is timed too.

Run: ``python -m benchmarks.first_window_bench [--broker-url redis://HOST:6379/N]`` (default
``CUTOVER_BROKER_URL``, else ``redis://127.0.0.1:6379/0``); its queue ``cutover.bench-window-*``
is removed afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import uuid
from typing import Any

import redis

from adapters.celery.app import create_app
from adapters.celery.publisher import OutgoingMessage, Publisher, check_encodable
from adapters.celery.settings import CelerySettings
from adapters.celery.tasks import RUN_BATCH
from benchmarks.common import machine_details, measure_interleaved, render_table

REPEATS = 15
CASES = ((16, 10), (16, 100), (4, 1000))
"""(batches in the window, items per batch)."""


def item(n: int) -> dict[str, Any]:
    """A typical record-shaped item (~120 bytes encoded)."""
    return {"id": n, "name": f"user-{n}", "score": n * 0.5, "tags": ["a", "b"], "active": True}


def window(queue: str, batches: int, size: int) -> list[OutgoingMessage]:
    """The first window of a call: ``batches`` messages of ``size`` items each."""
    options = {"worker": "bench", "call_id": "bench", "retry": {}}
    return [
        OutgoingMessage(
            task_name=RUN_BATCH,
            task_id=uuid.uuid4().hex,
            args=("benchmarks.tasks:enrich", [item(b * size + i) for i in range(size)], options),
            queue=queue,
            priority=9,
            shadow=f"{RUN_BATCH}[bench]",
        )
        for b in range(batches)
    ]


async def run(broker_url: str) -> str:
    """Time every case; the table as text."""
    settings = CelerySettings(broker_url=broker_url, result_backend=broker_url)
    app = create_app(settings)
    publisher = Publisher(app)
    client = redis.Redis.from_url(broker_url)
    queue = f"cutover.bench-window-{uuid.uuid4().hex[:8]}"
    rows = []
    try:
        for batches, size in CASES:
            messages = window(queue, batches, size)

            async def plain(messages: list[OutgoingMessage] = messages) -> None:
                await publisher.send(messages)
                client.delete(*client.keys(f"{queue}*"))

            async def checked(messages: list[OutgoingMessage] = messages) -> None:
                await publisher.send(messages, all_or_nothing=True)
                client.delete(*client.keys(f"{queue}*"))

            async def check_only(messages: list[OutgoingMessage] = messages) -> None:
                check_encodable(messages)

            without, with_check, alone = await measure_interleaved(
                [("publish", plain), ("check + publish", checked), ("check", check_only)],
                REPEATS,
            )
            rows.append(
                [
                    f"{batches} x {size}",
                    f"{without.median_s * 1000:.2f}",
                    f"{with_check.median_s * 1000:.2f}",
                    f"{with_check.median_s / without.median_s:.2f}",
                    f"{alone.median_s * 1000:.2f}",
                ]
            )
    finally:
        keys = client.keys(f"{queue}*")
        if keys:
            client.delete(*keys)
        client.close()
        publisher.close()
    table = render_table(
        ["window (batches x items)", "publish ms", "check+publish ms", "ratio", "check ms"], rows
    )
    return f"machine: {machine_details()}\n{table}"


def main(argv: list[str] | None = None) -> int:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--broker-url",
        default=os.environ.get("CUTOVER_BROKER_URL") or "redis://127.0.0.1:6379/0",
    )
    args = parser.parse_args(argv)
    print(asyncio.run(run(args.broker_url)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
