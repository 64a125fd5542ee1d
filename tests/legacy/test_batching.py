"""``optimize_batch_processing`` and the module-level ``run_batched`` behind it."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cutover.errors import InvalidArgumentError
from legacy import AsyncWorkerOptimizer
from legacy.batching import run_batched, split_into_batches, validate_batch_arguments
from legacy.optimizer import BATCH_PROCESSING_METRICS_KEY
from tests.legacy import strategies
from tests.legacy.loops import run_example

T = TypeVar("T")


class ItemFailedError(Exception):
    """Raised by a test task for one chosen item."""


async def sequential(task: Callable[[Any], Awaitable[T]], items: list[Any]) -> list[T]:
    """The reference: ``[await task(x) for x in items]``."""
    return [await task(item) for item in items]


@given(
    values=strategies.batch_items,
    batch_size=strategies.batch_sizes,
    max_concurrent=strategies.concurrency_limits,
    data=st.data(),
)
def test_results_in_input_order_and_batches_bounded(
    values: list[int], batch_size: int, max_concurrent: int, data: st.DataObject
) -> None:
    """Results equal a sequential run, and never more than ``max_concurrent`` batches run.

    Each item knows its batch (``index // batch_size``); while it is in flight it counts its
    batch as active. Every item yields at least once, so all the items of the batches holding
    the semaphore are in flight together and the count reaches the limit exactly.
    """
    items = list(enumerate(values))
    yields = data.draw(st.lists(strategies.yield_counts, min_size=len(items), max_size=len(items)))
    in_flight: Counter[int] = Counter()
    most_active_batches = 0

    async def task(item: tuple[int, int]) -> tuple[int, int]:
        nonlocal most_active_batches
        index, value = item
        in_flight[index // batch_size] += 1
        active = sum(1 for count in in_flight.values() if count > 0)
        most_active_batches = max(most_active_batches, active)
        for _ in range(yields[index]):
            await asyncio.sleep(0)
        in_flight[index // batch_size] -= 1
        return index, value * 3 - 1

    expected = run_example(sequential(task, items))
    most_active_batches = 0
    actual = run_example(
        AsyncWorkerOptimizer().optimize_batch_processing(items, task, batch_size, max_concurrent)
    )
    assert expected == actual
    batch_count = -(-len(items) // batch_size)
    assert min(max_concurrent, batch_count) == most_active_batches


@given(
    values=strategies.batch_items.filter(bool),
    batch_size=strategies.batch_sizes,
    max_concurrent=strategies.concurrency_limits,
    data=st.data(),
)
def test_exception_from_one_item_propagates_unchanged(
    values: list[int], batch_size: int, max_concurrent: int, data: st.DataObject
) -> None:
    """The very exception object a failing item raises reaches the caller: type and message."""
    failing = data.draw(st.integers(min_value=0, max_value=len(values) - 1))
    raised: list[ItemFailedError] = []

    async def task(item: tuple[int, int]) -> int:
        index, value = item
        await asyncio.sleep(0)
        if index == failing:
            raised.append(ItemFailedError(f"item {index} failed on {value}"))
            raise raised[-1]
        return value

    optimizer = AsyncWorkerOptimizer()
    with pytest.raises(ItemFailedError) as caught:
        run_example(
            optimizer.optimize_batch_processing(
                list(enumerate(values)), task, batch_size, max_concurrent
            )
        )
    assert f"item {failing} failed on {values[failing]}" == str(caught.value)
    assert [caught.value] == raised
    assert 1 == optimizer.metrics[BATCH_PROCESSING_METRICS_KEY].errors_count


async def test_other_batches_keep_running_after_a_failure() -> None:
    """As in the original, a failure cancels nothing: later batches still run every item."""
    started: list[int] = []
    finished = asyncio.Event()

    async def task(item: int) -> int:
        started.append(item)
        await asyncio.sleep(0)
        if item == 0:
            raise ItemFailedError("first item")
        if len(started) == 6:
            finished.set()
        return item

    with pytest.raises(ItemFailedError, match="first item"):
        await AsyncWorkerOptimizer().optimize_batch_processing(
            list(range(6)), task, batch_size=2, max_concurrent=1
        )
    await asyncio.wait_for(finished.wait(), timeout=5)
    assert list(range(6)) == sorted(started)


async def test_empty_items_give_empty_list_without_calls() -> None:
    """No items: ``[]`` and the task is never called."""
    calls: list[Any] = []

    async def task(item: Any) -> Any:
        calls.append(item)
        return item

    assert [] == await AsyncWorkerOptimizer().optimize_batch_processing([], task)
    assert [] == calls


async def test_defaults_are_ten_per_batch_five_at_once() -> None:
    """With the defaults, 60 items run as six batches of ten, at most five at a time."""
    in_flight: Counter[int] = Counter()
    most = 0

    async def task(index: int) -> int:
        nonlocal most
        in_flight[index // 10] += 1
        most = max(most, sum(1 for count in in_flight.values() if count > 0))
        await asyncio.sleep(0)
        in_flight[index // 10] -= 1
        return index

    assert list(range(60)) == await AsyncWorkerOptimizer().optimize_batch_processing(
        list(range(60)), task
    )
    assert 5 == most


@pytest.mark.parametrize(
    ("batch_size", "max_concurrent", "message"),
    [
        (
            0,
            5,
            "batch_size must be an int >= 1, got 0: a non-positive batch size would drop "
            "every item",
        ),
        (
            -3,
            5,
            "batch_size must be an int >= 1, got -3: a non-positive batch size would drop "
            "every item",
        ),
        (
            10,
            0,
            "max_concurrent must be an int >= 1, got 0: with no slot for a batch nothing "
            "could ever start",
        ),
        (2.0, 5, "batch_size must be an int >= 1, got 2.0 of type float"),
        (True, 5, "batch_size must be an int >= 1, got True of type bool"),
        (10, "5", "max_concurrent must be an int >= 1, got '5' of type str"),
    ],
)
async def test_bad_arguments_are_refused_before_any_task_runs(
    batch_size: Any, max_concurrent: Any, message: str
) -> None:
    """A bad argument raises ``InvalidArgumentError`` naming it; no task runs, no metric moves.

    The original hung forever for ``max_concurrent=0`` and returned ``[]`` for a negative
    batch size.
    """
    calls: list[int] = []

    async def task(item: int) -> int:
        calls.append(item)
        return item

    optimizer = AsyncWorkerOptimizer()
    with pytest.raises(InvalidArgumentError) as caught:
        await optimizer.optimize_batch_processing([1, 2, 3], task, batch_size, max_concurrent)
    assert message == str(caught.value)
    assert [] == calls
    assert {} == dict(optimizer.metrics)


@given(value=strategies.invalid_batch_arguments, which=st.sampled_from(["batch", "concurrency"]))
def test_invalid_values_raise_value_and_type_error(value: Any, which: str) -> None:
    """Every refused value raises an error that is both ``ValueError`` and ``TypeError``."""
    arguments = (value, 1) if which == "batch" else (1, value)
    name = "batch_size" if which == "batch" else "max_concurrent"
    with pytest.raises(InvalidArgumentError) as caught:
        validate_batch_arguments(*arguments)
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, TypeError)
    assert str(caught.value).startswith(f"{name} must be an int >= 1, got {value!r}")


async def test_empty_items_are_still_validated() -> None:
    """Validation comes first: empty items with a bad batch size still raise."""

    async def task(item: int) -> int:
        return item

    with pytest.raises(InvalidArgumentError, match="batch_size"):
        await run_batched([], task, 0, 1)


async def test_metrics_count_processed_items() -> None:
    """Each successful call adds its items and time under ``metrics["batch_processing"]``."""

    async def task(item: int) -> int:
        return item

    optimizer = AsyncWorkerOptimizer()
    await optimizer.optimize_batch_processing([1, 2, 3], task, batch_size=2)
    await optimizer.optimize_batch_processing([4, 5], task)
    metrics = optimizer.metrics[BATCH_PROCESSING_METRICS_KEY]
    assert 5 == metrics.tasks_processed
    assert 0 == metrics.errors_count
    assert metrics.total_processing_time > 0
    assert metrics.last_task_time is not None


async def test_run_batched_is_callable_directly() -> None:
    """``run_batched`` is the same map, usable without an optimizer (and with a tuple)."""

    async def double(item: int) -> int:
        await asyncio.sleep(0)
        return item * 2

    assert [2, 4, 6, 8, 10] == await run_batched((1, 2, 3, 4, 5), double, 2, 2)


@given(items=strategies.batch_items, batch_size=strategies.batch_sizes)
def test_split_into_batches_is_consecutive_and_complete(items: list[int], batch_size: int) -> None:
    """Batches are consecutive, full except maybe the last, and concatenate back to the input."""
    batches = split_into_batches(items, batch_size)
    assert items == [item for batch in batches for item in batch]
    assert all(batch_size == len(batch) for batch in batches[:-1])
    assert all(1 <= len(batch) <= batch_size for batch in batches)
