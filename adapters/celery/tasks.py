"""What runs inside a Celery worker process.

Three tasks, all taking a *task reference* (``module:qualname``), never code:

- ``cutover.run_batch(reference, items, options)``: one batch of the legacy batched map;
  the items run concurrently on the process's persistent loop; returns results in order.
- ``cutover.run_task(reference, options)``: one zero-argument coroutine function.

The reference is resolved against ``CUTOVER_TASK_MODULES`` *before* anything is imported: a
message naming anything else (``os:system``) is refused, dead-lettered and never executed.

Failures cross back as :class:`BatchFailed`, whose single argument is the exception encoded
by :mod:`adapters.remote_exceptions` (type, args, message, traceback), so the caller can
rebuild the same exception without pickle. Exceptions a worker's flags mark retryable are
retried with exponential backoff and full jitter; when retries run out, the batch goes to
the dead-letter store before the failure is returned.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable
from typing import Any

from adapters.base import RetryPolicy
from adapters.celery import worker_loop
from adapters.celery.backend import EXECUTION_S_ATTR
from adapters.celery.dlq import DeadLetterStore, open_dead_letter_store
from adapters.celery.summaries import SUMMARIZED_REQUEST
from adapters.remote_exceptions import encode_exception
from adapters.task_refs import resolve_task
from ground.constants import DELIVERIES_KEY_PREFIX
from ground.errors import PoisonBatchError, TaskRefusedError
from ground.logs import get_logger

MAX_DELIVERIES_ENV = "CUTOVER_MAX_DELIVERIES"
DEFAULT_MAX_DELIVERIES = 3
DELIVERIES_KEY = DELIVERIES_KEY_PREFIX
"""Prefix of the Redis counter of a redelivered task's deliveries (on the result backend)."""

RUN_BATCH = "cutover.run_batch"
RUN_TASK = "cutover.run_task"

log = get_logger("cutover.celery.worker", engine="celery")


class BatchFailed(Exception):
    """A batch failed; ``args[0]`` is the encoded exception (see ``remote_exceptions``)."""


def retry_policy_from(options: dict[str, Any]) -> RetryPolicy:
    """The retry policy carried in a message's options."""
    raw = options.get("retry") or {}
    return RetryPolicy(
        max_retries=int(raw.get("max_retries", 0)),
        backoff_s=float(raw.get("backoff_s", 1.0)),
        retryable=tuple(raw.get("retryable", ())),
    )


def retry_policy_to_options(policy: RetryPolicy) -> dict[str, Any]:
    """The inverse of :func:`retry_policy_from`."""
    return {
        "max_retries": policy.max_retries,
        "backoff_s": policy.backoff_s,
        "retryable": list(policy.retryable),
    }


def execute_batch(reference: str, items: list[Any]) -> list[Any]:
    """Resolve the reference (allow-list first) and run the batch on the persistent loop."""
    func = resolve_task(reference)
    return worker_loop.run(worker_loop.gather_or_cancel(*(func(item) for item in items)))


def execute_task(reference: str) -> Any:
    """Resolve a zero-argument coroutine function and run it on the persistent loop."""
    func = resolve_task(reference)
    return worker_loop.run(func())


def _dead_letter(
    task: Any,
    reason: str,
    reference: str,
    items: list[Any],
    options: dict[str, Any],
    exc: BaseException,
) -> None:
    """Record the work in the dead-letter store; a failure to record is logged, not raised."""
    store: DeadLetterStore | None = None
    try:
        store = open_dead_letter_store(task.app.conf)
        entry_id = store.add(
            reason=reason,
            task_name=task.name,
            reference=reference,
            items=items,
            options=options,
            queue=(task.request.delivery_info or {}).get("routing_key") or "",
            exc_type=type(exc).__qualname__,
            exc_message=str(exc),
            traceback="".join(traceback.format_exception(exc)),
        )
        log.warning(
            "dead_lettered",
            reason=reason,
            entry_id=entry_id,
            reference=reference,
            worker=options.get("worker"),
            call_id=options.get("call_id"),
            exc_type=type(exc).__qualname__,
        )
    except Exception:
        log.exception("dead_letter_failed", reference=reference, call_id=options.get("call_id"))
    finally:
        if store is not None:
            store.close()


def max_deliveries() -> int:
    """How many times a batch may be delivered before it counts as poison (at least 2)."""
    raw = os.environ.get(MAX_DELIVERIES_ENV, "")
    try:
        return max(2, int(raw)) if raw else DEFAULT_MAX_DELIVERIES
    except ValueError:
        return DEFAULT_MAX_DELIVERIES


def _check_not_poison(task: Any) -> None:
    """Refuse a batch that was delivered ``max_deliveries()`` times already.

    A batch whose process dies (SIGKILL, OOM, a segfault in an extension) is requeued with
    ``redelivered`` set; on Redis nothing else ever stops it. Only redeliveries are counted,
    so a first delivery costs nothing; the counter lives beside the results and expires.
    """
    info = task.request.delivery_info or {}
    if not info.get("redelivered"):
        return
    key = f"{DELIVERIES_KEY}{task.request.id}"
    client = task.app.backend.client
    pipe = client.pipeline()
    pipe.incr(key)
    pipe.expire(key, int(task.app.conf.result_expires or 3600))
    redeliveries = int(pipe.execute()[0])
    deliveries, limit = redeliveries + 1, max_deliveries()
    if deliveries > limit:
        raise PoisonBatchError(
            f"this batch was delivered {deliveries} times and its worker process died each "
            f"time (limit {limit}, {MAX_DELIVERIES_ENV}): it is dead-lettered, not "
            "run again; `cutover dlq list` shows it"
        )


def _run_guarded(
    task: Any,
    reference: str,
    items: list[Any],
    options: dict[str, Any],
    body: Callable[[], Any],
) -> Any:
    """Run ``body``; translate refusals and failures into retries or :class:`BatchFailed`.

    The run is timed on this worker's own clock (start -> finish of ``body``); the caller
    subtracts it from what it observed to get the queue wait, so no clock is shared.
    """
    try:
        _check_not_poison(task)
        started = time.perf_counter()
        value = body()
        setattr(task.request, EXECUTION_S_ATTR, time.perf_counter() - started)
        return value
    except PoisonBatchError as exc:
        _dead_letter(task, "poison", reference, items, options, exc)
        raise BatchFailed(encode_exception(exc)) from None
    except TaskRefusedError as exc:
        _dead_letter(task, "refused", reference, items, options, exc)
        raise BatchFailed(encode_exception(exc)) from None
    except Exception as exc:  # noqa: BLE001 - any task failure is carried back, never lost
        policy = retry_policy_from(options)
        if policy.is_retryable(exc):
            attempt = task.request.retries
            if attempt < policy.max_retries:
                delay = policy.delay(attempt)
                log.info(
                    "batch_retry",
                    attempt=attempt + 1,
                    max_retries=policy.max_retries,
                    countdown_s=round(delay, 3),
                    exc_type=type(exc).__qualname__,
                    call_id=options.get("call_id"),
                    worker=options.get("worker"),
                )
                raise task.retry(
                    exc=BatchFailed(encode_exception(exc)),
                    countdown=delay,
                    max_retries=policy.max_retries,
                ) from None
            _dead_letter(task, "retries-exhausted", reference, items, options, exc)
        raise BatchFailed(encode_exception(exc)) from None


def register(app: Any) -> None:
    """Register the worker tasks on ``app`` (called once by ``adapters.celery.app``)."""

    # Request: what inspect, events and logs show of a batch is a summary (summaries.py).
    @app.task(  # type: ignore[untyped-decorator]
        bind=True, name=RUN_BATCH, shared=False, Request=SUMMARIZED_REQUEST
    )
    def run_batch(self: Any, reference: str, items: list[Any], options: dict[str, Any]) -> Any:
        return _run_guarded(
            self, reference, items, options, lambda: execute_batch(reference, items)
        )

    @app.task(  # type: ignore[untyped-decorator]
        bind=True, name=RUN_TASK, shared=False, Request=SUMMARIZED_REQUEST
    )
    def run_task(self: Any, reference: str, options: dict[str, Any]) -> Any:
        return _run_guarded(self, reference, [], options, lambda: execute_task(reference))


__all__ = [
    "EXECUTION_S_ATTR",
    "MAX_DELIVERIES_ENV",
    "RUN_BATCH",
    "RUN_TASK",
    "BatchFailed",
    "execute_batch",
    "execute_task",
    "max_deliveries",
    "register",
    "retry_policy_from",
    "retry_policy_to_options",
]
