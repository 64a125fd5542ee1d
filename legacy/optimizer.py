"""``AsyncWorkerOptimizer``: the entry point production workers call.

Only :meth:`AsyncWorkerOptimizer.optimize_batch_processing` executes work (through
:func:`legacy.batching.run_batched`, reached via the overridable ``_run_batched``); everything
else here is bookkeeping or pure arithmetic that behaves the same on every route.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from legacy.batching import run_batched, validate_batch_arguments
from legacy.models import WorkerMetrics
from legacy.pipeline import Pipeline, Stage
from legacy.resource_pool import ResourcePool

T = TypeVar("T")
R = TypeVar("R")

#: The ``metrics`` key under which :meth:`AsyncWorkerOptimizer.optimize_batch_processing`
#: records its calls.
BATCH_PROCESSING_METRICS_KEY = "batch_processing"


class AsyncWorkerOptimizer:
    """Batched execution plus the pipelines, pools and load-balancing helpers workers use.

    Attributes (public, as in the original): ``pipelines`` (id -> :class:`Pipeline`),
    ``resource_pools`` (name -> :class:`ResourcePool`) and ``metrics`` (a
    ``defaultdict(WorkerMetrics)``, see :meth:`optimize_batch_processing`).
    """

    def __init__(self) -> None:
        """Start with no pipelines, no pools and no metrics."""
        self.pipelines: dict[str, Pipeline] = {}
        self.resource_pools: dict[str, ResourcePool] = {}
        self.metrics: defaultdict[str, WorkerMetrics] = defaultdict(WorkerMetrics)

    async def optimize_batch_processing(
        self,
        items: list[T],
        task_func: Callable[[T], Awaitable[R]],
        batch_size: int = 10,
        max_concurrent: int = 5,
    ) -> list[R]:
        """Return ``[await task_func(x) for x in items]``, run in bounded concurrent batches.

        Batches of ``batch_size`` consecutive items; at most ``max_concurrent`` batches run at
        once; items of a batch run concurrently; results in input order; an exception from
        ``task_func`` propagates unchanged. Full semantics in :mod:`legacy.batching`.

        ``batch_size`` and ``max_concurrent`` must be ints >= 1, else
        :class:`~ground.errors.InvalidArgumentError` is raised before any task runs. The
        original did not check: a negative batch size silently returned ``[]`` and
        ``max_concurrent=0`` hung forever. Empty ``items`` give ``[]``.

        The original never touched ``metrics``; this one records each call under
        ``metrics["batch_processing"]`` the way a worker's metrics read, so the optimizer's
        counters mean something. A call that returns adds ``len(items)`` to
        ``tasks_processed`` and its wall time to ``total_processing_time``; a call that raises
        from ``task_func`` adds 1 to ``errors_count`` (and nothing to the other two, since how
        many items finished is unknown); both set ``last_task_time``. A call refused by
        validation records nothing.
        """
        validate_batch_arguments(batch_size, max_concurrent)
        metrics = self.metrics[BATCH_PROCESSING_METRICS_KEY]
        start = time.perf_counter()
        try:
            results = await self._run_batched(items, task_func, batch_size, max_concurrent)
        except Exception:
            metrics.errors_count += 1
            metrics.last_task_time = datetime.now()
            raise
        metrics.tasks_processed += len(items)
        metrics.total_processing_time += time.perf_counter() - start
        metrics.last_task_time = datetime.now()
        return results

    async def _run_batched(
        self,
        items: Sequence[T],
        task_func: Callable[[T], Awaitable[R]],
        batch_size: int,
        max_concurrent: int,
    ) -> list[R]:
        """Execute the batches; the one place a routing subclass overrides."""
        return await run_batched(items, task_func, batch_size, max_concurrent)

    def setup_pipeline(self, stages: list[Stage]) -> Pipeline:
        """Build a :class:`Pipeline`, store it as ``"pipeline_<n>"`` and return it.

        ``n`` is the number of pipelines already stored, so ids follow creation order.
        """
        pipeline = self._make_pipeline(stages)
        self.pipelines[f"pipeline_{len(self.pipelines)}"] = pipeline
        return pipeline

    def _make_pipeline(self, stages: list[Stage]) -> Pipeline:
        """Construct the pipeline; a routing subclass returns one bound to its worker."""
        return Pipeline(stages)

    def manage_resource_pool(self, pool_name: str, config: dict[str, Any]) -> ResourcePool:
        """Build a :class:`ResourcePool` from ``config``, store it under ``pool_name``.

        ``config["min_workers"]`` and ``config["max_workers"]`` are required (a missing one is
        a ``KeyError``); ``scaling_factor`` defaults to 2.0 and ``idle_timeout`` to 30. A pool
        of the same name is replaced.
        """
        pool = ResourcePool(
            name=pool_name,
            min_workers=config["min_workers"],
            max_workers=config["max_workers"],
            scaling_factor=config.get("scaling_factor", 2.0),
            idle_timeout=config.get("idle_timeout", 30),
        )
        self.resource_pools[pool_name] = pool
        return pool

    async def distribute_tasks(
        self,
        tasks: Sequence[Mapping[str, Any]],
        workers: Sequence[MutableMapping[str, Any]],
    ) -> dict[str, int]:
        """Assign tasks greedily to the least-loaded worker; return worker id -> task count.

        Each worker is a dict with ``id``, ``load`` and ``capacity``; each task has ``weight``.
        The workers are kept in a list sorted by ``load`` (a stable sort): each task goes to
        the first worker of that list, whose ``load`` then grows by ``weight / capacity``, and
        the list is sorted again. So a tie goes to the worker that was earlier in the *current*
        sorted order, which is not always the earlier one in ``workers``.

        The caller's worker dicts are mutated (their ``load`` grows): production code reads the
        loads back. Workers that got no task are absent from the result. As in the original,
        tasks with an empty ``workers`` raise ``IndexError`` and a zero capacity raises
        ``ZeroDivisionError``.
        """
        distribution: dict[str, int] = {}
        by_load = sorted(workers, key=lambda worker: worker["load"])
        for task in tasks:
            worker = by_load[0]
            distribution[worker["id"]] = distribution.get(worker["id"], 0) + 1
            worker["load"] += task["weight"] / worker["capacity"]
            by_load.sort(key=lambda worker: worker["load"])
        return distribution

    def calculate_balance_score(
        self, distribution: dict[str, int], workers: list[dict[str, Any]]
    ) -> float:
        """How evenly ``distribution`` spreads over ``workers``: 1.0 even, 0.0 very uneven.

        ``1 - min(std_dev / ideal, 1)`` where ``ideal = sum(counts) / len(workers)`` and
        ``std_dev`` is the population standard deviation of each worker's count (a worker absent
        from ``distribution`` counts 0). 0.0 for an empty distribution, 1.0 when ``ideal`` is
        0. Ids in ``distribution`` that are not workers still count in the total, as before.
        """
        if not distribution:
            return 0.0
        total = sum(distribution.values())
        ideal = total / len(workers)
        variance = sum((distribution.get(w["id"], 0) - ideal) ** 2 for w in workers)
        std_dev = float((variance / len(workers)) ** 0.5)
        if ideal <= 0:
            return 1.0
        return 1.0 - min(std_dev / ideal, 1.0)

    def profile_performance(self) -> dict[str, Any]:
        """Metrics of every pipeline and pool; ``overall_metrics`` stays ``{}`` as before."""
        return {
            "pipelines": {
                pipeline_id: pipeline.get_metrics()
                for pipeline_id, pipeline in self.pipelines.items()
            },
            "resource_pools": {
                name: {
                    "active_workers": pool.get_active_workers(),
                    "utilization": pool.get_utilization(),
                }
                for name, pool in self.resource_pools.items()
            },
            "overall_metrics": {},
        }


__all__ = ["BATCH_PROCESSING_METRICS_KEY", "AsyncWorkerOptimizer"]
