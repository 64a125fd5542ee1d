"""The contract every engine honours: exactly what legacy gives.

One suite, parametrized over ``legacy``, ``celery`` (Redis broker), ``celery-amqp``
(RabbitMQ broker) and ``ray``; each call is compared with the legacy reference run in the
same test: same values, same types, same order, same exception type and message.
"""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.base import CallOptions, ExecutionEngine, TaskFunc
from cutover.errors import InvalidArgumentError, NotPortableError
from legacy import AsyncWorkerOptimizer
from tests.adapters import equiv_tasks
from tests.adapters.strategies import carriable_values, same_typed

OPTIONS = CallOptions(worker_id="equiv")

batch_sizes = st.integers(min_value=1, max_value=12)
concurrency = st.integers(min_value=1, max_value=5)


async def legacy_map(items: list[Any], func: TaskFunc, batch_size: int, limit: int) -> list[Any]:
    """The reference: the legacy optimizer itself."""
    return await AsyncWorkerOptimizer().optimize_batch_processing(items, func, batch_size, limit)


async def outcome(coroutine: Any) -> tuple[str, Any]:
    """``("ok", value)`` or ``("raised", (type, str))`` so results and errors compare alike."""
    try:
        return ("ok", await coroutine)
    except Exception as exc:  # noqa: BLE001 - the outcome *is* the exception
        return ("raised", (type(exc), str(exc)))


@given(items=st.lists(carriable_values(), max_size=25), batch_size=batch_sizes, limit=concurrency)
@settings(max_examples=25)
async def test_values_and_types_come_back_as_on_legacy(
    engine: ExecutionEngine, items: list[Any], batch_size: int, limit: int
) -> None:
    """Arbitrary carriable items come back equal, of the same types, in input order."""
    expected = await legacy_map(items, equiv_tasks.describe, batch_size, limit)
    actual = await engine.map_batches(items, equiv_tasks.describe, batch_size, limit, OPTIONS)
    assert same_typed(expected, actual)


@given(
    items=st.lists(st.integers(min_value=-5, max_value=1000), max_size=40),
    batch_size=batch_sizes,
    limit=concurrency,
    func=st.sampled_from(
        [
            equiv_tasks.double,
            equiv_tasks.fail_on_negative,
            equiv_tasks.key_error_on_negative,
            equiv_tasks.custom_error_on_negative,
        ]
    ),
)
@settings(max_examples=30)
async def test_results_and_exceptions_match_legacy(
    engine: ExecutionEngine, items: list[int], batch_size: int, limit: int, func: TaskFunc
) -> None:
    """Same results, or the same exception type and message, for any batch shape.

    At most one item is negative, so which failure wins cannot depend on timing.
    """
    negatives = [i for i, x in enumerate(items) if x < 0]
    for index in negatives[1:]:
        items[index] = -items[index]
    expected = await outcome(legacy_map(items, func, batch_size, limit))
    actual = await outcome(engine.map_batches(items, func, batch_size, limit, OPTIONS))
    assert expected == actual


async def test_custom_exception_keeps_its_class_and_attributes(engine: ExecutionEngine) -> None:
    """A user's exception class with its own ``__init__`` arrives as that class."""
    with pytest.raises(equiv_tasks.CustomTaskError) as raised:
        await engine.map_batches([1, -3, 2], equiv_tasks.custom_error_on_negative, 2, 2, OPTIONS)
    assert "[422] item -3 refused" == str(raised.value)


async def test_empty_items_give_an_empty_list(engine: ExecutionEngine) -> None:
    """No items, no work, ``[]``: as legacy."""
    assert [] == await engine.map_batches([], equiv_tasks.double, 10, 5, OPTIONS)


@pytest.mark.parametrize(("batch_size", "limit"), [(0, 5), (-1, 5), (10, 0), (2.5, 5), (True, 5)])
async def test_invalid_batch_arguments_are_refused_like_legacy(
    engine: ExecutionEngine, batch_size: Any, limit: Any
) -> None:
    """Bad ``batch_size`` / ``max_concurrent`` raise the same clear error as legacy."""
    expected = await outcome(legacy_map([1, 2], equiv_tasks.double, batch_size, limit))
    actual = await outcome(engine.map_batches([1, 2], equiv_tasks.double, batch_size, limit))
    assert InvalidArgumentError is expected[1][0]
    assert expected == actual


@given(items=st.lists(st.integers(min_value=-1000, max_value=1000), max_size=30))
@settings(max_examples=15)
async def test_pipeline_matches_legacy(engine: ExecutionEngine, items: list[int]) -> None:
    """Every item through every stage, results in order, as ``Pipeline.process``."""
    stages = [equiv_tasks.add_one, equiv_tasks.square, equiv_tasks.to_text]
    expected = await AsyncWorkerOptimizer().setup_pipeline(stages).process(list(items))
    actual = await engine.run_pipeline(items, stages, OPTIONS)
    assert expected == actual


async def test_zero_argument_task_returns_its_value(engine: ExecutionEngine) -> None:
    """The scheduler's unit of work: one task, its return value."""
    assert 42 == await engine.run_task(equiv_tasks.answer, OPTIONS)


async def test_zero_argument_task_failure_propagates(engine: ExecutionEngine) -> None:
    """A failing scheduled task raises its own exception."""
    with pytest.raises(RuntimeError, match="scheduled task failed"):
        await engine.run_task(equiv_tasks.failing_zero_arg, OPTIONS)


async def test_results_keep_input_order_under_uneven_durations(engine: ExecutionEngine) -> None:
    """Later batches that finish first do not reorder results."""
    items = [(i, 0.05 if i < 4 else 0.0) for i in range(12)]
    results = await engine.map_batches(items, equiv_tasks.timed, 2, 4, OPTIONS)
    assert list(range(12)) == [tag for tag, _, _ in results]


async def test_max_concurrent_one_never_overlaps_batches(engine: ExecutionEngine) -> None:
    """With ``max_concurrent=1`` no two batches run at the same time, even on 2 processes."""
    tag = uuid.uuid4().int % 1000
    items = [(tag * 100 + i // 3, 0.03) for i in range(12)]
    results = await engine.map_batches(items, equiv_tasks.timed, 3, 1, OPTIONS)
    spans: dict[int, tuple[float, float]] = {}
    for batch, start, end in results:
        low, high = spans.get(batch, (start, end))
        spans[batch] = (min(low, start), max(high, end))
    ordered = sorted(spans.values())
    overlaps = [a for a, b in itertools.pairwise(ordered) if b[0] < a[1]]
    assert 4 == len(spans)
    assert [] == overlaps


async def test_lambda_is_refused_before_sending_or_runs_where_it_can(
    engine: ExecutionEngine,
) -> None:
    """Celery needs a reference: a lambda is a clear ``NotPortableError``.

    Legacy runs it in-process and Ray ships it with cloudpickle.
    """

    async def local(item: int) -> int:
        return item + 1

    if engine.name == "celery":
        with pytest.raises(NotPortableError, match="local"):
            await engine.map_batches([1, 2], local, 1, 1, OPTIONS)
    else:
        assert [2, 3] == await engine.map_batches([1, 2], local, 1, 1, OPTIONS)
