"""Engines side by side, in one run (issue: adapters performance).

1. 1000 trivial items with the legacy defaults (batch_size=10, max_concurrent=5):
   - the legacy engine vs calling ``legacy/`` directly (target: within 5 %),
   - the Celery engine vs the same batches sent as a raw Celery ``group`` and collected
     with ``.get()`` (target: within 1.2x),
   - the Ray engine vs raw ``ray.get`` on the same batch tasks (target: within 1.2x).
2. 1000 CPU-bound items of ~5 ms pure-Python work: Celery and Ray engines vs legacy
   (target: at least 1.7x faster on 2 cores). Beside them, the same batches on a plain
   ``ProcessPoolExecutor`` with one process per core: the speed-up this machine physically
   allows (on a shared 2-core VM two busy processes each run slower than one alone, so it is
   below 2x), against which the engines' overhead can be read.

Cells that are compared are timed round-robin (see ``measure_interleaved``).

Run: ``python -m benchmarks.adapters_bench [--repeats N] [--json]``. It starts its own
Celery worker (prefork, one process per core) on the configured Redis and a local Ray.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from adapters.base import CallOptions
from adapters.celery.engine import CeleryEngine
from adapters.celery.settings import CelerySettings, queue_for_worker
from adapters.celery.tasks import RUN_BATCH, retry_policy_to_options
from adapters.celery.worker_process import CeleryWorkerProcess
from adapters.legacy.engine import LegacyEngine
from adapters.task_refs import task_reference
from benchmarks.common import Timing, machine_details, measure_interleaved, render_table
from cutover.demo import tasks
from ground.constants import TASK_MODULES_ENV
from legacy import AsyncWorkerOptimizer

WORKER_ID = "bench"
OPTIONS = CallOptions(worker_id=WORKER_ID)
REPO_ROOT = Path(__file__).resolve().parents[1]


def _raw_celery_group(engine: CeleryEngine, batches: list[list[int]]) -> list[int]:
    from celery import group

    reference = task_reference(tasks.trivial)
    options = {"worker": WORKER_ID, "call_id": "", "retry": retry_policy_to_options(OPTIONS.retry)}
    job = group(
        engine.app.signature(RUN_BATCH, args=(reference, batch, options)).set(
            queue=queue_for_worker(WORKER_ID)
        )
        for batch in batches
    )
    # Poll every 5 ms: Celery's default 0.5 s interval would make the baseline look slow.
    results = job.apply_async().get(timeout=120, interval=0.005)
    return [value for batch in results for value in batch]


async def run(repeats: int) -> dict[str, Any]:
    """Every cell of both scenarios, one engine at a time; returns the figures.

    Each remote engine is measured while the other is down. Measured on this VM: with a local
    Ray idling beside a busy Celery worker, the Celery children needed 15 % more CPU time for
    the same work (Ray's idle processes wake often enough to cost the busy ones their caches).
    In production they do not share a host, so the bench does not make them share one. Every
    phase times its own legacy and process-pool cells, and its ratios use those.
    """
    os.environ.setdefault(TASK_MODULES_ENV, "cutover.demo")
    items = list(range(1000))
    batches = [items[i : i + 10] for i in range(0, 1000, 10)]
    optimizer = AsyncWorkerOptimizer()
    legacy_engine = LegacyEngine()
    timings: list[Timing] = []

    async def legacy_direct() -> list[int]:
        return await optimizer.optimize_batch_processing(items, tasks.trivial, 10, 5)

    async def via_legacy_engine() -> list[int]:
        return await legacy_engine.map_batches(items, tasks.trivial, 10, 5, OPTIONS)

    # The in-process pair is timed on its own, many times: at ~6 ms a call, running it
    # between remote cells would measure the caches those cells left behind.
    in_process_cells = [("legacy direct", legacy_direct), ("legacy engine", via_legacy_engine)]
    for label, cell in in_process_cells:
        assert items == await cell(), f"{label} returned a wrong result"
    timings += await measure_interleaved(
        [(f"trivial · {label}", cell) for label, cell in in_process_cells], repeats * 20, 5
    )
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        cpu_baselines = _cpu_baselines(optimizer, pool, batches)
        timings += await _celery_phase(items, batches, cpu_baselines, repeats)
        timings += await _ray_phase(items, cpu_baselines, repeats)
    return _report(timings)


Cell = tuple[str, Callable[[], Awaitable[list[int]]]]


def _cpu_baselines(
    optimizer: AsyncWorkerOptimizer, pool: ProcessPoolExecutor, batches: list[list[int]]
) -> list[Cell]:
    """Legacy and the process-pool ceiling on the CPU scenario, timed again in every phase."""
    items = [item for batch in batches for item in batch]

    async def cpu_legacy() -> list[int]:
        return await optimizer.optimize_batch_processing(items, tasks.cpu_5ms, 10, 5)

    async def cpu_process_pool() -> list[int]:
        loop = asyncio.get_running_loop()
        futures = [loop.run_in_executor(pool, _burn_batch, batch) for batch in batches]
        return [value for batch in await asyncio.gather(*futures) for value in batch]

    return [("legacy", cpu_legacy), ("process pool (ceiling)", cpu_process_pool)]


async def _celery_phase(
    items: list[int], batches: list[list[int]], cpu_baselines: list[Cell], repeats: int
) -> list[Timing]:
    """A prefork worker (one process per core) on the configured broker, and Ray down."""
    settings = CelerySettings.from_env()
    worker = CeleryWorkerProcess(
        broker_url=settings.broker_url,
        backend_url=settings.result_backend,
        queues=(queue_for_worker(WORKER_ID),),
        task_modules=os.environ[TASK_MODULES_ENV],
        concurrency=os.cpu_count() or 2,
        name="bench",
        cwd=REPO_ROOT,
    )
    worker.start(Path(tempfile.mkdtemp(prefix="cutover-bench-")))
    celery = CeleryEngine(settings)
    try:
        await celery.start()

        async def via_celery() -> list[int]:
            return await celery.map_batches(items, tasks.trivial, 10, 5, OPTIONS)

        async def raw_celery() -> list[int]:
            return await asyncio.to_thread(_raw_celery_group, celery, batches)

        async def cpu_celery() -> list[int]:
            return await celery.map_batches(items, tasks.cpu_5ms, 10, 5, OPTIONS)

        return await _measure_phase(
            [("celery raw group+get", raw_celery), ("celery engine", via_celery)],
            [*cpu_baselines, ("celery", cpu_celery)],
            "celery",
            items,
            repeats,
        )
    finally:
        await celery.close()
        worker.stop()


async def _ray_phase(items: list[int], cpu_baselines: list[Cell], repeats: int) -> list[Timing]:
    """A local Ray sized to the machine, and no Celery worker."""
    from adapters.ray.engine import RayEngine, raw_batch_runner

    ray_engine = RayEngine()
    try:
        await ray_engine.start()

        async def via_ray() -> list[int]:
            return await ray_engine.map_batches(items, tasks.trivial, 10, 5, OPTIONS)

        async def cpu_ray() -> list[int]:
            return await ray_engine.map_batches(items, tasks.cpu_5ms, 10, 5, OPTIONS)

        raw_ray = raw_batch_runner(tasks.trivial, items, 10, 5)
        return await _measure_phase(
            [("ray raw get", raw_ray), ("ray engine", via_ray)],
            [*cpu_baselines, ("ray", cpu_ray)],
            "ray",
            items,
            repeats,
        )
    finally:
        await ray_engine.close()


async def _measure_phase(
    trivial_cells: list[Cell], cpu_cells: list[Cell], phase: str, items: list[int], repeats: int
) -> list[Timing]:
    """Check every cell's result, then time each scenario's cells round-robin."""
    expected_cpu = await cpu_cells[0][1]()
    for label, cell in trivial_cells:
        assert items == await cell(), f"{label} returned a wrong result"
    for label, cell in cpu_cells[1:]:
        assert expected_cpu == await cell(), f"{label} returned a wrong result"
    # Three warm-up rounds: an engine started a moment ago is still starting its processes.
    timings = await measure_interleaved(
        [(f"trivial · {label}", cell) for label, cell in trivial_cells], repeats, warmup=3
    )
    timings += await measure_interleaved(
        [(f"cpu 5ms · {label} [{phase}]", cell) for label, cell in cpu_cells], repeats
    )
    return timings


def _burn_batch(batch: list[int]) -> list[int]:
    """``cpu_5ms`` on a batch, synchronously: the process-pool ceiling's unit of work."""
    return [item + tasks.burn_cpu(5) for item in batch]


def _report(timings: list[Timing]) -> dict[str, Any]:
    by_label = {t.label: t.median_s for t in timings}

    def ratio(a: str, b: str) -> float | None:
        if a in by_label and b in by_label:
            return by_label[a] / by_label[b]
        return None

    ratios = {
        "legacy engine / legacy direct": ratio(
            "trivial · legacy engine", "trivial · legacy direct"
        ),
        "celery engine / raw group": ratio(
            "trivial · celery engine", "trivial · celery raw group+get"
        ),
        "ray engine / raw ray.get": ratio("trivial · ray engine", "trivial · ray raw get"),
        "legacy / celery (cpu, speed-up)": ratio(
            "cpu 5ms · legacy [celery]", "cpu 5ms · celery [celery]"
        ),
        "legacy / process pool (ceiling, celery phase)": ratio(
            "cpu 5ms · legacy [celery]", "cpu 5ms · process pool (ceiling) [celery]"
        ),
        "legacy / ray (cpu, speed-up)": ratio("cpu 5ms · legacy [ray]", "cpu 5ms · ray [ray]"),
        "legacy / process pool (ceiling, ray phase)": ratio(
            "cpu 5ms · legacy [ray]", "cpu 5ms · process pool (ceiling) [ray]"
        ),
    }
    return {
        "machine": machine_details(),
        "cells": [
            {"label": t.label, "median_ms": t.median_s * 1000, "spread": t.spread} for t in timings
        ],
        "ratios": ratios,
    }


def main(argv: list[str] | None = None) -> int:
    """Run and print the table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    report = asyncio.run(run(args.repeats))
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
        return 0
    print(f"machine: {report['machine']}")
    rows = [[c["label"], f"{c['median_ms']:.1f}", f"{c['spread']:.0%}"] for c in report["cells"]]
    print(render_table(["cell", "median ms", "spread"], rows))
    print()
    ratio_rows = [
        [name, "n/a" if value is None else f"{value:.3f}"]
        for name, value in report["ratios"].items()
    ]
    print(render_table(["ratio", "value"], ratio_rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
