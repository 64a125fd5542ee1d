"""``CeleryEngine``: the legacy batched map, one Celery message per batch.

A call cuts the items into batches of the legacy ``batch_size`` and keeps at most
``max_concurrent`` batch messages in flight (a sliding window, as the legacy semaphore
does); every result is awaited on the caller's loop through :class:`ResultListener`.

Before anything is sent, the call checks what can be checked locally: the arguments (legacy
validation), the task function's portability (:class:`NotPortableError`) and the engine's
reachability (:class:`EngineUnavailableError`, safe to fall back), and that every batch of the
first window encodes (:class:`SerializationError` with none of them sent). Once a message is sent,
failures are never retried elsewhere by this engine: they propagate. A task function's
exception arrives with its own type and message, and beside it the indexes in the call's
input of the items that raised (:func:`adapters.item_errors.failed_items`).
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
import weakref
from collections.abc import Sequence
from typing import Any

from adapters import item_errors, timing
from adapters.base import DEFAULT_OPTIONS, CallOptions, EngineHealth, TaskFunc, ZeroArgTask
from adapters.celery.backend import EXECUTION_S_KEY
from adapters.celery.publisher import OutgoingMessage, Publisher, PublishFailed
from adapters.celery.results import ResultListener
from adapters.celery.settings import MAX_PRIORITY, CelerySettings, queue_for_worker
from adapters.celery.tasks import RUN_BATCH, RUN_TASK, retry_policy_to_options
from adapters.remote_exceptions import decode_exception
from adapters.task_refs import task_reference
from ground.errors import (
    CallTimeoutError,
    CutoverError,
    EngineError,
    EngineTimeoutError,
    EngineUnavailableError,
    IncompleteCallError,
    InFlightLostError,
)
from ground.logs import get_logger, mask_url
from legacy.batching import validate_batch_arguments

PIPELINE_MESSAGES_PER_STAGE = 16
"""A pipeline stage is cut into about this many messages, all in flight at once."""

CONNECT_TIMEOUT_S = 3.0
STALL_LOG_S = 10.0
"""A call with no result for this long (or a quarter of its deadline) logs ``call_stalled``."""
PENDING_SHOWN = 5
"""How many pending batches an incomplete call's error names one by one."""

log = get_logger("cutover.celery.engine", engine="celery")


def _window_messages(count: int) -> int:
    return max(1, count)


class CeleryEngine:
    """The Celery implementation of :class:`adapters.base.ExecutionEngine`."""

    name = "celery"

    def __init__(self, settings: CelerySettings | None = None) -> None:
        self._settings = settings
        self._app: Any = None
        self._publisher: Publisher | None = None
        self._listeners: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ResultListener]
        self._listeners = weakref.WeakKeyDictionary()
        # One start per loop at a time: the first shadow calls of a worker all find the engine
        # cold at once, and each starting its own listener leaked all but the last one.
        self._starting: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task[None]]
        self._starting = weakref.WeakKeyDictionary()
        self._app_lock = threading.Lock()  # loops of several threads may start the engine
        self._short_deadlines_logged: set[str] = set()

    # --- lifecycle ---------------------------------------------------------------------

    @property
    def settings(self) -> CelerySettings:
        """The settings in use (read from the environment on first use)."""
        if self._settings is None:
            self._settings = CelerySettings.from_env()
        return self._settings

    @property
    def app(self) -> Any:
        """The Celery app (created on ``start``)."""
        return self._app

    async def start(self) -> None:
        """Check the broker and subscribe to results for this loop. Idempotent, and calls that
        arrive while a start is under way wait for that one instead of starting another."""
        loop = asyncio.get_running_loop()
        if loop in self._listeners:
            return
        starting = self._starting.get(loop)
        if starting is None:
            starting = self._starting[loop] = loop.create_task(self._start_on(loop))
            starting.add_done_callback(lambda _: self._starting.pop(loop, None))
        # Shielded: a caller that gives up (a shadow timeout) does not cancel the others' start.
        await asyncio.shield(starting)

    async def _start_on(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._app is None:
            await asyncio.to_thread(self._create_app_and_connect)
        listener = ResultListener(
            self.settings.result_backend, ssl=self.settings.redis_backend_use_ssl
        )
        await listener.start()
        self._listeners[loop] = listener
        log.info(
            "engine_started",
            broker_url=mask_url(self.settings.broker_url),
            backend_url=mask_url(self.settings.result_backend),
        )

    def _create_app_and_connect(self) -> None:
        with self._app_lock:
            if self._app is None:
                self._create_app_and_connect_locked()

    def _create_app_and_connect_locked(self) -> None:
        from adapters.celery.app import create_app

        app = create_app(self.settings)
        publisher = Publisher(app)
        try:
            publisher.check_connection(CONNECT_TIMEOUT_S)
        except Exception as exc:
            publisher.close()
            raise EngineUnavailableError(
                f"the Celery broker {mask_url(self.settings.broker_url)} is unreachable: {exc}"
            ) from exc
        self._app, self._publisher = app, publisher

    async def close(self) -> None:
        """Close this loop's listener; the publisher thread goes when no loop uses it."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        listener = self._listeners.pop(loop, None) if loop is not None else None
        if listener is not None:
            await listener.close()
        if not self._listeners and self._publisher is not None:
            publisher, self._publisher = self._publisher, None
            await asyncio.to_thread(publisher.close)
            self._app = None

    async def health(self) -> EngineHealth:
        """Ping the workers (``celery inspect ping``) without blocking the loop."""
        try:
            await self.start()
            replies = await asyncio.to_thread(self._app.control.ping, timeout=1.0)
        except CutoverError as exc:
            return EngineHealth(self.name, healthy=False, detail=str(exc), workers=0)
        except Exception as exc:  # noqa: BLE001 - a health check reports, it never raises
            log.warning("health_check_failed", error=str(exc))
            return EngineHealth(self.name, healthy=False, detail=str(exc), workers=0)
        workers = len(replies or [])
        return EngineHealth(
            self.name,
            healthy=workers > 0,
            detail=f"{workers} worker(s) answered on {mask_url(self.settings.broker_url)}",
            workers=workers,
        )

    # --- work --------------------------------------------------------------------------

    async def map_batches(
        self,
        items: Sequence[Any],
        task_func: TaskFunc,
        batch_size: int,
        max_concurrent: int,
        options: CallOptions = DEFAULT_OPTIONS,
    ) -> list[Any]:
        """One message per batch, at most ``max_concurrent`` in flight; results in order."""
        validate_batch_arguments(batch_size, max_concurrent)
        if not items:
            return []
        reference = task_reference(task_func)
        await self.start()
        items = list(items)
        batches = [items[i : i + batch_size] for i in range(0, len(items), batch_size)]
        results = await self._run_window(RUN_BATCH, reference, batches, max_concurrent, options)
        return [value for batch in results for value in batch]

    async def run_pipeline(
        self,
        items: Sequence[Any],
        stages: Sequence[TaskFunc],
        options: CallOptions = DEFAULT_OPTIONS,
    ) -> list[Any]:
        """Stage after stage, each stage cut into a few messages that all run at once."""
        references = [task_reference(stage) for stage in stages]
        current = list(items)
        if not current or not references:
            return current
        await self.start()
        chunk = max(1, math.ceil(len(current) / PIPELINE_MESSAGES_PER_STAGE))
        for reference in references:
            batches = [current[i : i + chunk] for i in range(0, len(current), chunk)]
            results = await self._run_window(
                RUN_BATCH, reference, batches, _window_messages(len(batches)), options
            )
            current = [value for batch in results for value in batch]
        return current

    async def run_task(self, task: ZeroArgTask, options: CallOptions = DEFAULT_OPTIONS) -> Any:
        """One message for one zero-argument task."""
        reference = task_reference(task)
        await self.start()
        listener = self._listener()
        task_id = listener.new_task_id()
        future = listener.expect(task_id)
        message = self._message(RUN_TASK, task_id, (reference, self._options(options)), options)
        await self._send([message], [task_id], nothing_sent_yet=True)
        meta = await self._await_one(future, task_id, options)
        return self._outcome(meta)

    # --- internals ---------------------------------------------------------------------

    def _listener(self) -> ResultListener:
        return self._listeners[asyncio.get_running_loop()]

    def _options(self, options: CallOptions) -> dict[str, Any]:
        return {
            "worker": options.worker_id,
            "call_id": options.call_id,
            "retry": retry_policy_to_options(options.retry),
        }

    def _message(
        self, task_name: str, task_id: str, args: tuple[Any, ...], options: CallOptions
    ) -> OutgoingMessage:
        priority = min(max(options.priority, 0), MAX_PRIORITY)
        if self.settings.broker_is_redis:
            priority = MAX_PRIORITY - priority  # Redis pops the lowest number first
        return OutgoingMessage(
            task_name=task_name,
            task_id=task_id,
            args=args,
            queue=options.queue or queue_for_worker(options.worker_id),
            priority=priority,
            shadow=f"{task_name}[{options.worker_id}]",
        )

    async def _send(
        self, messages: list[OutgoingMessage], task_ids: list[str], *, nothing_sent_yet: bool
    ) -> None:
        publisher = self._publisher
        if publisher is None:
            raise EngineUnavailableError("the Celery engine was closed while a call was running")
        try:
            # The first window goes all or nothing: a refused item in its last batch must not
            # leave the earlier batches running with nobody awaiting their results.
            await publisher.send(messages, all_or_nothing=nothing_sent_yet)
        except CutoverError:
            for task_id in task_ids:
                self._listener().forget(task_id)
            raise
        except PublishFailed as failure:
            for task_id in task_ids:
                self._listener().forget(task_id)
            cause = failure.__cause__ or failure
            where = mask_url(self.settings.broker_url)
            # Only a call of which no message reached the broker may run elsewhere (the
            # fallback to legacy): a batch already published would run twice.
            if nothing_sent_yet and failure.sent == 0:
                raise EngineUnavailableError(
                    f"could not send to the Celery broker {where}: {cause}"
                ) from cause
            raise EngineError(
                f"the Celery broker {where} failed in the middle of a call ({failure}; "
                f"batches already sent may run, so the call is not re-run elsewhere): {cause}"
            ) from cause

    async def _run_window(
        self,
        task_name: str,
        reference: str,
        batches: list[list[Any]],
        window: int,
        options: CallOptions,
    ) -> list[list[Any]]:
        """Send the batches, at most ``window`` in flight, and collect every result once.

        Results are kept as they come (by batch, so a redelivered batch's second result is
        never taken twice). The call waits for each batch up to its deadline, measured from
        when that batch was sent; while nothing arrives it logs ``call_stalled`` every
        quarter of the deadline (at most every :data:`STALL_LOG_S`). When a deadline passes
        or the backend lost what was in flight, the error names the pending batches and
        carries the results already computed (:class:`IncompleteCallError`).

        Each batch's publish -> result time on this clock and the execution time its worker
        measured are reported to :mod:`adapters.timing` (the queue wait is their difference).
        """
        listener = self._listener()
        wire_options = self._options(options)
        timeout_s = options.timeout_s or self.settings.result_timeout
        self._check_deadline(timeout_s, options)
        stall_s = max(1.0, min(STALL_LOG_S, timeout_s / 4))
        results: list[list[Any] | None] = [None for _ in batches]
        in_flight: dict[asyncio.Future[dict[str, Any]], tuple[int, str, float]] = {}
        next_batch = 0

        async def send_next(count: int) -> None:
            nonlocal next_batch
            messages, task_ids = [], []
            stop = min(len(batches), next_batch + count)
            for index in range(next_batch, stop):
                task_id = listener.new_task_id()
                in_flight[listener.expect(task_id)] = (index, task_id, time.monotonic())
                task_ids.append(task_id)
                args = (reference, batches[index], wire_options)
                messages.append(self._message(task_name, task_id, args, options))
            first = next_batch == 0
            next_batch = stop
            if messages:
                await self._send(messages, task_ids, nothing_sent_yet=first)

        def incomplete(kind: type[IncompleteCallError], why: str) -> IncompleteCallError:
            sent = sorted((index, task_id) for index, task_id, _ in in_flight.values())
            pending = sent + [(index, "") for index in range(next_batch, len(batches))]
            return kind(
                self._incomplete_message(why, batches, results, pending, options),
                results,
                pending,
            )

        progress_at = time.monotonic()
        try:
            await send_next(window)
            while in_flight:
                now = time.monotonic()
                oldest = min(sent_at for _, _, sent_at in in_flight.values())
                remaining = timeout_s - (now - oldest)
                if remaining <= 0:
                    raise incomplete(CallTimeoutError, f"no result within {timeout_s:g}s")
                done, _ = await asyncio.wait(
                    in_flight,
                    timeout=min(remaining, max(progress_at + stall_s - now, 0.01)),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if not done:
                    if time.monotonic() - progress_at >= stall_s:
                        self._log_stall(options, in_flight, results, timeout_s)
                        progress_at = time.monotonic()
                    continue
                progress_at = time.monotonic()
                for future in sorted(done, key=lambda f: in_flight[f][0]):
                    if not future.cancelled() and isinstance(future.exception(), InFlightLostError):
                        raise incomplete(InFlightLostError, str(future.exception()))
                    index, _, sent_at = in_flight.pop(future)
                    meta = future.result()
                    try:
                        results[index] = self._outcome(meta)
                    except Exception as exc:
                        # The worker named the failing items within their batch.
                        item_errors.shift(exc, sum(len(batch) for batch in batches[:index]))
                        raise
                    timing.report(
                        self.name,
                        progress_at - sent_at,
                        timing.worker_execution_s(meta.get(EXECUTION_S_KEY)),
                    )
                await send_next(len(done))
        finally:
            for future, (_, task_id, _) in in_flight.items():
                if future.done() and not future.cancelled():
                    future.exception()  # retrieved: no "never retrieved" noise
                listener.forget(task_id)
            await listener.flush()
        return [batch_results or [] for batch_results in results]

    def _check_deadline(self, timeout_s: float, options: CallOptions) -> None:
        """Log (once per worker) a deadline that gives up before a lost batch is back."""
        bound = self.settings.redelivery_bound_s
        if not self.settings.broker_is_redis or timeout_s >= bound:
            return
        if options.worker_id in self._short_deadlines_logged:
            return
        self._short_deadlines_logged.add(options.worker_id)
        log.warning(
            "deadline_before_redelivery",
            worker=options.worker_id,
            call_id=options.call_id,
            deadline_s=timeout_s,
            redelivery_bound_s=bound,
        )

    @staticmethod
    def _log_stall(
        options: CallOptions,
        in_flight: dict[asyncio.Future[dict[str, Any]], tuple[int, str, float]],
        results: list[list[Any] | None],
        timeout_s: float,
    ) -> None:
        oldest = min(sent_at for _, _, sent_at in in_flight.values())
        log.warning(
            "call_stalled",
            worker=options.worker_id,
            call_id=options.call_id,
            pending=len(in_flight),
            done=sum(1 for batch in results if batch is not None),
            batches=len(results),
            oldest_wait_s=round(time.monotonic() - oldest, 1),
            deadline_s=timeout_s,
        )

    def _incomplete_message(
        self,
        why: str,
        batches: list[list[Any]],
        results: list[list[Any] | None],
        pending: list[tuple[int, str]],
        options: CallOptions,
    ) -> str:
        starts = [0]
        for batch in batches:
            starts.append(starts[-1] + len(batch))
        shown = ", ".join(
            f"#{index} (items {starts[index]}-{starts[index + 1] - 1}"
            + (f", task {task_id})" if task_id else ", not sent)")
            for index, task_id in pending[:PENDING_SHOWN]
        )
        more = f" and {len(pending) - PENDING_SHOWN} more" if len(pending) > PENDING_SHOWN else ""
        done = sum(1 for batch in results if batch is not None)
        queue = options.queue or queue_for_worker(options.worker_id)
        settings = self.settings
        hint = (
            f"A batch whose worker died comes back only after the visibility timeout "
            f"({settings.visibility_timeout:g}s) and runs again (up to "
            f"{settings.redelivery_bound_s:g}s in all): a deadline (CallOptions.timeout_s, "
            "CUTOVER_CALL_TIMEOUT_S, CUTOVER_RESULT_TIMEOUT) at least that long waits for it"
            if settings.broker_is_redis
            else "RabbitMQ redelivers a dead worker's batches when its connection is gone"
        )
        return (
            f"Celery call {options.call_id or '?'} of worker {options.worker_id!r} (queue "
            f"{queue!r}): {why}; {len(pending)} of {len(batches)} batch(es) pending: "
            f"{shown}{more}. The {done} batch(es) done are kept on this error's .partial; "
            f"nothing was re-run elsewhere and late results are discarded. {hint}."
        )

    async def _await_one(
        self, future: asyncio.Future[dict[str, Any]], task_id: str, options: CallOptions
    ) -> dict[str, Any]:
        timeout_s = options.timeout_s or self.settings.result_timeout
        try:
            return await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            self._listener().forget(task_id)
            raise EngineTimeoutError(
                f"no result from Celery for task {task_id} within {timeout_s:g}s; "
                "it was not re-run elsewhere"
            ) from None

    @staticmethod
    def _outcome(meta: dict[str, Any]) -> Any:
        status = meta.get("status")
        result = meta.get("result")
        if status == "SUCCESS":
            return result
        if status == "FAILURE" and isinstance(result, dict):
            exc_type = result.get("exc_type")
            exc_message = result.get("exc_message") or ()
            if exc_type == "BatchFailed" and exc_message and isinstance(exc_message[0], dict):
                raise decode_exception(exc_message[0])
            raise EngineError(
                f"the Celery worker failed the batch with {exc_type}: "
                f"{' '.join(map(str, exc_message))}"
            )
        raise EngineError(f"the Celery task ended in state {status}: {result!r}")


__all__ = ["CeleryEngine"]
