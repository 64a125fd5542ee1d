"""The shim's own cost, side by side in one run (issue: compat performance).

1. Routing overhead on the legacy route: ``compat`` vs calling ``legacy/`` directly, per
   call, on a call small enough that the overhead shows (10 trivial items). Measured with
   the call log at ``info`` (the default: a summary per interval, no line per call) and at
   ``debug`` (one JSON line per call, itself ~9-15 µs). ``benchmarks/hotpath_bench.py``
   measures the same per flag store, for 1 and 100 items.
2. Shadow at 100 % on I/O-bound work: the primary's latency with a Ray candidate beside it
   vs the same calls without shadow (target: at most 5 % above).

Run: ``python -m benchmarks.compat_bench [--calls N] [--json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import flags
from benchmarks.common import machine_details, render_table
from compat import calllog
from compat.optimizer import AsyncWorkerOptimizer as CompatOptimizer
from compat.router import Router, set_router
from compat.shadow.recorders import MemoryShadowRecorder
from compat.shadow.runner import ShadowRunner, set_shadow_runner
from compat.shadow.safety import shadow_safe
from cutover.demo import tasks
from legacy import AsyncWorkerOptimizer as LegacyOptimizer

WORKER = "bench"
ROUNDS = 31


@shadow_safe
async def io_5ms(item: int) -> int:
    """An I/O-bound item: 5 ms of awaiting."""
    await asyncio.sleep(0.005)
    return item


async def per_call_us(call: Callable[[], Awaitable[Any]], calls: int) -> float:
    """Mean CPU µs per call over ``calls`` calls (thread CPU time: another process's load on
    the machine does not count, as it would in wall time)."""
    started = time.thread_time()
    for _ in range(calls):
        await call()
    return (time.thread_time() - started) / calls * 1e6


async def paired_overhead_us(
    direct: Callable[[], Awaitable[Any]], shim: Callable[[], Awaitable[Any]], calls: int
) -> tuple[float, float, float]:
    """Median direct µs, median shim µs and the median of paired differences.

    Rounds alternate direct / shim / direct and each shim round is compared with the mean of
    the two direct rounds around it, so slow drifts of the machine cancel out.
    """
    directs, shims, differences = [], [], []
    for _ in range(ROUNDS):
        before = await per_call_us(direct, calls)
        shim_us = await per_call_us(shim, calls)
        after = await per_call_us(direct, calls)
        directs.append((before + after) / 2)
        shims.append(shim_us)
        differences.append(shim_us - (before + after) / 2)
    return statistics.median(directs), statistics.median(shims), statistics.median(differences)


def install(record: flags.FlagRecord, call_log_level: str) -> None:
    """A router over a fixed table (no store), with the given per-call log level."""
    os.environ["CUTOVER_CALL_LOG_LEVEL"] = call_log_level
    calllog.configure()
    set_router(Router(table=flags.FlagTable.static({WORKER: record})))


async def routing_overhead(calls: int) -> dict[str, float]:
    """µs per call: legacy direct vs the shim's legacy route, log line off and on.

    Two call sizes: 10 trivial items (a realistic small call) and no items (nothing but the
    shim's own work, so the overhead is not lost in the gather's noise).
    """
    direct = LegacyOptimizer()
    shim = CompatOptimizer(worker_id=WORKER)
    figures: dict[str, float] = {}
    # The per-call lines go to a null device: we measure producing them, not a terminal.
    stderr, sys.stderr = sys.stderr, open(os.devnull, "w")  # noqa: SIM115, ASYNC230
    try:
        for size in (10, 0):
            items = list(range(size))

            async def legacy_call(items: list[int] = items) -> Any:
                return await direct.optimize_batch_processing(items, tasks.trivial)

            async def shim_call(items: list[int] = items) -> Any:
                return await shim.optimize_batch_processing(items, tasks.trivial)

            for level in ("info", "debug"):
                install(flags.FlagRecord(route="legacy"), level)
                direct_us, shim_us, overhead = await paired_overhead_us(
                    legacy_call, shim_call, calls
                )
                figures[f"{size} items · legacy direct"] = direct_us
                figures[f"{size} items · shim, call log {level}"] = shim_us
                figures[f"{size} items · overhead, call log {level}"] = overhead
    finally:
        sys.stderr.close()
        sys.stderr = stderr
    return figures


async def shadow_latency(calls: int) -> dict[str, float]:
    """Median primary latency (ms) of I/O-bound calls with and without a 100 % shadow."""
    items = list(range(50))
    optimizer = CompatOptimizer(worker_id=WORKER)
    from adapters.registry import get_engine

    await get_engine("ray").start()
    results: dict[str, list[float]] = {"no shadow": [], "shadow 100% on ray": []}
    shadow = flags.ShadowConfig(route="ray", sample=1.0, timeout_s=30.0)
    for _ in range(calls):
        for label, record in (
            ("no shadow", flags.FlagRecord(route="legacy")),
            ("shadow 100% on ray", flags.FlagRecord(route="legacy", shadow=shadow)),
        ):
            install(record, "warning")
            # Records kept in memory: the benchmark measures the primary, not the store.
            set_shadow_runner(ShadowRunner(recorder=MemoryShadowRecorder()))
            started = time.perf_counter()
            await optimizer.optimize_batch_processing(items, io_5ms, 10, 5)
            results[label].append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.02)
    await optimizer.__aexit__(None, None, None)
    return {label: statistics.median(values) for label, values in results.items()}


def main(argv: list[str] | None = None) -> int:
    """Run both measurements and print them side by side."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--shadow-calls", type=int, default=40)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    overhead = asyncio.run(routing_overhead(args.calls))
    shadow = asyncio.run(shadow_latency(args.shadow_calls))
    report = {
        "machine": machine_details(),
        "per_call_us": overhead,
        "primary_latency_ms": shadow,
        "shadow_latency_ratio": shadow["shadow 100% on ray"] / shadow["no shadow"],
    }
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
        return 0
    print(f"machine: {report['machine']}")
    rows = [
        [label, f"{value:+.1f}" if "overhead" in label else f"{value:.1f}"]
        for label, value in overhead.items()
    ]
    print(render_table(["per call (CPU time, median of paired rounds)", "µs"], rows))
    print()
    rows = [[label, f"{value:.2f}"] for label, value in shadow.items()]
    print(render_table(["50 items x 5 ms I/O, primary latency", "median ms"], rows))
    print(f"  ratio with shadow / without: {report['shadow_latency_ratio']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
