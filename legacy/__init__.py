"""A faithful re-implementation of ``async_worker_optimization``, the module being replaced.

This is the "before": every route of the migration (Celery, Ray, the in-process adapter) is
compared against what these classes do, so their behaviour follows the contract in
``LEGACY_API.md`` to the letter, odd parts included (``TaskItem`` sorts higher priority first,
``distribute_tasks`` mutates the caller's worker dicts, ...). Two placeholders of the original
got real semantics instead: argument validation of ``optimize_batch_processing`` and leak
detection by gc object counts.

One module per job:

- :mod:`legacy.models`          ``LoadLevel``, ``TaskItem``, ``WorkerMetrics``
- :mod:`legacy.batching`        the batched concurrent map and its argument validation
- :mod:`legacy.optimizer`       ``AsyncWorkerOptimizer``, the entry point workers call
- :mod:`legacy.pipeline`        ``Pipeline``
- :mod:`legacy.resource_pool`   ``ResourcePool``
- :mod:`legacy.profiler`        ``PerformanceProfiler``
- :mod:`legacy.batch_processor` ``AsyncBatchProcessor``
- :mod:`legacy.scheduler`       ``AsyncTaskScheduler``
- :mod:`legacy.connection_pool` ``ConnectionPoolOptimizer``, ``ConnectionPool``, ``MockConnection``
- :mod:`legacy.memory`          ``MemoryOptimizer``, ``MemoryPool`` and the compact sequences

The classes that execute work run it through one overridable method each
(``AsyncWorkerOptimizer._run_batched``, ``Pipeline._run_stage``,
``AsyncBatchProcessor._invoke_handler``, ``AsyncTaskScheduler._run``), the seams the compat
shim uses to route that work to another engine.
"""

from __future__ import annotations

from legacy.batch_processor import AsyncBatchProcessor
from legacy.connection_pool import ConnectionPool, ConnectionPoolOptimizer, MockConnection
from legacy.memory import MemoryOptimizer, MemoryPool
from legacy.models import LoadLevel, TaskItem, WorkerMetrics
from legacy.optimizer import AsyncWorkerOptimizer
from legacy.pipeline import Pipeline
from legacy.profiler import PerformanceProfiler
from legacy.resource_pool import ResourcePool
from legacy.scheduler import AsyncTaskScheduler

#: Exactly the public names of ``async_worker_optimization`` (see ``LEGACY_API.md``).
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
]
