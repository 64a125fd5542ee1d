"""``TaskItem`` ordering and ``WorkerMetrics`` arithmetic."""

from __future__ import annotations

import heapq
from datetime import datetime

from hypothesis import given
from hypothesis import strategies as st

from legacy import TaskItem, WorkerMetrics


def test_higher_priority_sorts_first() -> None:
    """``a < b`` exactly when ``a`` has the higher priority (the inverted contract order)."""
    urgent = TaskItem(id="urgent", data=None, priority=5)
    routine = TaskItem(id="routine", data=None, priority=1)
    assert urgent < routine
    assert not routine < urgent
    assert routine > urgent


def test_equal_priorities_are_not_less_than_each_other() -> None:
    """Two items of the same priority are unordered by ``<`` in both directions."""
    first = TaskItem(id="a", data=None, priority=3)
    second = TaskItem(id="b", data=None, priority=3)
    assert (False, False) == (first < second, second < first)


@given(st.lists(st.integers(min_value=-50, max_value=50), min_size=1))
def test_min_heap_pops_highest_priority_first(priorities: list[int]) -> None:
    """A ``heapq`` of ``TaskItem`` pops priorities in descending order."""
    heap: list[TaskItem] = []
    for index, priority in enumerate(priorities):
        heapq.heappush(heap, TaskItem(id=str(index), data=None, priority=priority))
    popped = [heapq.heappop(heap).priority for _ in priorities]
    assert sorted(priorities, reverse=True) == popped


def test_created_at_defaults_to_now() -> None:
    """``created_at`` is filled with the construction time."""
    before = datetime.now()
    item = TaskItem(id="x", data=42)
    after = datetime.now()
    assert before <= item.created_at <= after
    assert 0 == item.priority


def test_comparing_with_something_else_is_not_supported() -> None:
    """``<`` against a non-``TaskItem`` returns ``NotImplemented`` (so Python raises)."""
    assert NotImplemented == TaskItem(id="x", data=None).__lt__(3)


def test_worker_metrics_defaults_and_average() -> None:
    """Defaults are zero/None; the average is total time over processed tasks."""
    metrics = WorkerMetrics()
    assert (0, 0.0, 0, None) == (
        metrics.tasks_processed,
        metrics.total_processing_time,
        metrics.errors_count,
        metrics.last_task_time,
    )
    assert 0.0 == metrics.average_processing_time
    assert (
        0.5 == WorkerMetrics(tasks_processed=4, total_processing_time=2.0).average_processing_time
    )
