"""``AsyncBatchProcessor``: flush on size, flush on timeout, errors on every future."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cutover.errors import InvalidArgumentError
from legacy import AsyncBatchProcessor
from tests.legacy.loops import run_example


class RecordingHandler:
    """A batch handler that remembers every batch and returns ``item * 10`` for each."""

    def __init__(self) -> None:
        """No batch seen yet."""
        self.batches: list[list[Any]] = []

    async def __call__(self, items: list[Any]) -> list[Any]:
        """Record the batch, yield once, answer one result per item."""
        self.batches.append(list(items))
        await asyncio.sleep(0)
        return [item * 10 for item in items]


def timers_started_since(before: set[asyncio.Task[Any]]) -> set[asyncio.Task[Any]]:
    """The processors' timer tasks alive now that were not alive at ``before``.

    Only timers: the event loop is shared by the whole session, so another component
    (an engine's or a flag table's background task left by an earlier test) may start a task
    of its own meanwhile, which says nothing about the processor.
    """
    return {
        task
        for task in asyncio.all_tasks() - before
        if getattr(task.get_coro(), "__qualname__", "")
        == "AsyncBatchProcessor._flush_after_timeout"
    }


async def test_flushes_inside_the_add_item_that_fills_the_batch() -> None:
    """The third item of a batch of three is handled before its ``add_item`` returns."""
    before = asyncio.all_tasks()
    handler = RecordingHandler()
    processor = AsyncBatchProcessor(batch_size=3, timeout=60)
    processor.set_handler(handler)
    first = await processor.add_item(1)
    second = await processor.add_item(2)
    assert (False, False) == (first.done(), second.done())
    third = await processor.add_item(3)
    assert [[1, 2, 3]] == handler.batches
    assert [10, 20, 30] == [first.result(), second.result(), third.result()]
    assert set() == timers_started_since(before)  # the size flush cancelled the timer


async def test_flushes_pending_items_after_timeout() -> None:
    """Fewer than ``batch_size`` items are handled once ``timeout`` has passed."""
    handler = RecordingHandler()
    processor = AsyncBatchProcessor(batch_size=10, timeout=0.01)
    processor.set_handler(handler)
    futures = [await processor.add_item(item) for item in (4, 5)]
    assert [] == handler.batches
    assert [40, 50] == await asyncio.wait_for(asyncio.gather(*futures), timeout=5)
    assert [[4, 5]] == handler.batches
    assert {"total_batches": 1, "total_items": 2, "average_batch_size": 2.0} == (
        processor.get_statistics()
    )


@given(
    items=st.lists(st.integers(min_value=-100, max_value=100), max_size=30),
    batch_size=st.integers(min_value=1, max_value=8),
)
def test_batches_are_full_then_a_timed_remainder(items: list[int], batch_size: int) -> None:
    """Consecutive full batches flush on size; the remainder flushes on the timer."""
    handler = RecordingHandler()

    async def scenario() -> list[Any]:
        processor = AsyncBatchProcessor(batch_size=batch_size, timeout=0.001)
        processor.set_handler(handler)
        futures = [await processor.add_item(item) for item in items]
        results = await asyncio.wait_for(asyncio.gather(*futures), timeout=5)
        expected_stats = {
            "total_batches": len(handler.batches),
            "total_items": len(items),
            "average_batch_size": len(items) / len(handler.batches) if handler.batches else 0.0,
        }
        assert expected_stats == processor.get_statistics()
        return results

    assert [item * 10 for item in items] == run_example(scenario())
    expected_batches = [
        items[start : start + batch_size] for start in range(0, len(items), batch_size)
    ]
    assert expected_batches == handler.batches


async def test_handler_exception_is_set_on_every_future_of_the_batch() -> None:
    """Each future of the failed batch raises the handler's exception; stats skip it."""

    async def broken(items: list[Any]) -> list[Any]:
        raise RuntimeError(f"cannot handle {len(items)}")

    processor = AsyncBatchProcessor(batch_size=2, timeout=60)
    processor.set_handler(broken)
    futures = [await processor.add_item("a"), await processor.add_item("b")]
    for future in futures:
        with pytest.raises(RuntimeError, match="cannot handle 2"):
            await future
    assert 0 == processor.get_statistics()["total_batches"]


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        ([1, 2], "batch handler returned 2 results for 3 items"),
        ([1, 2, 3, 4], "batch handler returned 4 results for 3 items"),
        (None, "batch handler returned NoneType"),
    ],
)
async def test_wrong_result_count_fails_every_future_clearly(returned: Any, message: str) -> None:
    """A handler returning the wrong number of results fails all futures, none hangs."""

    async def miscounting(items: list[Any]) -> Any:
        return returned

    processor = AsyncBatchProcessor(batch_size=3, timeout=60)
    processor.set_handler(miscounting)
    futures = [await processor.add_item(item) for item in range(3)]
    for future in futures:
        with pytest.raises(InvalidArgumentError, match=message):
            await future


async def test_items_wait_for_a_handler() -> None:
    """Without a handler nothing is flushed; a later flush handles everything pending."""
    handler = RecordingHandler()
    processor = AsyncBatchProcessor(batch_size=3, timeout=0.001)
    early = await processor.add_item(1)
    await asyncio.sleep(0.01)
    assert not early.done()
    processor.set_handler(handler)
    later = await processor.add_item(2)
    assert [10, 20] == list(await asyncio.wait_for(asyncio.gather(early, later), timeout=5))
    assert [[1, 2]] == handler.batches


async def test_statistics_start_at_zero() -> None:
    """Before any batch every statistic is zero."""
    assert {"total_batches": 0, "total_items": 0, "average_batch_size": 0} == (
        AsyncBatchProcessor().get_statistics()
    )


async def test_invoke_handler_is_the_seam_a_subclass_overrides() -> None:
    """Overriding ``_invoke_handler`` replaces how a batch is handled."""

    class Routed(AsyncBatchProcessor):
        async def _invoke_handler(self, batch: list[Any]) -> list[Any]:
            return [f"routed:{item}" for item in batch]

    processor = Routed(batch_size=2)
    processor.set_handler(RecordingHandler())
    futures = [await processor.add_item("x"), await processor.add_item("y")]
    assert ["routed:x", "routed:y"] == [future.result() for future in futures]
