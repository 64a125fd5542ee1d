"""The drop-in shim: the legacy module's names and signatures, routed per worker.

A production worker changes one line::

    from compat import AsyncWorkerOptimizer      # was: from async_worker_optimization import ...

and from then on its flags decide where each call runs. Every public name of ``legacy`` is
here with the same signature; the only addition is an optional keyword-only ``worker_id`` on
the constructors of the classes that execute work. Those four route their work:
``AsyncWorkerOptimizer.optimize_batch_processing``, ``Pipeline.process``,
``AsyncTaskScheduler.execute_next`` and the handler of ``AsyncBatchProcessor``. Everything
else *is* the legacy code (re-exported, not copied).

Extras a worker may use: :func:`shadow_safe` declares a task safe to run twice (shadow mode),
:func:`routing_key` makes the percentage rollout sticky per key (a tenant, an item id), and
:func:`drain_shadows` waits for pending shadow experiments (e.g. before shutdown).

Importing this package starts nothing and imports neither Celery nor Ray.
"""

from __future__ import annotations

from compat.batch_processor import AsyncBatchProcessor
from compat.optimizer import AsyncWorkerOptimizer
from compat.pipeline import Pipeline
from compat.scheduler import AsyncTaskScheduler
from compat.shadow.runner import get_shadow_runner
from compat.shadow.safety import shadow_safe
from flags import routing_key
from legacy import (
    ConnectionPool,
    ConnectionPoolOptimizer,
    LoadLevel,
    MemoryOptimizer,
    MemoryPool,
    MockConnection,
    PerformanceProfiler,
    ResourcePool,
    TaskItem,
    WorkerMetrics,
)


async def drain_shadows(timeout_s: float = 10.0) -> int:
    """Wait up to ``timeout_s`` for this process's pending shadows; cancel the rest.

    Returns how many had to be cancelled.
    """
    return await get_shadow_runner().drain(timeout_s)


__all__ = [
    "AsyncBatchProcessor",
    "AsyncTaskScheduler",
    "AsyncWorkerOptimizer",
    "ConnectionPool",
    "ConnectionPoolOptimizer",
    "LoadLevel",
    "MemoryOptimizer",
    "MemoryPool",
    "MockConnection",
    "PerformanceProfiler",
    "Pipeline",
    "ResourcePool",
    "TaskItem",
    "WorkerMetrics",
    "drain_shadows",
    "routing_key",
    "shadow_safe",
]
