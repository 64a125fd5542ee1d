"""``AsyncTaskScheduler``, routed: ``execute_next`` runs the popped task where flags say."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import legacy
from adapters.base import CallOptions, ExecutionEngine
from compat.identity import resolve_worker_id
from compat.router import get_router
from compat.shadow.runner import ShadowSet
from compat.work import Work


class AsyncTaskScheduler(legacy.AsyncTaskScheduler):
    """The legacy scheduler; the priority queue is legacy's, running a task is routed."""

    def __init__(self, *, worker_id: str | None = None) -> None:
        """As legacy; ``worker_id`` (else ``$CUTOVER_WORKER``, else ``"default"``) keys flags."""
        super().__init__()
        self.worker_id = resolve_worker_id(worker_id)
        self._shadows = ShadowSet()

    async def _run(self, task_func: Any) -> Any:
        legacy_run = super()._run

        def on_engine(engine: ExecutionEngine, options: CallOptions) -> Awaitable[Any]:
            return engine.run_task(task_func, options)

        work = Work(
            operation="task",
            items=1,
            run=on_engine,
            run_legacy=lambda: legacy_run(task_func),
            functions=(task_func,),
            sample_input=getattr(task_func, "__qualname__", repr(task_func)),
        )
        return await get_router().execute(self.worker_id, work, self._shadows)


__all__ = ["AsyncTaskScheduler"]
