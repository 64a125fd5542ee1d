"""Route one call: flags decide, an engine runs, one structured line says what happened.

The order of a call:

1. ``flags.decide`` reads the in-process flag table (microseconds, never raises): kill
   switches first, then the sticky percentage between ``route`` and ``base``, then the
   hybrid policy.
2. The chosen engine runs the work. If it cannot take the work *before anything was sent*
   (broker down, Ray unreachable: :class:`EngineUnavailableError`; a task function that
   cannot cross a process: :class:`NotPortableError`), the worker's ``fallback`` policy
   applies: ``legacy`` (default) runs the call on legacy with a structured warning and a
   counter; ``fail`` raises the error. An engine that cannot take calls is also an error
   line (once per outage) and the ``cutover_engine_up`` gauge (0) of this process. Once
   work was handed to an engine, nothing is re-run elsewhere: an error then propagates to
   the caller unchanged.
3. A sampled share of calls also runs on the shadow candidate (:mod:`compat.shadow.runner`),
   off the caller's path.
4. A remote engine's batches report their queue wait and execution (:mod:`adapters.timing`),
   counted per batch by :func:`compat.metrics.observe_batches`; the legacy route's short
   path pays nothing for it (its wait is 0 and its execution is the call's latency).
5. Metrics journal the call (:func:`compat.metrics.record_call`: counted in bulk, every few
   hundred calls or second) and the call log (:mod:`compat.calllog`) reads the journal: a
   summary per worker and route at info every interval, and at debug one line per call
   (worker, call_id, route, reason, flag_version, items, duration_ms, outcome);
   ``CUTOVER_CALL_LOG_LEVEL`` sets its threshold.

The legacy route with no shadow takes a short path (:meth:`Router.run_legacy`, which the
optimizer calls with the legacy loop's own coroutine once :meth:`Router.decide` said so):
run the legacy code, count (no ``Work``, no call id unless a line will show it). Measured
in ``benchmarks/hotpath_bench.py``; the budget is 5 µs per call over ``legacy/``. Costs feed
the adaptive hybrid only for calls the adaptive hybrid routed (the only ones it learns from;
a threshold rule needs none).
"""

from __future__ import annotations

from collections.abc import Awaitable
from time import perf_counter
from typing import Any

import flags
from adapters.base import DEFAULT_OPTIONS
from adapters.legacy.marked import MARKED_LEGACY
from adapters.registry import get_engine
from adapters.timing import BatchTiming
from adapters.timing import collect as collect_timings
from compat import calllog, metrics
from compat.calllog import CALL_LOG_LEVEL_ENV
from compat.identity import next_call_id
from compat.shadow.runner import (
    MARKED_OPERATIONS,
    ShadowRunner,
    ShadowSet,
    get_shadow_runner,
)
from compat.work import Work, call_options
from ground.errors import EngineUnavailableError, NotPortableError
from ground.logs import get_logger

log = get_logger("cutover.compat")
_decide = flags.decide
_record_cost = flags.record_cost
_record_call = metrics.record_call
_observe_batches = metrics.observe_batches


class Router:
    """Routes calls by their worker's flags. One per process (:func:`get_router`)."""

    def __init__(
        self, table: flags.FlagTable | None = None, shadows: ShadowRunner | None = None
    ) -> None:
        self._table = table
        self._shadows = shadows

    @property
    def table(self) -> flags.FlagTable:
        """The live flag table (the process-wide one unless given)."""
        if self._table is None:
            self._table = flags.get_table()
        return self._table

    @property
    def shadows(self) -> ShadowRunner:
        """The shadow runner (the process-wide one unless given)."""
        if self._shadows is None:
            self._shadows = get_shadow_runner()
        return self._shadows

    def decide(self, worker_id: str, n_items: int) -> flags.RouteDecision:
        """Where a call of ``worker_id`` over ``n_items`` items goes (never raises)."""
        return _decide(self._table or self.table, worker_id, n_items)

    async def run_legacy(
        self,
        worker_id: str,
        decision: flags.RouteDecision,
        operation: str,
        items: int,
        legacy_call: Awaitable[Any],
    ) -> Any:
        """The short path (most calls during a cutover): a call :meth:`decide` sent to legacy
        with no shadow; await the legacy code's own coroutine and count it. No shadow, no
        engine, no fallback, no :class:`Work`, and no call id unless the call log shows it.
        """
        started = perf_counter()
        try:
            result = await legacy_call
        except BaseException as exc:
            self._finish(
                worker_id, None, "legacy", decision.reason, decision, operation, items, started, exc
            )
            raise
        finished = perf_counter()
        if calllog.active.per_call is None and (
            decision.route != "hybrid" or decision.record.hybrid.mode != "adaptive"
        ):
            # The common case (no per-call line, no cost model to feed), counted inline:
            # one call less than ``_finish``.
            _record_call(
                worker_id,
                "legacy",
                decision.flag_version,
                items,
                finished - started,
                False,
                finished,
            )
        else:
            self._finish(
                worker_id,
                None,
                "legacy",
                decision.reason,
                decision,
                operation,
                items,
                started,
                None,
            )
        return result

    async def execute(
        self,
        worker_id: str,
        work: Work,
        owner: ShadowSet | None = None,
        decision: flags.RouteDecision | None = None,
    ) -> Any:
        """Run ``work`` where the flags of ``worker_id`` say (``decision``: already made by
        :meth:`decide` for this call); return what it returns."""
        if decision is None:
            decision = _decide(self._table or self.table, worker_id, work.items)
        if decision.shadow is None and decision.engine == "legacy":
            return await self.run_legacy(
                worker_id, decision, work.operation, work.items, work.run_legacy()
            )
        call_id = next_call_id()
        shadow = self.shadows.launch(worker_id, call_id, decision, work, owner)
        engine_name: str = decision.engine
        reason = decision.reason
        started = perf_counter()
        timings: list[BatchTiming] | None = None

        def finish(error: BaseException | None) -> None:  # the engine and reason that ran it
            self._finish(
                worker_id,
                call_id,
                engine_name,
                reason,
                decision,
                work.operation,
                work.items,
                started,
                error,
            )

        try:
            if engine_name == "legacy":
                if shadow is not None and work.operation in MARKED_OPERATIONS:
                    # Shadowed: the same legacy map, naming the item that raised for the
                    # record (adapters.legacy.marked); unshadowed calls never pay for it.
                    result = await work.run(MARKED_LEGACY, DEFAULT_OPTIONS)
                else:
                    result = await work.run_legacy()
            else:
                with collect_timings() as timings:
                    try:
                        result, engine_name, reason = await self._run_on_engine(
                            worker_id, call_id, decision, work
                        )
                    finally:
                        _observe_batches(worker_id, timings)
        except BaseException as exc:
            if shadow is not None:
                shadow.primary_failed(exc, perf_counter() - started, engine_name, timings)
            finish(exc)
            raise
        if shadow is not None:
            shadow.primary_succeeded(result, perf_counter() - started, engine_name, timings)
        finish(None)
        return result

    async def _run_on_engine(
        self, worker_id: str, call_id: str, decision: flags.RouteDecision, work: Work
    ) -> tuple[Any, str, str]:
        """Run on the decided engine; fall back to legacy only if nothing was sent."""
        engine_name = decision.engine
        try:
            engine = get_engine(engine_name)
            options = call_options(worker_id, call_id, decision.record)
            result = await work.run(engine, options)
        except (EngineUnavailableError, NotPortableError) as exc:
            if isinstance(exc, EngineUnavailableError):
                _engine_down(worker_id, engine_name, decision, exc)
            if decision.record.fallback == "fail":
                raise
            metrics.count("fallbacks", worker_id, engine_name)
            log.warning(
                "route_fallback",
                worker=worker_id,
                call_id=call_id,
                route=engine_name,
                fallback="legacy",
                flag_version=decision.flag_version,
                error_type=type(exc).__name__,
                error=str(exc),
            )
            return await work.run_legacy(), "legacy", f"{decision.reason}+fallback"
        if _engines_down and engine_name in _engines_down:
            _engine_up(worker_id, engine_name)
        return result, engine_name, decision.reason

    def _finish(
        self,
        worker_id: str,
        call_id: str | None,
        engine_name: str,
        reason: str,
        decision: flags.RouteDecision,
        operation: str,
        items: int,
        started: float,
        error: BaseException | None,
    ) -> None:
        finished = perf_counter()
        duration = finished - started
        failed = error is not None
        if not failed and decision.route == "hybrid" and decision.record.hybrid.mode == "adaptive":
            _record_cost(worker_id, engine_name, items, duration)
        _record_call(
            worker_id, engine_name, decision.flag_version, items, duration, failed, finished
        )
        per_call = calllog.active.per_call
        if per_call is not None:
            per_call(
                "call",
                worker=worker_id,
                call_id=call_id or next_call_id(),
                operation=operation,
                route=engine_name,
                reason=reason,
                flag_version=decision.flag_version,
                stale_flags=decision.stale,
                items=items,
                duration_ms=round(duration * 1000, 3),
                outcome="ok" if error is None else f"error:{type(error).__name__}",
            )


_engines_down = metrics._engines_down  # read without a lock: one check per engine call


def _engine_down(
    worker_id: str, engine_name: str, decision: flags.RouteDecision, exc: BaseException
) -> None:
    """Count a call the engine of its route could not take; log it at error when the engine
    was not known to be down (one line per outage, not one per call)."""
    metrics.count("engine_unavailable", worker_id, engine_name)
    if metrics.engine_unavailable(engine_name, str(exc)):
        log.error(
            "engine_unavailable",
            worker=worker_id,
            route=engine_name,
            flag_version=decision.flag_version,
            fallback=decision.record.fallback,
            error_type=type(exc).__name__,
            error=str(exc),
            hint="`cutover engines` shows why with this environment; metric cutover_engine_up",
        )


def _engine_up(worker_id: str, engine_name: str) -> None:
    if metrics.engine_available(engine_name):
        log.info("engine_available", worker=worker_id, route=engine_name)


_router: Router | None = None


def get_router() -> Router:
    """The process-wide router."""
    global _router
    if _router is None:
        _router = Router()
    return _router


def set_router(router: Router | None) -> None:
    """Replace the process-wide router (tests, embedding applications)."""
    global _router
    _router = router


__all__ = ["CALL_LOG_LEVEL_ENV", "Router", "get_router", "set_router"]
