"""Load through the Celery route of the shim: one huge call, and many calls at once.

- 100,000 items in one call (batches of 1,000: 100 messages);
- 50 concurrent calls of 1,000 tagged items each from one process (1,000 messages).

Every result is checked item by item (a tag per call catches results crossing calls), and the
caller's peak RSS growth must stay within a small multiple of the results' own size: the
client keeps no per-item state beyond the results themselves. The figures are printed and
quoted in ``benchmarks/RELIABILITY.md``.
"""

from __future__ import annotations

import asyncio
import gc
import time

import pytest

import compat
import flags
from tests.adapters import equiv_tasks
from tests.compat.conftest import SetFlags
from tests.reliability.figures import deep_size, peak_rss, report

pytestmark = [pytest.mark.slow, pytest.mark.celery, pytest.mark.usefixtures("live_engines")]

WORKER = "equiv"
BIG_CALL_ITEMS = 100_000
BIG_CALL_BATCH = 1_000
CONCURRENT_CALLS = 50
ITEMS_PER_CALL = 1_000
RESULTS_MULTIPLE = 8
"""Peak RSS growth allowed, as a multiple of the results' own size..."""
FIXED_SLACK = 48 * 1024 * 1024
"""...plus this much for buffers that do not grow with the items (sockets, decoder, pools)."""


@pytest.fixture(autouse=True)
def celery_route(set_flags: SetFlags) -> None:
    """The worker's flags send every call to Celery."""
    set_flags({WORKER: flags.FlagRecord(route="celery")})


async def test_one_call_of_100000_items_is_complete_and_bounded_in_memory() -> None:
    """100,000 items in one call: every result right and in order, memory bounded."""
    optimizer = compat.AsyncWorkerOptimizer(worker_id=WORKER)
    await optimizer.optimize_batch_processing([0], equiv_tasks.double)  # connections up
    items = list(range(BIG_CALL_ITEMS))
    gc.collect()
    started = time.perf_counter()
    with peak_rss() as rss:
        result = await optimizer.optimize_batch_processing(
            items, equiv_tasks.double, BIG_CALL_BATCH, 10
        )
    elapsed = time.perf_counter() - started

    assert BIG_CALL_ITEMS == len(result)
    assert all(2 * i == value for i, value in enumerate(result))
    size = deep_size(result)
    report(
        "celery_100k_items_one_call",
        items=BIG_CALL_ITEMS,
        messages=BIG_CALL_ITEMS // BIG_CALL_BATCH,
        seconds=round(elapsed, 2),
        items_per_s=round(BIG_CALL_ITEMS / elapsed),
        results_bytes=size,
        peak_rss_growth_bytes=rss.growth,
        peak_rss_bytes=rss.peak,
        growth_over_results=round(rss.growth / size, 2),
    )
    assert rss.growth < RESULTS_MULTIPLE * size + FIXED_SLACK


async def test_50_concurrent_calls_are_complete_and_bounded_in_memory() -> None:
    """50 calls at once from one process: each gets exactly its own results, in order."""
    optimizer = compat.AsyncWorkerOptimizer(worker_id=WORKER)
    await optimizer.optimize_batch_processing([0], equiv_tasks.double)
    calls = [[(call, i) for i in range(ITEMS_PER_CALL)] for call in range(CONCURRENT_CALLS)]
    gc.collect()
    started = time.perf_counter()
    with peak_rss() as rss:
        results = await asyncio.gather(
            *(
                optimizer.optimize_batch_processing(items, equiv_tasks.identity, 50, 4)
                for items in calls
            )
        )
    elapsed = time.perf_counter() - started

    assert calls == results
    size = sum(
        deep_size(result) + sum(deep_size(list(pair)) for pair in result) for result in results
    )
    total = CONCURRENT_CALLS * ITEMS_PER_CALL
    report(
        "celery_50_concurrent_calls",
        calls=CONCURRENT_CALLS,
        items=total,
        messages=total // 50,
        seconds=round(elapsed, 2),
        items_per_s=round(total / elapsed),
        results_bytes=size,
        peak_rss_growth_bytes=rss.growth,
        peak_rss_bytes=rss.peak,
        growth_over_results=round(rss.growth / size, 2),
    )
    assert rss.growth < RESULTS_MULTIPLE * size + FIXED_SLACK
