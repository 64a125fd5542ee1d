"""What naming the failing items costs on the paths that succeed, side by side (issue 18).

1000 trivial items, batches of 10, 5 in flight (the legacy defaults), cells timed
round-robin (:func:`benchmarks.common.measure_interleaved`), in both orders, in process:

- **Legacy side of a shadowed batched map**: :class:`adapters.legacy.marked.MarkedLegacyEngine`
  (the legacy map over ``(index, item)`` with the task function wrapped) against the plain
  :class:`adapters.legacy.engine.LegacyEngine`. Unshadowed legacy calls do not run it at all.
- **Worker side, Celery and Ray**: a batch's items gathered by
  :func:`adapters.item_errors.gather_marked` (what both workers' ``gather_or_cancel`` now
  call) against the previous inline gather, 100 batches of 10 run one after the other on one
  loop, as a worker runs them. The marking itself happens only when an item raises.

Run: ``python -m benchmarks.failed_items_bench [--repeats N] [--json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from adapters import item_errors
from adapters.legacy.engine import LegacyEngine
from adapters.legacy.marked import MarkedLegacyEngine
from benchmarks.common import Timing, machine_details, measure_interleaved, render_table
from cutover.demo import tasks

ITEMS = list(range(1000))
BATCH, WINDOW = 10, 5

Cell = tuple[str, Callable[[], Awaitable[Any]]]


async def _both_orders(cells: list[Cell], repeats: int, warmup: int) -> list[Timing]:
    """Round-robin in the given order, then reversed; medians over both halves."""
    first = await measure_interleaved(cells, repeats, warmup)
    second = {t.label: t for t in await measure_interleaved(cells[::-1], repeats, warmup)}
    merged = []
    for timing_a in first:
        runs = timing_a.runs + second[timing_a.label].runs
        merged.append(Timing(timing_a.label, statistics.median(runs), runs))
    return merged


async def _previous_gather(tasks_: Sequence[asyncio.Future[Any]]) -> list[Any]:
    """The workers' gather before issue 18's last part (no marking)."""
    try:
        return list(await asyncio.gather(*tasks_))
    except BaseException:
        for task in tasks_:
            task.cancel()
        await asyncio.gather(*tasks_, return_exceptions=True)
        raise


def _worker_batches(
    gather: Callable[[Sequence[asyncio.Future[Any]]], Awaitable[list[Any]]],
) -> Cell:
    async def run() -> list[Any]:
        results: list[Any] = []
        for start in range(0, len(ITEMS), BATCH):
            batch = [asyncio.ensure_future(tasks.trivial(x)) for x in ITEMS[start : start + BATCH]]
            results += await gather(batch)
        assert results == ITEMS
        return results

    return (getattr(gather, "__name__", "gather"), run)


async def bench(repeats: int) -> dict[str, Any]:
    """Both pairs; returns the figures."""
    plain, marked = LegacyEngine(), MarkedLegacyEngine()

    async def legacy_plain() -> list[Any]:
        return await plain.map_batches(ITEMS, tasks.trivial, BATCH, WINDOW)

    async def legacy_marked() -> list[Any]:
        return await marked.map_batches(ITEMS, tasks.trivial, BATCH, WINDOW)

    legacy = await _both_orders(
        [("legacy engine", legacy_plain), ("marked legacy engine", legacy_marked)], repeats, 3
    )
    _, previous = _worker_batches(_previous_gather)
    _, current = _worker_batches(item_errors.gather_marked)
    worker = await _both_orders(
        [("worker gather, previous", previous), ("worker gather, gather_marked", current)],
        repeats,
        3,
    )
    timings = legacy + worker
    return {
        "machine": machine_details(),
        "cells": {t.label: {"median_ms": t.median_s * 1000, "spread": t.spread} for t in timings},
        "ratios": {
            "marked / plain legacy engine (shadowed legacy side)": legacy[1].median_s
            / legacy[0].median_s,
            "gather_marked / previous gather (worker side)": worker[1].median_s
            / worker[0].median_s,
        },
    }


def main(argv: list[str] | None = None) -> int:
    """Run and print a table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    figures = asyncio.run(bench(args.repeats))
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(figures["machine"])
    rows = [
        [label, f"{cell['median_ms']:.2f}", f"{cell['spread']:.0%}"]
        for label, cell in figures["cells"].items()
    ]
    print(
        render_table(["cell (1000 trivial items, 10 a batch, 5 in flight)", "ms", "spread"], rows)
    )
    for label, ratio in figures["ratios"].items():
        print(f"{label}: {ratio:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
