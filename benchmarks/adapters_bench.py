"""Engines side by side, in one run (issue: adapters performance).

1. 1000 trivial items with the legacy defaults (batch_size=10, max_concurrent=5):
   - the legacy engine vs calling ``legacy/`` directly (target: within 5 %),
   - the Celery engine vs the same batches sent as a raw Celery ``group`` and collected
     with ``.get()`` (target: within 1.2x),
   - the Ray engine vs raw ``ray.get`` on the same batch tasks (target: within 1.2x).
2. 1000 CPU-bound items of ~5 ms pure-Python work: Celery and Ray engines vs legacy
   (target: at least 1.7x faster on 2 cores).

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
from pathlib import Path
from typing import Any

from adapters.base import CallOptions
from adapters.celery.engine import CeleryEngine
from adapters.celery.settings import CelerySettings, queue_for_worker
from adapters.celery.tasks import RUN_BATCH, retry_policy_to_options
from adapters.celery.worker_process import CeleryWorkerProcess
from adapters.legacy_engine import LegacyEngine
from adapters.task_refs import task_reference
from benchmarks.common import Timing, machine_details, measure, render_table
from cutover.demo import tasks
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
    """Every cell of both scenarios; returns the figures."""
    os.environ.setdefault("CUTOVER_TASK_MODULES", "cutover.demo")
    settings = CelerySettings.from_env()
    cores = os.cpu_count() or 2
    worker = CeleryWorkerProcess(
        broker_url=settings.broker_url,
        backend_url=settings.result_backend,
        queues=(queue_for_worker(WORKER_ID),),
        task_modules=os.environ["CUTOVER_TASK_MODULES"],
        concurrency=cores,
        name="bench",
        cwd=REPO_ROOT,
    )
    worker.start(Path(tempfile.mkdtemp(prefix="cutover-bench-")))
    celery = CeleryEngine(settings)
    from adapters.ray_engine import RayEngine

    ray_engine = RayEngine()
    legacy_engine = LegacyEngine()
    optimizer = AsyncWorkerOptimizer()
    try:
        await celery.start()
        await ray_engine.start()
        items = list(range(1000))
        batches = [items[i : i + 10] for i in range(0, 1000, 10)]
        timings: list[Timing] = []

        async def legacy_direct() -> list[int]:
            return await optimizer.optimize_batch_processing(items, tasks.trivial, 10, 5)

        async def via_legacy_engine() -> list[int]:
            return await legacy_engine.map_batches(items, tasks.trivial, 10, 5, OPTIONS)

        async def via_celery() -> list[int]:
            return await celery.map_batches(items, tasks.trivial, 10, 5, OPTIONS)

        async def raw_celery() -> list[int]:
            return await asyncio.to_thread(_raw_celery_group, celery, batches)

        async def via_ray() -> list[int]:
            return await ray_engine.map_batches(items, tasks.trivial, 10, 5, OPTIONS)

        trivial_cells = [
            ("legacy direct", legacy_direct),
            ("legacy engine", via_legacy_engine),
            ("celery raw group+get", raw_celery),
            ("celery engine", via_celery),
            ("ray engine", via_ray),
        ]
        raw_ray = _raw_ray_cell(items)
        if raw_ray is not None:
            trivial_cells.append(("ray raw get", raw_ray))
        for label, cell in trivial_cells:
            expected = items
            assert expected == await cell(), f"{label} returned a wrong result"
            timings.append(await measure(f"trivial · {label}", cell, repeats))

        async def cpu_legacy() -> list[int]:
            return await optimizer.optimize_batch_processing(items, tasks.cpu_5ms, 10, 5)

        async def cpu_celery() -> list[int]:
            return await celery.map_batches(items, tasks.cpu_5ms, 10, 5, OPTIONS)

        async def cpu_ray() -> list[int]:
            return await ray_engine.map_batches(items, tasks.cpu_5ms, 10, 5, OPTIONS)

        for label, cell in [("legacy", cpu_legacy), ("celery", cpu_celery), ("ray", cpu_ray)]:
            timings.append(await measure(f"cpu 5ms · {label}", cell, max(1, repeats // 2)))
    finally:
        await celery.close()
        await ray_engine.close()
        worker.stop()
    return _report(timings)


def _raw_ray_cell(items: list[int]) -> Any:
    """Raw Ray: the same batch remote function, ``ray.get`` on a window of 5 refs."""
    try:
        from adapters.ray_engine import raw_batch_runner
    except ImportError:
        return None
    return raw_batch_runner(tasks.trivial, items, 10, 5)


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
        "legacy / celery (cpu, speed-up)": ratio("cpu 5ms · legacy", "cpu 5ms · celery"),
        "legacy / ray (cpu, speed-up)": ratio("cpu 5ms · legacy", "cpu 5ms · ray"),
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
