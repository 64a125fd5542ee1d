"""The Ray engine side by side with its baselines, in one run (issue: adapters performance).

1. 1000 trivial items, legacy defaults (``batch_size=10``, ``max_concurrent=5``): the Ray
   engine vs the same batch remote tasks collected with raw blocking ``ray.wait``/``ray.get``,
   5 in flight (target: engine within 1.2x of raw).
2. 1000 CPU-bound items of ~5 ms pure-Python work, same defaults: the Ray engine vs legacy
   in-process (target: at least 1.7x faster on 2 cores; 2x is the physical limit).

``ray.init`` and worker start-up are not timed (warm-up runs of every cell come first); the two
cells of each pair run round-robin (the machine is shared) and each cell's median is kept. It
also reports how many cores the Ray workers kept busy during a CPU-bound call, and the load
average. It starts its own local Ray (``RAY_ADDRESS`` unset).

Run: ``python -m benchmarks.ray_bench [--repeats N] [--cpu-repeats N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import psutil

from adapters.base import CallOptions
from benchmarks.common import Timing, machine_details, render_table
from ground.constants import TASK_MODULES_ENV

ITEMS = 1000
BATCH_SIZE = 10
MAX_CONCURRENT = 5
OPTIONS = CallOptions(worker_id="bench", call_id="ray-bench")

Cell = Callable[[], Awaitable[Any]]


async def measure_interleaved(cells: list[tuple[str, Cell]], repeats: int) -> list[Timing]:
    """Run the cells round-robin ``repeats`` times, so each sees the same machine load.

    (This machine is shared: back-to-back blocks of repeats would compare one cell under
    someone else's load with another cell without it.)
    """
    runs: dict[str, list[float]] = {label: [] for label, _ in cells}
    for _ in range(repeats):
        for label, cell in cells:
            started = time.perf_counter()
            await cell()
            runs[label].append(time.perf_counter() - started)
    return [Timing(label, statistics.median(times), tuple(times)) for label, times in runs.items()]


def ray_worker_cpu_seconds() -> float:
    """CPU time used so far by this process's local Ray worker processes (``ray::...``)."""
    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            if child.name().startswith("ray::") and "Agent" not in child.name():
                times = child.cpu_times()
                total += times.user + times.system
        except psutil.Error:
            continue
    return total


async def run(repeats: int, cpu_repeats: int) -> tuple[list[Timing], dict[str, float], list[str]]:
    """Every cell; returns the timings, the ratios and notes on the conditions."""
    os.environ.setdefault(TASK_MODULES_ENV, "cutover.demo")
    from adapters.ray.engine import RayEngine, raw_batch_runner
    from cutover.demo import tasks
    from legacy import AsyncWorkerOptimizer

    engine = RayEngine()
    await engine.start()
    notes = [f"load average before: {os.getloadavg()[0]:.2f}"]
    try:
        notes.append(f"ray: {(await engine.health()).detail}")
        items = list(range(ITEMS))
        optimizer = AsyncWorkerOptimizer()

        async def ray_engine_trivial() -> list[int]:
            return await engine.map_batches(
                items, tasks.trivial, BATCH_SIZE, MAX_CONCURRENT, OPTIONS
            )

        raw_trivial: Cell = raw_batch_runner(tasks.trivial, items, BATCH_SIZE, MAX_CONCURRENT)

        async def legacy_cpu() -> list[int]:
            return await optimizer.optimize_batch_processing(
                items, tasks.cpu_5ms, BATCH_SIZE, MAX_CONCURRENT
            )

        async def ray_engine_cpu() -> list[int]:
            return await engine.map_batches(
                items, tasks.cpu_5ms, BATCH_SIZE, MAX_CONCURRENT, OPTIONS
            )

        expected_cpu = await legacy_cpu()
        checks: list[tuple[str, Cell, Any]] = [
            ("raw ray.get", raw_trivial, items),
            ("ray engine trivial", ray_engine_trivial, items),
            ("ray engine cpu", ray_engine_cpu, expected_cpu),
        ]
        for label, cell, expected in checks:  # the warm-up too: the workers start here
            for _ in range(2):
                if expected != await cell():
                    raise SystemExit(f"{label} returned a wrong result")

        cpu_before, started = ray_worker_cpu_seconds(), time.perf_counter()
        await ray_engine_cpu()
        busy_cores = (ray_worker_cpu_seconds() - cpu_before) / (time.perf_counter() - started)
        notes.append(f"ray workers kept {busy_cores:.2f} cores busy during a cpu 5ms call")

        timings = await measure_interleaved(
            [
                ("trivial · ray raw ray.get", raw_trivial),
                ("trivial · ray engine", ray_engine_trivial),
            ],
            repeats,
        )
        timings += await measure_interleaved(
            [("cpu 5ms · legacy in-process", legacy_cpu), ("cpu 5ms · ray engine", ray_engine_cpu)],
            cpu_repeats,
        )
    finally:
        await engine.close()
    notes.append(f"load average after: {os.getloadavg()[0]:.2f}")
    by_label = {timing.label: timing.median_s for timing in timings}
    ratios = {
        "ray engine / raw ray.get (trivial; target <= 1.2)": by_label["trivial · ray engine"]
        / by_label["trivial · ray raw ray.get"],
        "legacy / ray engine (cpu 5ms speed-up; target >= 1.7)": by_label[
            "cpu 5ms · legacy in-process"
        ]
        / by_label["cpu 5ms · ray engine"],
    }
    return timings, ratios, notes


def main(argv: list[str] | None = None) -> int:
    """Run every cell and print the table and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=21, help="runs of each trivial cell")
    parser.add_argument("--cpu-repeats", type=int, default=5, help="runs of each cpu cell")
    args = parser.parse_args(argv)
    timings, ratios, notes = asyncio.run(run(args.repeats, args.cpu_repeats))
    print(f"machine: {machine_details()}")
    print(
        f"calls:   {ITEMS} items, batch_size={BATCH_SIZE}, max_concurrent={MAX_CONCURRENT}; "
        "cells of a pair run round-robin, medians after a warm-up"
    )
    for note in notes:
        print(f"         {note}")
    print()
    rows = [
        [
            timing.label,
            f"{timing.median_s * 1000:.1f}",
            f"{timing.spread:.0%}",
            str(len(timing.runs)),
        ]
        for timing in timings
    ]
    print(render_table(["cell", "median ms", "spread", "runs"], rows))
    print()
    print(
        render_table(["ratio", "value"], [[name, f"{value:.3f}"] for name, value in ratios.items()])
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
