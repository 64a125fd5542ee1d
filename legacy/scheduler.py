"""A priority queue of zero-argument coroutine functions, and dependency ordering.

Running a popped task is :meth:`AsyncTaskScheduler._run`, the one place a routing subclass (the
compat shim) overrides to send the task to another engine.
"""

from __future__ import annotations

import heapq
import itertools
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from legacy.models import TaskItem

#: A scheduled task: called with no argument, awaited for its result.
TaskFunc = Callable[[], Awaitable[Any]]

TaskT = TypeVar("TaskT", bound=Mapping[str, Any])


@dataclass(order=True)
class _QueueEntry:
    """A heap entry: highest priority first, then first scheduled first.

    ``TaskItem`` alone orders by priority only, so ``heapq`` would pop equal priorities in an
    arbitrary order; the schedule sequence number makes ties first-in-first-out.
    """

    sort_key: tuple[int, int]
    task: TaskItem = field(compare=False)


class AsyncTaskScheduler:
    """Schedule coroutine functions by priority and run them one at a time on request."""

    def __init__(self) -> None:
        """An empty queue."""
        self._task_queue: list[_QueueEntry] = []
        self._task_map: dict[str, _QueueEntry] = {}
        self._sequence = itertools.count()

    async def schedule_task(self, task_id: str, task_func: TaskFunc, priority: int = 0) -> None:
        """Queue ``task_func`` under ``task_id``; a higher ``priority`` runs earlier.

        Scheduling an id that is still pending replaces the earlier entry (it is cancelled
        first), so an id is pending at most once. (The original kept both in its heap but only
        the newer in its id map, and crashed with ``KeyError`` when popping the second one.)
        """
        self.cancel_task(task_id)
        entry = _QueueEntry(
            sort_key=(-priority, next(self._sequence)),
            task=TaskItem(id=task_id, data=task_func, priority=priority),
        )
        heapq.heappush(self._task_queue, entry)
        self._task_map[task_id] = entry

    def cancel_task(self, task_id: str) -> bool:
        """Remove a pending task; ``True`` when it was pending, ``False`` otherwise."""
        entry = self._task_map.pop(task_id, None)
        if entry is None:
            return False
        self._task_queue.remove(entry)
        heapq.heapify(self._task_queue)
        return True

    def get_pending_tasks(self) -> list[str]:
        """Pending ids in the order :meth:`execute_next` would run them.

        That is highest priority first, equal priorities in the order they were scheduled.
        (The original returned schedule order regardless of priority.)
        """
        return [entry.task.id for entry in sorted(self._task_queue)]

    def has_pending_tasks(self) -> bool:
        """Whether :meth:`execute_next` would run something."""
        return len(self._task_queue) > 0

    async def execute_next(self) -> Any:
        """Pop the highest-priority task, await it and return its result; ``None`` if empty.

        The task is removed before it runs, so an exception it raises propagates and the task
        is not retried.
        """
        if not self._task_queue:
            return None
        entry = heapq.heappop(self._task_queue)
        del self._task_map[entry.task.id]
        task_func: TaskFunc = entry.task.data
        return await self._run(task_func)

    async def _run(self, task_func: TaskFunc) -> Any:
        """Run one popped task; the one place a routing subclass overrides."""
        return await task_func()

    def optimize_schedule(self, tasks: Sequence[TaskT]) -> list[TaskT]:
        """Order ``tasks`` so every task comes after its ``"dependencies"`` (Kahn's algorithm).

        Each task is a dict with a unique ``"id"`` and an optional ``"dependencies"`` list of
        ids. Ready tasks are taken first in, first out, as in the original: first every task
        without dependencies, in input order; then each task as soon as its last dependency is
        placed, tasks released by the same placement in input order. Equivalently the result
        is sorted by (position of the last dependency, input position).

        Tasks in a dependency cycle are left out, and so is every task that depends, directly
        or not, on one of them. A dependency on an id that is not among ``tasks`` is ignored
        (the original left such a task out silently); a repeated dependency counts once. The
        returned dicts are the caller's own objects.
        """
        known_ids = {task["id"] for task in tasks}
        # Positions, not ids, index the bookkeeping, so a dict listed twice stays two entries.
        dependents: defaultdict[str, list[int]] = defaultdict(list)
        missing: list[int] = []
        for position, task in enumerate(tasks):
            dependencies = {dep for dep in task.get("dependencies", []) if dep in known_ids}
            missing.append(len(dependencies))
            for dependency in dependencies:
                dependents[dependency].append(position)  # ascending: input order
        ready = deque(position for position, count in enumerate(missing) if count == 0)
        schedule: list[TaskT] = []
        while ready:
            current = tasks[ready.popleft()]
            schedule.append(current)
            for dependent in dependents.pop(current["id"], []):
                missing[dependent] -= 1
                if missing[dependent] == 0:
                    ready.append(dependent)
        return schedule

    def calculate_total_time(self, schedule: Sequence[Mapping[str, Any]]) -> float:
        """The sum of the tasks' ``"duration"`` (a missing one counts 0); 0.0 when empty.

        Tasks are assumed to run one after the other. (The original returned the largest
        running sum, which is the same number for non-negative durations.)
        """
        return float(sum(task.get("duration", 0) for task in schedule))


__all__ = ["AsyncTaskScheduler", "TaskFunc"]
