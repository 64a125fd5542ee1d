"""One routed call, described independently of the engine that will run it."""

from __future__ import annotations

import math
import os
from collections.abc import Awaitable, Callable
from typing import Any

from adapters.base import CallOptions, ExecutionEngine, RetryPolicy
from flags import FlagRecord
from ground.errors import ConfigurationError

EngineRun = Callable[[ExecutionEngine, CallOptions], Awaitable[Any]]
LegacyRun = Callable[[], Awaitable[Any]]


class Work:
    """What a call does, on any engine.

    ``run_legacy`` is the legacy code itself (so the legacy route runs no second copy of any
    logic); ``run`` does the same work through an engine, as the primary (it may update the
    caller's objects, e.g. a pipeline's metrics, exactly as legacy would); ``detached`` does
    the work through an engine *without touching any caller object*: what a shadow candidate
    runs (``None``: ``run`` is already detached). ``functions`` are the user's task functions
    (shadow safety is decided on them); ``sample_input`` is what a shadow record shows of the
    call's input (redacted before it is stored).

    A plain slotted class, not a frozen dataclass: one is built per routed call, and a frozen
    dataclass's ``__init__`` (one ``object.__setattr__`` per field) cost more than a
    microsecond of the legacy route's budget. Treat instances as immutable.
    """

    __slots__ = (
        "detached",
        "functions",
        "items",
        "operation",
        "run",
        "run_legacy",
        "sample_input",
    )

    def __init__(
        self,
        operation: str,
        items: int,
        run: EngineRun,
        run_legacy: LegacyRun,
        functions: tuple[Callable[..., Any], ...],
        sample_input: Any,
        detached: EngineRun | None = None,
    ) -> None:
        self.operation = operation
        self.items = items
        self.run = run
        self.run_legacy = run_legacy
        self.functions = functions
        self.sample_input = sample_input
        self.detached = detached

    def __repr__(self) -> str:
        return f"Work(operation={self.operation!r}, items={self.items})"

    def run_detached(self, engine: ExecutionEngine, options: CallOptions) -> Awaitable[Any]:
        """The work on ``engine`` with no effect on caller objects (shadows, denoise reruns)."""
        return (self.detached or self.run)(engine, options)


CALL_TIMEOUT_ENV = "CUTOVER_CALL_TIMEOUT_S"
"""The caller's deadline (seconds) for each batch a routed call hands to an engine."""


def call_timeout() -> float | None:
    """``$CUTOVER_CALL_TIMEOUT_S`` (re-read at every call), ``None`` when unset: each engine's
    own default then applies (``CUTOVER_RESULT_TIMEOUT``, ``CUTOVER_RAY_RESULT_TIMEOUT_S``)."""
    raw = os.environ.get(CALL_TIMEOUT_ENV)
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not 0 < value < math.inf:
        raise ConfigurationError(
            f"{CALL_TIMEOUT_ENV}={raw!r}: expected a positive number of seconds (or unset it "
            "to use each engine's default deadline)"
        )
    return value


def call_options(worker_id: str, call_id: str, record: FlagRecord) -> CallOptions:
    """The engine options a worker's flag record asks for, with the caller's deadline."""
    retries = record.retries
    return CallOptions(
        worker_id=worker_id,
        call_id=call_id,
        retry=RetryPolicy(retries.max, retries.backoff_s, tuple(retries.retryable)),
        priority=record.priority,
        queue=record.queue,
        timeout_s=call_timeout(),
    )


__all__ = ["CALL_TIMEOUT_ENV", "EngineRun", "LegacyRun", "Work", "call_options", "call_timeout"]
