"""What the latency split costs on the Celery and Ray batch paths, side by side (issue 18).

1000 trivial items, batches of 10, 5 in flight (the legacy defaults), cells timed
round-robin (:func:`benchmarks.common.measure_interleaved`), in both orders:

- **Ray, whole path**: the same batches through the untimed remote function
  (``execute_batch``) and the timed one (``execute_batch_timed``: the worker's two clock
  reads, the tuple packed beside the results), collected the same way. Ratio timed /
  untimed.
- **Celery and Ray, caller side**: the engine's batched map with a :func:`adapters.timing.collect`
  block around it (what the router does for every remote call) and without. Ratio.
- **Celery, worker side**: every Celery batch now pays two ``perf_counter`` reads, one
  attribute on the request and one more key encoded in the stored meta (typed JSON). Those
  operations are timed in process and shown as a share of one batch's round trip.

Run: ``python -m benchmarks.latency_split_bench [--repeats N] [--json]``. It starts its own
Celery worker (prefork, one process per core) on the configured Redis and a local Ray.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from adapters import timing
from adapters.base import CallOptions
from adapters.celery.engine import CeleryEngine
from adapters.celery.settings import CelerySettings, queue_for_worker
from adapters.celery.worker_process import CeleryWorkerProcess
from benchmarks.common import Timing, machine_details, measure_interleaved, render_table
from cutover.demo import tasks
from ground.constants import TASK_MODULES_ENV

WORKER_ID = "bench-latency-split"
"""Its own queue: another bench on the same Redis must not feed this worker."""
OPTIONS = CallOptions(worker_id=WORKER_ID)
REPO_ROOT = Path(__file__).resolve().parents[1]
ITEMS = list(range(1000))
BATCH, WINDOW = 10, 5

Cell = tuple[str, Callable[[], Awaitable[list[int]]]]


async def _both_orders(cells: list[Cell], repeats: int, warmup: int) -> list[Timing]:
    """Round-robin in the given order, then reversed; medians over both halves.

    Measured here, the second cell of a pair came out up to 10 % faster whatever it was (the
    first one warms what the second uses): a cost smaller than that needs both orders.
    """
    first = await measure_interleaved(cells, repeats, warmup)
    second = {t.label: t for t in await measure_interleaved(cells[::-1], repeats, warmup)}
    merged = []
    for timing_a in first:
        runs = timing_a.runs + second[timing_a.label].runs
        merged.append(Timing(timing_a.label, statistics.median(runs), runs))
    return merged


def _collected(run: Callable[[], Awaitable[list[int]]]) -> Callable[[], Awaitable[list[int]]]:
    async def with_collect() -> list[int]:
        with timing.collect() as timings:
            result = await run()
        assert len(timings) == len(ITEMS) // BATCH
        return result

    return with_collect


async def _celery_phase(repeats: int) -> tuple[list[Timing], float]:
    """Caller side interleaved; returns the timings and the engine's seconds per batch."""
    settings = CelerySettings.from_env()
    worker = CeleryWorkerProcess(
        broker_url=settings.broker_url,
        backend_url=settings.result_backend,
        queues=(queue_for_worker(WORKER_ID),),
        task_modules=os.environ[TASK_MODULES_ENV],
        concurrency=os.cpu_count() or 2,
        name="bench-split",
        cwd=REPO_ROOT,
    )
    worker.start(Path(tempfile.mkdtemp(prefix="cutover-bench-")))
    celery = CeleryEngine(settings)
    try:
        await celery.start()

        async def plain() -> list[int]:
            return await celery.map_batches(ITEMS, tasks.trivial, BATCH, WINDOW, OPTIONS)

        cells: list[Cell] = [
            ("celery engine", plain),
            ("celery engine + collect", _collected(plain)),
        ]
        for label, cell in cells:
            assert await cell() == ITEMS, f"{label} returned a wrong result"
        timings = await _both_orders(cells, repeats, warmup=3)
        per_batch = timings[0].median_s / (len(ITEMS) // BATCH)
        return timings, per_batch
    finally:
        await celery.close()
        worker.stop()


def _raw_ray(remote: Any, items: list[int], timed: bool) -> Callable[[], Awaitable[list[int]]]:
    """The batches through ``remote`` (timed or not), ``WINDOW`` in flight, ``ray.wait``."""
    import ray

    from adapters.ray.remote import pack, unpack
    from adapters.task_refs import allowed_task_modules, task_reference

    reference = task_reference(tasks.trivial)
    allowed = allowed_task_modules()
    batches = [pack(items[i : i + BATCH]) for i in range(0, len(items), BATCH)]

    async def run() -> list[int]:
        results: list[Any] = [None] * len(batches)
        in_flight: dict[Any, int] = {}
        next_index = 0
        while next_index < len(batches) or in_flight:
            while next_index < len(batches) and len(in_flight) < WINDOW:
                in_flight[remote.remote(reference, allowed, batches[next_index])] = next_index
                next_index += 1
            ready, _ = ray.wait(list(in_flight), num_returns=1)
            for ref in ready:
                value = unpack(ray.get(ref))
                results[in_flight.pop(ref)] = value[0] if timed else value
        return [value for batch in results for value in batch]

    return run


async def _ray_phase(repeats: int) -> list[Timing]:
    from adapters.ray.engine import RayEngine
    from adapters.ray.remote import remote_functions
    from adapters.ray.runtime import RaySettings

    engine = RayEngine()
    try:
        await engine.start()
        settings = RaySettings.from_env()
        remote = remote_functions(settings.max_retries, settings.batch_cpus)

        async def plain() -> list[int]:
            return await engine.map_batches(ITEMS, tasks.trivial, BATCH, WINDOW, OPTIONS)

        whole: list[Cell] = [
            ("ray raw untimed (execute_batch)", _raw_ray(remote.batch, ITEMS, False)),
            ("ray raw timed (execute_batch_timed)", _raw_ray(remote.timed_batch, ITEMS, True)),
        ]
        caller: list[Cell] = [("ray engine", plain), ("ray engine + collect", _collected(plain))]
        for label, cell in [*whole, *caller]:
            assert await cell() == ITEMS, f"{label} returned a wrong result"
        timings = await _both_orders(whole, repeats, warmup=3)
        timings += await _both_orders(caller, repeats, warmup=2)
        return timings
    finally:
        await engine.close()


def _celery_worker_side_s(rounds: int = 200_000) -> float:
    """Seconds per batch of what the worker adds: two clock reads, one request attribute,
    and the extra key through the result encoder (the stored meta is encoded anyway)."""
    from celery.app.task import Context

    from adapters import codec

    request = Context()
    meta: dict[str, Any] = {"status": "SUCCESS", "result": list(range(10)), "task_id": "x" * 49}
    started = time.perf_counter()
    for _ in range(rounds):
        begun = time.perf_counter()
        request.cutover_execution_s = time.perf_counter() - begun
    clocks = (time.perf_counter() - started) / rounds

    def encode_all(extra: bool) -> float:
        data = dict(meta, execution_s=0.00123) if extra else meta
        started = time.perf_counter()
        for _ in range(rounds // 10):
            codec.dumps(data)  # the result serializer (typed JSON)
        return (time.perf_counter() - started) / (rounds // 10)

    return clocks + max(0.0, encode_all(True) - encode_all(False))


async def run(repeats: int) -> dict[str, Any]:
    """Every cell; returns the figures."""
    os.environ.setdefault(TASK_MODULES_ENV, "cutover.demo")
    celery_timings, celery_per_batch = await _celery_phase(repeats)
    ray_timings = await _ray_phase(repeats)
    timings = celery_timings + ray_timings
    by_label = {t.label: t.median_s for t in timings}
    worker_side = _celery_worker_side_s()
    ratios = {
        "ray timed / untimed (whole path)": by_label["ray raw timed (execute_batch_timed)"]
        / by_label["ray raw untimed (execute_batch)"],
        "celery engine + collect / without": by_label["celery engine + collect"]
        / by_label["celery engine"],
        "ray engine + collect / without": by_label["ray engine + collect"] / by_label["ray engine"],
        "celery worker-side addition / batch round trip": worker_side / celery_per_batch,
    }
    return {
        "machine": machine_details(),
        "cells": [
            {"label": t.label, "median_ms": t.median_s * 1000, "spread": t.spread} for t in timings
        ],
        "celery_worker_side_us_per_batch": worker_side * 1e6,
        "celery_engine_ms_per_batch": celery_per_batch * 1000,
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
    rows = [
        [cell["label"], f"{cell['median_ms']:.1f}", f"{cell['spread']:.0%}"]
        for cell in report["cells"]
    ]
    headers = ["cell (1000 trivial items, 10 a batch, 5 in flight)", "ms", "spread"]
    print(render_table(headers, rows))
    print(
        f"celery worker side: {report['celery_worker_side_us_per_batch']:.2f} µs per batch "
        f"of {report['celery_engine_ms_per_batch']:.2f} ms"
    )
    for name, value in report["ratios"].items():
        print(f"{name}: {value:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
