"""``cutover demo``: run a real batch through the legacy module and show what it did.

This is the foundation's main job: 1000 items through ``legacy``'s
``optimize_batch_processing`` with the sample I/O-light task, printing the wall time, the
throughput and the optimizer's metrics. The staged cutover tour (shadow, 25 %, 100 %) builds
on it.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from cutover.demo.tasks import io_light
from legacy import AsyncWorkerOptimizer


async def _run_legacy_batch(items: int, batch_size: int, max_concurrent: int) -> list[str]:
    optimizer = AsyncWorkerOptimizer()
    started = time.perf_counter()
    results = await optimizer.optimize_batch_processing(
        list(range(items)), io_light, batch_size, max_concurrent
    )
    elapsed = time.perf_counter() - started
    expected = [2 * i for i in range(items)]
    verdict = "correct" if results == expected else "WRONG"
    return [
        f"legacy batch: {items} items, batch_size={batch_size}, max_concurrent={max_concurrent}",
        f"  results      {len(results)} ({verdict}, in input order)",
        f"  wall time    {elapsed * 1000:.1f} ms",
        f"  throughput   {items / elapsed:,.0f} items/s",
    ]


def _demo(args: argparse.Namespace) -> int:
    lines = asyncio.run(_run_legacy_batch(args.items, args.batch_size, args.max_concurrent))
    print("\n".join(lines))
    return 0 if "correct" in lines[1] else 1


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``cutover demo``."""
    demo = subparsers.add_parser("demo", help="run the demo (a real batch through legacy)")
    demo.add_argument("--items", type=int, default=1000)
    demo.add_argument("--batch-size", type=int, default=10)
    demo.add_argument("--max-concurrent", type=int, default=5)
    demo.set_defaults(handler=_demo)


__all__ = ["register"]
