"""The one execution interface every engine implements.

It is sized to what the legacy API *executes* and nothing more:

- a batched map of an async ``task_func`` over items (``optimize_batch_processing`` and the
  handler of ``AsyncBatchProcessor``), with the legacy ``batch_size`` / ``max_concurrent``
  semantics: results in input order, an exception from ``task_func`` propagates unchanged;
- a multi-stage pipeline over items (``Pipeline.process``);
- one zero-argument task (``AsyncTaskScheduler.execute_next``);
- lifecycle (``start`` / ``close``; engines start lazily, on first use) and a health check.

The contract each engine must honour is enforced by one equivalence suite
(``tests/adapters/test_equivalence.py``) run against every engine.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ground.retry import MAX_BACKOFF_S, RetryPolicy

TaskFunc = Callable[[Any], Awaitable[Any]]
"""An async callable taking one item: what legacy code passes as ``task_func``."""

ZeroArgTask = Callable[[], Awaitable[Any]]
"""An async callable taking nothing: what the scheduler runs."""


@dataclass(frozen=True, slots=True)
class CallOptions:
    """Per-call settings that come from the worker's flags, not from the legacy signature."""

    worker_id: str = "default"
    call_id: str = ""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    priority: int = 5
    """0 (lowest) .. 9 (highest), AMQP semantics; engines translate (Redis inverts it)."""
    queue: str | None = None
    """Celery queue; ``None`` means the worker's own queue ``cutover.<worker_id>``."""
    timeout_s: float | None = None
    """How long to wait for a result once work was handed over; ``None``: engine default."""


DEFAULT_OPTIONS = CallOptions()


@dataclass(frozen=True, slots=True)
class EngineHealth:
    """What a health check found. ``detail`` is safe to print (no secrets)."""

    engine: str
    healthy: bool
    detail: str = ""
    workers: int | None = None


@runtime_checkable
class ExecutionEngine(Protocol):
    """What every engine (``legacy``, ``celery``, ``ray``) implements."""

    name: str

    async def map_batches(
        self,
        items: Sequence[Any],
        task_func: TaskFunc,
        batch_size: int,
        max_concurrent: int,
        options: CallOptions = DEFAULT_OPTIONS,
    ) -> list[Any]:
        """``[await task_func(x) for x in items]`` run as the legacy batched map does."""
        ...

    async def run_pipeline(
        self,
        items: Sequence[Any],
        stages: Sequence[TaskFunc],
        options: CallOptions = DEFAULT_OPTIONS,
    ) -> list[Any]:
        """Every item through every stage, stage by stage; results in input order."""
        ...

    async def run_task(self, task: ZeroArgTask, options: CallOptions = DEFAULT_OPTIONS) -> Any:
        """Await one zero-argument task and return its result."""
        ...

    async def start(self) -> None:
        """Connect/spawn what the engine needs. Idempotent; called lazily on first use.

        Raises :class:`ground.errors.EngineUnavailableError` when the engine cannot be
        reached; nothing has been sent at that point, so a caller may fall back.
        """
        ...

    async def close(self) -> None:
        """Release connections and background tasks of this process. Idempotent."""
        ...

    async def health(self) -> EngineHealth:
        """A cheap check that the engine can take work now."""
        ...


__all__ = [
    "DEFAULT_OPTIONS",
    "MAX_BACKOFF_S",
    "CallOptions",
    "EngineHealth",
    "ExecutionEngine",
    "RetryPolicy",
    "TaskFunc",
    "ZeroArgTask",
]
