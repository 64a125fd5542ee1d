"""Where a remote batch's time went: waiting in the queue, or executing on a worker.

"Celery is slower" and "the queue is backed up" look the same from the caller: a call took
longer. Each remote engine therefore reports, per batch, two numbers measured on two clocks
that are never compared with each other:

- ``total_s``: publish -> result, on the *caller's* monotonic clock;
- ``execution_s``: start -> finish of the batch, on the *worker's* monotonic clock.

Queue wait is their difference (``total_s - execution_s``, at least 0): it needs no clock
shared between hosts, so a skewed worker clock cannot make it negative or huge. It includes
the transport both ways (broker, result backend), which is part of "waiting", not of running
the task. The in-process legacy engine has no queue: its wait is 0 by definition.

What reports it: every batch message of Celery (a batched map, a pipeline stage) and every
batch of Ray's batched map. Not reported (the split is then unknown, never guessed): a
zero-argument task, a Ray pipeline's chained stages, a batch whose worker predates this
(no ``execution_s`` in its result). A Celery batch retried by its worker counts the backoff
and earlier attempts as queue wait (the worker times the attempt that succeeded); Ray's
retries are resubmitted by the caller, which times the last attempt only.

Engines report through :func:`report`; a caller that wants the timings of one call wraps
the call in :func:`collect` (a context variable, so concurrent calls on one loop never see
each other's batches). Outside :func:`collect`, :func:`report` is one context-variable read.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BatchTiming:
    """One remote batch's caller-observed total and worker-measured execution, in seconds."""

    engine: str
    total_s: float
    execution_s: float | None
    """``None`` when the worker did not report it (an older worker): the wait is unknown."""

    @property
    def queue_wait_s(self) -> float | None:
        """``total_s - execution_s``, never below 0; ``None`` when execution is unknown."""
        if self.execution_s is None:
            return None
        return max(0.0, self.total_s - self.execution_s)


@dataclass(frozen=True, slots=True)
class TimingSummary:
    """The batches of one call on one engine, summed over those whose execution is known."""

    batches: int
    queue_wait_s: float | None
    """Summed queue wait of the batches; ``None`` when no batch reported its execution."""
    execution_s: float | None
    """Summed execution of the batches; ``None`` when no batch reported it."""

    @classmethod
    def of(cls, timings: list[BatchTiming]) -> TimingSummary | None:
        """The summary of ``timings``, or ``None`` when there are none."""
        if not timings:
            return None
        known = [t for t in timings if t.execution_s is not None]
        if not known:
            return cls(len(timings), None, None)
        wait = sum(t.queue_wait_s or 0.0 for t in known)
        execution = sum(t.execution_s or 0.0 for t in known)
        return cls(len(timings), wait, execution)

    def split(self, latency_s: float) -> tuple[float | None, float | None]:
        """The call's ``latency_s`` cut in the proportion its batches waited and ran.

        Batches overlap (a window of them is in flight), so summed batch times do not add up
        to the call's latency; their *proportion* does apply to it, and the two parts then
        add up to the call's latency exactly as legacy's do (a wait of 0, all execution).
        ``(None, None)`` when no batch reported its execution.
        """
        if self.queue_wait_s is None or self.execution_s is None:
            return None, None
        busy = self.queue_wait_s + self.execution_s
        if busy <= 0:
            return 0.0, latency_s
        wait = latency_s * self.queue_wait_s / busy
        return wait, latency_s - wait


_sink: ContextVar[list[BatchTiming] | None] = ContextVar("cutover_batch_timings", default=None)


def report(engine: str, total_s: float, execution_s: float | None) -> None:
    """Record one batch for the :func:`collect` block around this call, if there is one."""
    timings = _sink.get()
    if timings is not None:
        timings.append(BatchTiming(engine, total_s, execution_s))


@contextlib.contextmanager
def collect() -> Iterator[list[BatchTiming]]:
    """The batches the engines report inside this block, in the order they finished."""
    timings: list[BatchTiming] = []
    token = _sink.set(timings)
    try:
        yield timings
    finally:
        _sink.reset(token)


def worker_execution_s(value: object) -> float | None:
    """A worker-reported execution time as read off the wire: a finite number >= 0, or None.

    A malformed value (an older or foreign worker) means "unknown", never an error: the
    batch's results are what matters to the caller.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    seconds = float(value)
    if seconds != seconds or seconds < 0 or seconds == float("inf"):
        return None
    return seconds


__all__ = ["BatchTiming", "TimingSummary", "collect", "report", "worker_execution_s"]
