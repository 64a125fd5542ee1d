"""``AsyncWorkerOptimizer``, routed: the one class most workers import.

Identical to :class:`legacy.AsyncWorkerOptimizer` (it *is* a subclass: metrics, pools,
pipelines and load-balancing helpers run the legacy code itself) except that the batched map
goes through the router, and the pipelines it builds belong to its worker.

``async with AsyncWorkerOptimizer() as optimizer: ...`` drains the shadow experiments it
started when the block ends.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from inspect import CO_COROUTINE
from types import FunctionType, MethodType, TracebackType
from typing import Any, TypeVar

import legacy
from adapters.base import CallOptions, ExecutionEngine
from compat.identity import resolve_worker_id
from compat.pipeline import Pipeline
from compat.router import get_router
from compat.shadow import call_recorder
from compat.shadow.runner import ShadowSet
from compat.work import Work
from ground.errors import InvalidArgumentError
from legacy.batching import run_batched

T = TypeVar("T")
R = TypeVar("R")

SHADOW_DRAIN_TIMEOUT_S = 10.0

_is_coroutine_function: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()
"""``inspect.iscoroutinefunction(inspect.unwrap(f))`` per function (≈2 µs a call otherwise);
weak, so a cached function is still freed with its module or closure."""


def is_coroutine_function(task_func: Callable[..., Any]) -> bool:
    """Whether ``task_func``, unwrapped, is an ``async def`` (cached per function).

    A bound method is cached by its function (a new bound method object is made at every
    attribute access); what cannot be weakly referenced is checked every time.
    """
    if (
        type(task_func) is FunctionType
        and task_func.__code__.co_flags & CO_COROUTINE
        and "__wrapped__" not in task_func.__dict__
    ):
        return True  # a plain ``async def``: the common case, no lookup at all
    key = task_func.__func__ if isinstance(task_func, MethodType) else task_func
    try:
        return _is_coroutine_function[key]
    except KeyError:
        pass
    except TypeError:  # not weakly referenceable (or unhashable): no cache
        return inspect.iscoroutinefunction(inspect.unwrap(task_func))
    answer = inspect.iscoroutinefunction(inspect.unwrap(task_func))
    with contextlib.suppress(TypeError):  # cannot be cached: answered all the same
        _is_coroutine_function[key] = answer
    return answer


def awaiting_task_func(task_func: Callable[[T], Awaitable[R]]) -> Callable[[T], Awaitable[R]]:
    """``task_func``, checked to give an awaitable, so a mistake is a clear error on any route.

    A coroutine function passes through untouched (no cost). A callable that is not one may
    still return an awaitable (a lambda calling an ``async def``: the legacy module accepted
    it, so the shim does too); if it returns anything else,
    :class:`~ground.errors.InvalidArgumentError` names it, instead of asyncio's bare
    ``TypeError`` from deep inside a batch. Something not callable is refused at once.
    """
    if not callable(task_func):
        raise InvalidArgumentError(
            f"task_func must be an async function taking one item, got {task_func!r} of type "
            f"{type(task_func).__name__}"
        )
    if is_coroutine_function(task_func):
        return task_func
    name = getattr(task_func, "__qualname__", None) or repr(task_func)

    @functools.wraps(task_func)
    async def checked(item: T) -> R:
        result = task_func(item)
        if not inspect.isawaitable(result):
            raise InvalidArgumentError(
                f"task_func {name!r} returned a {type(result).__name__}, not an awaitable: "
                "it must be an async function (async def) or return an awaitable"
            )
        return await result

    return checked


class AsyncWorkerOptimizer(legacy.AsyncWorkerOptimizer):
    """The legacy optimizer, with ``optimize_batch_processing`` routed by the worker's flags."""

    def __init__(self, *, worker_id: str | None = None) -> None:
        """As legacy; ``worker_id`` (else ``$CUTOVER_WORKER``, else ``"default"``) keys flags."""
        super().__init__()
        self.worker_id = resolve_worker_id(worker_id)
        self._shadows = ShadowSet()

    def _run_batched(
        self,
        items: Sequence[T],
        task_func: Callable[[T], Awaitable[R]],
        batch_size: int,
        max_concurrent: int,
    ) -> Coroutine[Any, Any, list[R]]:
        # A plain function returning the router's coroutine: legacy awaits it, and the call
        # has one coroutine frame less (the legacy route's budget is a few microseconds).
        # Every route's legacy code is ``run_batched`` itself, the loop legacy's
        # ``_run_batched`` only awaits (no ``super()`` lookup on the short path).
        checked = awaiting_task_func(task_func)
        recorder = call_recorder.active
        if recorder is not None:  # opt-in (CUTOVER_RECORD_CALLS): inputs for `cutover replay`
            recorder.capture(self.worker_id, task_func, items, batch_size, max_concurrent)
        router = get_router()
        size = len(items)
        decision = router.decide(self.worker_id, size)
        if decision.shadow is None and decision.engine == "legacy":
            # The short path: timed and counted; no Work, no closures.
            return router.run_legacy(
                self.worker_id,
                decision,
                "batch",
                size,
                run_batched(items, checked, batch_size, max_concurrent),
            )

        def on_engine(engine: ExecutionEngine, options: CallOptions) -> Awaitable[list[Any]]:
            return engine.map_batches(items, checked, batch_size, max_concurrent, options)

        work = Work(
            "batch",
            size,
            on_engine,
            lambda: run_batched(items, checked, batch_size, max_concurrent),
            (task_func,),
            items,
        )
        return router.execute(self.worker_id, work, self._shadows, decision)

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
