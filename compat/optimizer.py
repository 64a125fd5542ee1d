"""``AsyncWorkerOptimizer``, routed: the one class most workers import.

Identical to :class:`legacy.AsyncWorkerOptimizer` (it *is* a subclass: metrics, pools,
pipelines and load-balancing helpers run the legacy code itself) except that the batched map
goes through the router, and the pipelines it builds belong to its worker.

``async with AsyncWorkerOptimizer() as optimizer: ...`` drains the shadow experiments it
started when the block ends.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any, TypeVar

import legacy
from adapters.base import CallOptions, ExecutionEngine
from compat.identity import resolve_worker_id
from compat.pipeline import Pipeline
from compat.router import get_router
from compat.shadow.runner import ShadowSet
from compat.work import Work

T = TypeVar("T")
R = TypeVar("R")

SHADOW_DRAIN_TIMEOUT_S = 10.0


class AsyncWorkerOptimizer(legacy.AsyncWorkerOptimizer):
    """The legacy optimizer, with ``optimize_batch_processing`` routed by the worker's flags."""

    def __init__(self, *, worker_id: str | None = None) -> None:
        """As legacy; ``worker_id`` (else ``$CUTOVER_WORKER``, else ``"default"``) keys flags."""
        super().__init__()
        self.worker_id = resolve_worker_id(worker_id)
        self._shadows = ShadowSet()

    async def _run_batched(
        self,
        items: Sequence[T],
        task_func: Callable[[T], Awaitable[R]],
        batch_size: int,
        max_concurrent: int,
    ) -> list[R]:
        legacy_run = super()._run_batched

        def on_engine(engine: ExecutionEngine, options: CallOptions) -> Awaitable[list[Any]]:
            return engine.map_batches(items, task_func, batch_size, max_concurrent, options)

        work = Work(
            operation="batch",
            items=len(items),
            run=on_engine,
            run_legacy=lambda: legacy_run(items, task_func, batch_size, max_concurrent),
            functions=(task_func,),
            sample_input=items,
        )
        result: list[R] = await get_router().execute(self.worker_id, work, self._shadows)
        return result

    def _make_pipeline(self, stages: list[Any]) -> Pipeline:
        pipeline = Pipeline(stages, worker_id=self.worker_id)
        pipeline._shadows = self._shadows
        return pipeline

    async def __aenter__(self) -> AsyncWorkerOptimizer:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._shadows.drain(SHADOW_DRAIN_TIMEOUT_S)


__all__ = ["AsyncWorkerOptimizer"]
