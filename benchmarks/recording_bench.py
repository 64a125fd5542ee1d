"""What recording calls for ``cutover replay`` costs a call, side by side (issue #18).

The shim's legacy route with recording off against the same with recording on (every call
recorded, its items redacted by one pattern and encoded, the line queued for the writer
thread), for calls of 1 and 100 order-like items. Each figure is the caller's thread CPU
time (the writer thread's own work is not the call's), the median of rounds alternating
off / on / off (:func:`benchmarks.compat_bench.paired_overhead_us`).

Run: ``python -m benchmarks.recording_bench [--json]``. Writes its recordings to a temporary
directory and removes it.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import flags
from benchmarks.common import machine_details, render_table
from benchmarks.compat_bench import paired_overhead_us
from compat import shadow_safe
from compat.optimizer import AsyncWorkerOptimizer
from compat.router import Router, set_router
from compat.shadow import call_recorder
from compat.shadow.call_recorder import CallRecorder

WORKER = "recording-bench"
SIZES = (1, 100)
CALLS_PER_ROUND = {1: 200, 100: 20}


@shadow_safe
async def echo(item: dict[str, Any]) -> dict[str, Any]:
    """A trivial task: the cost measured is the recording's, not the task's."""
    return item


def orders(count: int) -> list[dict[str, Any]]:
    """Order-like items: a few fields, a card number to redact, a tuple to keep."""
    return [
        {"id": n, "qty": n % 7, "card": "4111-1111-1111-1111", "tags": ("new", "eu")}
        for n in range(count)
    ]


async def measure(directory: Path) -> dict[str, dict[str, float]]:
    """Recording off vs on, per call size."""
    set_router(Router(table=flags.FlagTable.static({WORKER: flags.FlagRecord()})))
    recorder = CallRecorder(directory, frozenset({WORKER}), redact=("card",), max_bytes=2**30)
    optimizer = AsyncWorkerOptimizer(worker_id=WORKER)
    # By its importable name: run as ``python -m``, this module's own ``echo`` is __main__'s,
    # which another process cannot import, and is (rightly) not recorded.
    task = importlib.import_module("benchmarks.recording_bench").echo
    figures: dict[str, dict[str, float]] = {}
    try:
        for size in SIZES:
            items = orders(size)

            async def off(items: list[Any] = items) -> None:
                call_recorder.configure(None)
                await optimizer.optimize_batch_processing(items, task, 10, 5)

            async def on(items: list[Any] = items) -> None:
                call_recorder.configure(recorder)
                await optimizer.optimize_batch_processing(items, task, 10, 5)

            off_us, on_us, extra_us = await paired_overhead_us(off, on, CALLS_PER_ROUND[size])
            recorder.flush(60)
            if recorder.skipped:
                raise RuntimeError(f"calls were not recorded: {dict(recorder.skipped)}")
            figures[f"{size} item(s)"] = {
                "off_us": off_us,
                "on_us": on_us,
                "recording_us": extra_us,
                "ratio": on_us / off_us,
            }
    finally:
        call_recorder.configure(None)
        set_router(None)
    return figures


def main(argv: list[str] | None = None) -> int:
    """Measure and print side by side."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    os.environ["CUTOVER_TASK_MODULES"] = "benchmarks"  # the bench's task may be recorded
    directory = Path(tempfile.mkdtemp(prefix="cutover-recording-bench-"))
    try:
        figures = asyncio.run(measure(directory))
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    report = {"machine": machine_details(), "per_call": figures}
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
        return 0
    print(f"machine: {report['machine']}")
    rows = [
        [
            label,
            f"{cell['off_us']:.1f}",
            f"{cell['on_us']:.1f}",
            f"{cell['recording_us']:+.1f}",
            f"{cell['ratio']:.2f}",
        ]
        for label, cell in figures.items()
    ]
    headers = ["legacy route, per call (thread CPU)", "off µs", "recorded µs", "cost µs", "ratio"]
    print(render_table(headers, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
