"""The small value types every other legacy module speaks in.

They live apart from the classes that use them so that the scheduler, the optimizer and the
compat shim can all import them without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any


class LoadLevel(Enum):
    """How busy a resource pool is; kept because production code imports the names."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


@dataclass
class TaskItem:
    """One unit of scheduled work: an id, its payload and a priority.

    The ordering is deliberately inverted (``a < b`` when ``a.priority > b.priority``) so that
    ``heapq``, a min-heap, pops the *highest* priority first. Only ``__lt__`` is defined, as in
    the original; ``>`` works through Python's reflected comparison. Equality is the dataclass
    default (all fields), so two items with the same priority are "not less" than each other:
    the order between them is decided by whoever holds the heap (see ``AsyncTaskScheduler``).
    """

    id: str
    data: Any
    priority: int = 0
    created_at: datetime = field(default_factory=datetime.now)

    def __lt__(self, other: object) -> bool:
        """Higher priority sorts first, so a min-heap behaves as a max-priority queue."""
        if not isinstance(other, TaskItem):
            return NotImplemented
        return self.priority > other.priority


@dataclass
class WorkerMetrics:
    """Running counters of one kind of work, as ``AsyncWorkerOptimizer.metrics`` keeps them."""

    tasks_processed: int = 0
    total_processing_time: float = 0.0
    errors_count: int = 0
    last_task_time: datetime | None = None

    @property
    def average_processing_time(self) -> float:
        """Seconds per processed task; 0.0 rather than a division by zero before any task."""
        if self.tasks_processed == 0:
            return 0.0
        return self.total_processing_time / self.tasks_processed


__all__ = ["LoadLevel", "TaskItem", "WorkerMetrics"]
