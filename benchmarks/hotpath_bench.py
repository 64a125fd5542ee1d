"""The shim's cost per call on the legacy route, per flag store, in one run (issue #19).

Legacy direct (``legacy.AsyncWorkerOptimizer``) against the shim whose flags send the call
to legacy, with the flags

- in a file store (``file://``, the default store) followed by a live table,
- in a Redis store (``redis://``, pub/sub) followed by a live table,
- as a hybrid rule (``route=hybrid``, threshold above the call sizes, ``small=legacy``),

for calls of 1 item and of 100 items of a trivial coroutine, with the call log at its
defaults (``CUTOVER_LOG_LEVEL`` / ``CUTOVER_CALL_LOG_LEVEL`` as set in the environment).
Each figure is thread CPU time (another process's load does not count), the median of
rounds alternating direct / shim / direct (:func:`benchmarks.compat_bench.paired_overhead_us`),
so that slow drifts of the machine cancel out of the overhead. A first row pairs legacy
with legacy the same way: the method's noise floor (a few µs on 100-item calls).

One process's figures for 100-item calls move by several µs from one process to the next
(where the interpreter's objects land in memory decides which of them evict each other from
the CPU caches during a call that schedules a hundred tasks), more than the paired rounds'
own spread. ``--processes K`` therefore runs the whole bench in K fresh processes one after
the other and reports, per cell, the median over them with the range: the figure to record.

Run: ``python -m benchmarks.hotpath_bench [--rounds N] [--processes K] [--json]``; the Redis
store is ``$CUTOVER_BENCH_FLAGS_REDIS`` (default ``redis://127.0.0.1:6379/14``; only the worker
``hotpath-bench`` is written). Figures are kept in ``benchmarks/HOTPATH.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import flags
from benchmarks.common import machine_details, render_table
from compat import calllog
from compat.optimizer import AsyncWorkerOptimizer as CompatOptimizer
from compat.router import Router, set_router
from cutover.demo import tasks
from ground.constants import CALL_LOG_LEVEL_ENV, LOG_LEVEL_ENV
from legacy import AsyncWorkerOptimizer as LegacyOptimizer

WORKER = "hotpath-bench"
REDIS_ENV = "CUTOVER_BENCH_FLAGS_REDIS"
DEFAULT_REDIS = "redis://127.0.0.1:6379/14"
SIZES = (1, 100)
CALLS_PER_ROUND = {1: 400, 100: 40}
"""Calls timed per round: enough for a round to last a few milliseconds of CPU."""

LEGACY_RECORD = flags.FlagRecord(route="legacy")
HYBRID_RECORD = flags.FlagRecord(
    route="hybrid", hybrid=flags.HybridPolicy(threshold=1000, small="legacy", large="ray")
)


async def per_call_us(call: Callable[[], Awaitable[Any]], calls: int) -> float:
    """Mean thread-CPU µs per call over ``calls`` calls."""
    started = time.thread_time()
    for _ in range(calls):
        await call()
    return (time.thread_time() - started) / calls * 1e6


async def paired(
    direct: Callable[[], Awaitable[Any]],
    shim: Callable[[], Awaitable[Any]],
    calls: int,
    rounds: int,
) -> dict[str, float]:
    """Median direct µs, shim µs, paired overhead µs and ratio over ``rounds`` rounds.

    Each shim round sits between two direct rounds and is compared with their mean.
    """
    directs, shims, differences = [], [], []
    for _ in range(rounds):
        before = await per_call_us(direct, calls)
        shim_us = await per_call_us(shim, calls)
        after = await per_call_us(direct, calls)
        directs.append((before + after) / 2)
        shims.append(shim_us)
        differences.append(shim_us - (before + after) / 2)
    direct_us = statistics.median(directs)
    shim_us = statistics.median(shims)
    return {
        "direct_us": direct_us,
        "shim_us": shim_us,
        "overhead_us": statistics.median(differences),
        "ratio": shim_us / direct_us,
    }


def _put(store: flags.FlagStore, record: flags.FlagRecord) -> None:
    """Write ``record`` for the bench's worker, whatever version is stored."""
    store.put(
        WORKER,
        record,
        expected_version=store.get(WORKER).version,
        actor="hotpath-bench",
        reason="benchmark",
    )


@contextmanager
def live_table(url: str, record: flags.FlagRecord, snapshot: Path) -> Iterator[flags.FlagTable]:
    """A watching table over the store at ``url``, with ``record`` stored and seen."""
    store = flags.open_store(url)
    try:
        _put(store, record)
    finally:
        store.close()
    table = flags.FlagTable(url, snapshot_path=snapshot)
    try:
        deadline = time.monotonic() + 10
        while table.record(WORKER).route != record.route and time.monotonic() < deadline:
            time.sleep(0.05)
        if table.record(WORKER).route != record.route:
            raise SystemExit(f"the table over {url} never saw the bench's flags")
        yield table
    finally:
        table.close()


def _items(size: int) -> str:
    return f"{size} item{'s' if size > 1 else ''}"


async def measure(rounds: int, redis_url: str) -> dict[str, dict[str, float]]:
    """Every (store, size) cell: direct vs shim on the legacy route."""
    direct = LegacyOptimizer()
    shim = CompatOptimizer(worker_id=WORKER)
    figures: dict[str, dict[str, float]] = {}
    other = LegacyOptimizer()
    for size in SIZES:  # the method's own noise: legacy against legacy, same pairing
        items = list(range(size))

        async def legacy_a(items: list[int] = items) -> Any:
            return await direct.optimize_batch_processing(items, tasks.trivial)

        async def legacy_b(items: list[int] = items) -> Any:
            return await other.optimize_batch_processing(items, tasks.trivial)

        figures[f"noise floor: legacy vs legacy · {_items(size)}"] = await paired(
            legacy_a, legacy_b, CALLS_PER_ROUND[size], rounds
        )
    with tempfile.TemporaryDirectory(prefix="hotpath-bench-") as home:
        stores = [
            ("file store", f"file://{home}/flags.json", LEGACY_RECORD),
            ("redis store", redis_url, LEGACY_RECORD),
            ("hybrid rule (file)", f"file://{home}/hybrid.json", HYBRID_RECORD),
        ]
        for label, url, record in stores:
            with live_table(url, record, Path(home) / f"{len(figures)}.snapshot") as table:
                set_router(Router(table=table))
                for size in SIZES:
                    items = list(range(size))

                    async def legacy_call(items: list[int] = items) -> Any:
                        return await direct.optimize_batch_processing(items, tasks.trivial)

                    async def shim_call(items: list[int] = items) -> Any:
                        return await shim.optimize_batch_processing(items, tasks.trivial)

                    for _ in range(50):  # warm-up: caches, the first summary window
                        await legacy_call()
                        await shim_call()
                    figures[f"{label} · {_items(size)}"] = await paired(
                        legacy_call, shim_call, CALLS_PER_ROUND[size], rounds
                    )
                set_router(None)
    return figures


def across_processes(processes: int, rounds: int) -> dict[str, dict[str, float]]:
    """Every cell measured in ``processes`` fresh processes: medians over them, with the
    lowest and highest overhead (``low_us``, ``high_us``)."""
    runs: list[dict[str, dict[str, float]]] = []
    for _ in range(processes):
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.hotpath_bench", "--rounds", str(rounds), "--json"],
            capture_output=True,
            text=True,
            check=True,
        )
        runs.append(json.loads(done.stdout)["per_call"])
    figures: dict[str, dict[str, float]] = {}
    for label in runs[0]:
        cells = [run[label] for run in runs]
        overheads = [cell["overhead_us"] for cell in cells]
        direct = statistics.median(cell["direct_us"] for cell in cells)
        shim = statistics.median(cell["shim_us"] for cell in cells)
        figures[label] = {
            "direct_us": direct,
            "shim_us": shim,
            "overhead_us": statistics.median(overheads),
            "ratio": shim / direct,
            "low_us": min(overheads),
            "high_us": max(overheads),
        }
    return figures


def main(argv: list[str] | None = None) -> int:
    """Measure every cell and print them side by side."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=31)
    parser.add_argument(
        "--processes", type=int, default=1, help="median over this many fresh processes"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.processes > 1:
        return report(across_processes(args.processes, args.rounds), args.json, args.processes)
    redis_url = os.environ.get(REDIS_ENV, DEFAULT_REDIS)
    # Whatever the call log writes goes to a null device: we measure producing it.
    stderr, sys.stderr = sys.stderr, open(os.devnull, "w")  # noqa: SIM115
    calllog.configure()  # its loggers bound to the null device
    try:
        figures = asyncio.run(measure(args.rounds, redis_url))
    finally:
        sys.stderr.close()
        sys.stderr = stderr
    return report(figures, args.json, 1)


def report(figures: dict[str, dict[str, float]], as_json: bool, processes: int) -> int:
    """Print the cells (a table, or JSON with ``--json``)."""
    call_log = {
        name: os.environ.get(name, "(unset)") for name in (LOG_LEVEL_ENV, CALL_LOG_LEVEL_ENV)
    }
    report = {
        "machine": machine_details(),
        "call_log": call_log,
        "processes": processes,
        "per_call": figures,
    }
    if as_json:
        json.dump(report, sys.stdout, indent=2)
        print()
        return 0
    print(f"machine: {report['machine']}")
    print("call log: " + ", ".join(f"{k}={v}" for k, v in call_log.items()))
    if processes > 1:
        print(f"medians over {processes} processes; range: lowest..highest overhead")
    rows = [
        [
            label,
            f"{cell['direct_us']:.2f}",
            f"{cell['shim_us']:.2f}",
            f"{cell['overhead_us']:+.2f}",
            f"{cell['ratio']:.3f}",
            *([f"{cell['low_us']:+.1f}..{cell['high_us']:+.1f}"] if processes > 1 else []),
        ]
        for label, cell in figures.items()
    ]
    headers = ["legacy route, per call (thread CPU)", "direct µs", "shim µs", "overhead µs"]
    headers.append("shim/direct")
    if processes > 1:
        headers.append("range µs")
    print(render_table(headers, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
