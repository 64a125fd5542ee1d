"""``Pipeline``, routed: one routing decision per ``process`` call.

The legacy ``process`` loop runs unchanged (so ``get_metrics`` keeps its exact per-stage
times); each stage of a routed call runs on the decided engine. A shadow candidate runs the
whole pipeline on its engine with ``run_pipeline`` (on Ray, stage outputs then stay in the
object store from stage to stage).

If a stage cannot be sent after earlier stages already ran on the engine (a later stage is
not portable), the call fails with :class:`EngineError`: it is never re-run elsewhere.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable
from typing import Any

import legacy
from adapters.base import CallOptions, ExecutionEngine
from compat.identity import resolve_worker_id
from compat.router import get_router
from compat.shadow.runner import ShadowSet
from compat.work import Work
from ground.errors import EngineError, EngineUnavailableError, NotPortableError


class _StageRoute:
    """The engine the stages of the current ``process`` call run on."""

    __slots__ = ("engine", "options", "stages_sent")

    def __init__(self, engine: ExecutionEngine, options: CallOptions) -> None:
        self.engine = engine
        self.options = options
        self.stages_sent = 0


_stage_route: contextvars.ContextVar[_StageRoute | None] = contextvars.ContextVar(
    "cutover_stage_route", default=None
)


class Pipeline(legacy.Pipeline):
    """The legacy pipeline, with ``process`` routed by its worker's flags."""

    def __init__(self, stages: list[Any], *, worker_id: str | None = None) -> None:
        """As legacy; ``worker_id`` (else ``$CUTOVER_WORKER``, else ``"default"``) keys flags.

        A pipeline made by ``AsyncWorkerOptimizer.setup_pipeline`` shares its optimizer's
        worker and shadow experiments (closing the optimizer drains them).
        """
        super().__init__(stages)
        self.worker_id = resolve_worker_id(worker_id)
        self._shadows = ShadowSet()

    async def process(self, items: list[Any]) -> list[Any]:
        """As legacy ``process``; where the stages run is decided once for the call."""
        stages = list(self.stages)
        legacy_process = super().process

        async def on_engine(engine: ExecutionEngine, options: CallOptions) -> list[Any]:
            token = _stage_route.set(_StageRoute(engine, options))
            try:
                return await legacy_process(items)
            finally:
                _stage_route.reset(token)

        def detached(engine: ExecutionEngine, options: CallOptions) -> Awaitable[list[Any]]:
            return engine.run_pipeline(items, stages, options)

        async def on_legacy() -> list[Any]:
            token = _stage_route.set(None)
            try:
                return await legacy_process(items)
            finally:
                _stage_route.reset(token)

        work = Work(
            operation="pipeline",
            items=len(items),
            run=on_engine,
            run_legacy=on_legacy,
            functions=tuple(stages),
            sample_input=items,
            detached=detached,
        )
        result: list[Any] = await get_router().execute(self.worker_id, work, self._shadows)
        return result

    async def _run_stage(self, stage: Any, items: list[Any]) -> list[Any]:
        route = _stage_route.get()
        if route is None:
            return await super()._run_stage(stage, items)
        try:
            results = await route.engine.run_pipeline(items, [stage], route.options)
        except (EngineUnavailableError, NotPortableError) as exc:
            if route.stages_sent == 0:
                raise  # nothing was sent: the router may fall back
            raise EngineError(
                f"stage {route.stages_sent} of the pipeline could not be sent after earlier "
                f"stages ran on {route.engine.name}; the call is not re-run elsewhere: {exc}"
            ) from exc
        route.stages_sent += 1
        return results


__all__ = ["Pipeline"]
