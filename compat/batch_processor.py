"""``AsyncBatchProcessor``, routed: each flushed batch goes to its handler where flags say.

Micro-batching (the pending list, the size and timeout flushes, the futures) stays legacy's;
only the handler call is routed. On an engine, the handler runs as a one-item map over the
batch: ``handler(batch)`` in a worker process, its list of results coming back.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import legacy
from adapters.base import CallOptions, ExecutionEngine
from compat.identity import resolve_worker_id
from compat.router import get_router
from compat.shadow.runner import ShadowSet
from compat.work import Work


class AsyncBatchProcessor(legacy.AsyncBatchProcessor):
    """The legacy micro-batcher, with the handler call routed by the worker's flags."""

    def __init__(
        self, batch_size: int = 10, timeout: float = 1.0, *, worker_id: str | None = None
    ) -> None:
        """As legacy; ``worker_id`` (else ``$CUTOVER_WORKER``, else ``"default"``) keys flags."""
        super().__init__(batch_size, timeout)
        self.worker_id = resolve_worker_id(worker_id)
        self._shadows = ShadowSet()

    async def _invoke_handler(self, batch: list[Any]) -> Iterable[Any]:
        handler = self._batch_handler
        legacy_invoke = super()._invoke_handler

        async def on_engine(engine: ExecutionEngine, options: CallOptions) -> Any:
            results = await engine.map_batches([batch], handler, 1, 1, options)  # type: ignore[arg-type]
            return results[0]

        work = Work(
            operation="handler",
            items=len(batch),
            run=on_engine,
            run_legacy=lambda: legacy_invoke(batch),
            functions=(handler,) if handler is not None else (),
            sample_input=batch,
        )
        result: Iterable[Any] = await get_router().execute(self.worker_id, work, self._shadows)
        return result


__all__ = ["AsyncBatchProcessor"]
