"""``AsyncTaskScheduler``: priority order, cancellation, dependency ordering."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from hypothesis import given

from legacy import AsyncTaskScheduler
from tests.legacy import strategies
from tests.legacy.loops import run_example


def returning(value: Any) -> Callable[[], Awaitable[Any]]:
    """A zero-argument coroutine function that returns ``value``."""

    async def task() -> Any:
        await asyncio.sleep(0)
        return value

    return task


@given(strategies.priorities)
def test_runs_highest_priority_first_ties_fifo(priorities: list[int]) -> None:
    """``execute_next`` follows priority descending, then schedule order; so does the list."""
    expected = sorted(range(len(priorities)), key=lambda index: (-priorities[index], index))

    async def scenario() -> tuple[list[str], list[Any]]:
        scheduler = AsyncTaskScheduler()
        for index, priority in enumerate(priorities):
            await scheduler.schedule_task(f"t{index}", returning(index), priority)
        pending = scheduler.get_pending_tasks()
        results = []
        while scheduler.has_pending_tasks():
            results.append(await scheduler.execute_next())
        return pending, results

    pending, results = run_example(scenario())
    assert [f"t{index}" for index in expected] == pending
    assert expected == results


async def test_execute_next_on_empty_returns_none() -> None:
    """An empty scheduler runs nothing and returns ``None``."""
    scheduler = AsyncTaskScheduler()
    assert (None, False, []) == (
        await scheduler.execute_next(),
        scheduler.has_pending_tasks(),
        scheduler.get_pending_tasks(),
    )


async def test_cancel_task() -> None:
    """Cancelling a pending id removes it (``True``); an unknown id gives ``False``."""
    scheduler = AsyncTaskScheduler()
    await scheduler.schedule_task("keep", returning("kept"), priority=1)
    await scheduler.schedule_task("drop", returning("dropped"), priority=9)
    assert (True, False) == (scheduler.cancel_task("drop"), scheduler.cancel_task("drop"))
    assert ["keep"] == scheduler.get_pending_tasks()
    assert "kept" == await scheduler.execute_next()
    assert not scheduler.has_pending_tasks()


async def test_rescheduling_an_id_replaces_it() -> None:
    """Scheduling a pending id again replaces the earlier entry: one run, the new one."""
    scheduler = AsyncTaskScheduler()
    await scheduler.schedule_task("job", returning("old"), priority=5)
    await scheduler.schedule_task("job", returning("new"), priority=0)
    assert ["job"] == scheduler.get_pending_tasks()
    assert ["new", None] == [await scheduler.execute_next(), await scheduler.execute_next()]


async def test_task_exception_propagates_and_task_is_gone() -> None:
    """A failing task raises from ``execute_next`` and is not pending any more."""

    async def failing() -> None:
        raise PermissionError("denied")

    scheduler = AsyncTaskScheduler()
    await scheduler.schedule_task("bad", failing)
    with pytest.raises(PermissionError, match="denied"):
        await scheduler.execute_next()
    assert [] == scheduler.get_pending_tasks()


async def test_run_is_the_seam_a_subclass_overrides() -> None:
    """Overriding ``_run`` changes how a popped task is executed."""

    class Routed(AsyncTaskScheduler):
        async def _run(self, task_func: Callable[[], Awaitable[Any]]) -> Any:
            return ("routed", await task_func())

    scheduler = Routed()
    await scheduler.schedule_task("t", returning(7))
    assert ("routed", 7) == await scheduler.execute_next()


def ids(schedule: list[dict[str, Any]]) -> list[str]:
    """The ids of a schedule, in order."""
    return [task["id"] for task in schedule]


def test_optimize_schedule_is_first_in_first_out() -> None:
    """Ready tasks go first in, first out: ``c`` (ready at start) precedes ``b``."""
    tasks: list[dict[str, Any]] = [{"id": "a"}, {"id": "b", "dependencies": ["a"]}, {"id": "c"}]
    assert ["a", "c", "b"] == ids(AsyncTaskScheduler().optimize_schedule(tasks))


def test_optimize_schedule_leaves_out_cycles_and_their_dependents() -> None:
    """A cycle, a self-loop and whatever depends on them are left out; the rest is kept."""
    tasks: list[dict[str, Any]] = [
        {"id": "x", "dependencies": ["y"]},
        {"id": "y", "dependencies": ["x"]},
        {"id": "after-cycle", "dependencies": ["x"]},
        {"id": "self", "dependencies": ["self"]},
        {"id": "free"},
        {"id": "ghost-dep", "dependencies": ["nobody", "free"]},
    ]
    assert ["free", "ghost-dep"] == ids(AsyncTaskScheduler().optimize_schedule(tasks))


def acyclic_ids(tasks: list[dict[str, Any]]) -> set[str]:
    """The reference set: grow it with every task whose known dependencies are all in it."""
    known = {task["id"] for task in tasks}
    placed: set[str] = set()
    changed = True
    while changed:
        changed = False
        for task in tasks:
            deps = {dep for dep in task.get("dependencies", []) if dep in known}
            if task["id"] not in placed and deps <= placed:
                placed.add(task["id"])
                changed = True
    return placed


@given(strategies.dependency_graphs())
def test_optimize_schedule_is_a_valid_topological_order(tasks: list[dict[str, Any]]) -> None:
    """Each task once, after its dependencies; exactly the acyclic ones; FIFO tie order.

    FIFO means the schedule is sorted by (position of the task's last dependency in the
    schedule, or -1 without one; position in the input).
    """
    schedule = AsyncTaskScheduler().optimize_schedule(tasks)
    known = {task["id"] for task in tasks}
    assert acyclic_ids(tasks) == set(ids(schedule))
    assert len(schedule) == len(set(ids(schedule)))
    assert all(any(task is given_task for given_task in tasks) for task in schedule)
    position = {task["id"]: index for index, task in enumerate(schedule)}
    input_position = {task["id"]: index for index, task in enumerate(tasks)}
    release: dict[str, int] = {}
    for task in schedule:
        deps = [dep for dep in task.get("dependencies", []) if dep in known]
        assert all(position[dep] < position[task["id"]] for dep in deps)
        release[task["id"]] = max((position[dep] for dep in deps), default=-1)
    order_keys = [(release[task_id], input_position[task_id]) for task_id in ids(schedule)]
    assert sorted(order_keys) == order_keys


def test_calculate_total_time() -> None:
    """The sum of durations (missing counts 0), 0.0 for an empty schedule."""
    scheduler = AsyncTaskScheduler()
    assert 0.0 == scheduler.calculate_total_time([])
    assert 4.5 == scheduler.calculate_total_time(
        [{"id": "a", "duration": 1.5}, {"id": "b"}, {"id": "c", "duration": 3}]
    )
