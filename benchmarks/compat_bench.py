"""The shim's own cost, side by side in one run (issue: compat performance).

1. Routing overhead on the legacy route: ``compat`` vs calling ``legacy/`` directly, per
   call, on a call small enough that the overhead shows (10 trivial items). Measured with
   the per-call log line filtered (``CUTOVER_CALL_LOG_LEVEL=debug`` under an INFO logger)
   and emitted (``info``), since rendering a JSON line is itself ~15 µs.
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
from compat.optimizer import AsyncWorkerOptimizer as CompatOptimizer
from compat.router import Router, set_router
from compat.shadow.runner import ShadowRunner, set_shadow_runner
from compat.shadow.safety import shadow_safe
from cutover.demo import tasks
from legacy import AsyncWorkerOptimizer as LegacyOptimizer

WORKER = "bench"


@shadow_safe
async def io_5ms(item: int) -> int:
    """An I/O-bound item: 5 ms of awaiting."""
    await asyncio.sleep(0.005)
    return item


async def per_call_us(call: Callable[[], Awaitable[Any]], calls: int) -> float:
    """Median over 5 rounds of the mean µs per call."""
    rounds = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(calls):
            await call()
        rounds.append((time.perf_counter() - started) / calls * 1e6)
    return statistics.median(rounds)


def install(record: flags.FlagRecord, call_log_level: str) -> None:
    """A router over a fixed table (no store), with the given per-call log level."""
    os.environ["CUTOVER_CALL_LOG_LEVEL"] = call_log_level
    set_router(Router(table=flags.FlagTable.static({WORKER: record})))


async def routing_overhead(calls: int) -> dict[str, float]:
    """µs per call: legacy direct vs the shim's legacy route, log line off and on."""
    items = list(range(10))
    direct = LegacyOptimizer()
    shim = CompatOptimizer(worker_id=WORKER)

    async def legacy_call() -> Any:
        return await direct.optimize_batch_processing(items, tasks.trivial)

    async def shim_call() -> Any:
        return await shim.optimize_batch_processing(items, tasks.trivial)

    figures: dict[str, list[float]] = {}
    # The per-call lines go to a null device: we measure producing them, not a terminal.
    stderr, sys.stderr = sys.stderr, open(os.devnull, "w")  # noqa: SIM115, ASYNC230
    try:
        for level in ("debug", "info"):
            install(flags.FlagRecord(route="legacy"), level)
            for _ in range(3):  # interleave to share the machine's noise
                direct_us = await per_call_us(legacy_call, calls)
                shim_us = await per_call_us(shim_call, calls)
                figures.setdefault("legacy direct", []).append(direct_us)
                figures.setdefault(f"shim, call log {level}", []).append(shim_us)
    finally:
        sys.stderr.close()
        sys.stderr = stderr
    return {label: statistics.median(values) for label, values in figures.items()}


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
            set_shadow_runner(ShadowRunner(recorder=_NullRecorder()))
            started = time.perf_counter()
            await optimizer.optimize_batch_processing(items, io_5ms, 10, 5)
            results[label].append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.02)
    await optimizer.__aexit__(None, None, None)
    return {label: statistics.median(values) for label, values in results.items()}


class _NullRecorder:
    """Keeps records in memory: the benchmark measures the primary, not the store."""

    dropped = 0

    def __init__(self) -> None:
        self.records: list[Any] = []

    def record(self, record: Any) -> None:
        self.records.append(record)


def main(argv: list[str] | None = None) -> int:
    """Run both measurements and print them side by side."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--shadow-calls", type=int, default=40)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    overhead = asyncio.run(routing_overhead(args.calls))
    shadow = asyncio.run(shadow_latency(args.shadow_calls))
    report = {
        "machine": machine_details(),
        "per_call_us": overhead,
        "overhead_us": {
            label: value - overhead["legacy direct"]
            for label, value in overhead.items()
            if label != "legacy direct"
        },
        "primary_latency_ms": shadow,
        "shadow_latency_ratio": shadow["shadow 100% on ray"] / shadow["no shadow"],
    }
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
        return 0
    print(f"machine: {report['machine']}")
    rows = [[label, f"{value:.1f}"] for label, value in overhead.items()]
    print(render_table(["10 trivial items, per call", "µs"], rows))
    for label, value in report["overhead_us"].items():
        print(f"  overhead of {label}: {value:+.1f} µs per call")
    print()
    rows = [[label, f"{value:.2f}"] for label, value in shadow.items()]
    print(render_table(["50 items x 5 ms I/O, primary latency", "median ms"], rows))
    print(f"  ratio with shadow / without: {report['shadow_latency_ratio']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
