"""``RayEngine``: the legacy batched map as one Ray task per batch, awaited natively from asyncio.

Importing this module does not import Ray (nor does ``import adapters``): Ray is imported and
initialized on the first call (:mod:`adapters.ray.runtime`; settings from the environment,
``RAY_ADDRESS`` selects a cluster, else a local instance sized to the machine).

- ``map_batches``: legacy validation first; the items are cut into batches of the legacy
  ``batch_size``, **one remote task per batch** (its items run concurrently on the worker's
  persistent loop, :mod:`adapters.ray.remote`), at most ``max_concurrent`` batch tasks in
  flight per call (a sliding window: the next batch is submitted when one finishes, in batch
  order), results in input order. ``ObjectRef``\\ s are awaited on the caller's loop
  (``await ref``): no ``ray.get``, no thread per result.
- ``run_pipeline``: the items are cut into about two chunks per cluster CPU; each chunk goes
  through the stages as a chain of tasks, each stage's ``ObjectRef`` passed straight into the
  next stage's call, so intermediate results stay with Ray (the object store, or the owner's
  in-process store for small values) and never come back through the caller's code; only the
  last stage's results are awaited. Same results as ``Pipeline.process`` for pure stages; the
  stages of different chunks may overlap in time (legacy finishes a stage for all items before
  the next starts).
- ``run_task``: one zero-argument task function, remotely.

Task functions travel by reference (``module:qualname``) when :func:`task_reference` accepts
them, else as the function object (cloudpickle, put into the object store once per call).

Errors, translated at this boundary:

- an exception raised by the task function reaches the caller with its own type and message
  (Ray's ``RayTaskError`` is unwrapped to its ``cause``; the remote traceback is attached as a
  note), and beside it the indexes in the call's input of the items that raised
  (:func:`adapters.item_errors.failed_items`). One that cannot cross (not picklable, or a
  ``BaseException`` such as ``SystemExit``) arrives as :class:`~ground.errors.RemoteTaskError`;
- a dead worker process is re-run by Ray up to ``CUTOVER_RAY_MAX_RETRIES`` times; past that,
  and for every other Ray failure (node died, out of memory, object lost),
  :class:`~ground.errors.EngineError`; Ray unreachable at start:
  :class:`~ground.errors.EngineUnavailableError` (nothing sent, safe to fall back);
- ``CallOptions.timeout_s`` (else ``CUTOVER_RAY_RESULT_TIMEOUT_S``, 360 s): a remote task
  (batch, pipeline chunk or task) without a result that long after it was submitted raises
  :class:`~ground.errors.EngineTimeoutError`; the work is not re-run elsewhere (it may still
  finish on the cluster). There is always a deadline: with no node able to run the work (its
  only CPU node died), Ray itself would wait for a new node forever.

Retries of exceptions that ``CallOptions.retry`` marks retryable are made **here, by the
caller**, not by Ray (``retry_exceptions`` matches classes, our policy matches names, and Ray's
retry would re-run immediately): the failed batch is resubmitted after an exponential backoff
with full jitter, up to ``max_retries`` times. The batch keeps its place in the window while
it waits, so ``max_concurrent`` still bounds the call, and no worker sits idle in a sleep.
A pipeline chunk is re-run through all its stages (stages must be idempotent, as every
retried task). Other exceptions are never retried.

As on the Celery route, the first failure ends the call: batches not yet submitted are not
submitted (legacy would still run them), batches in flight finish on the cluster unobserved.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import math
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from adapters import item_errors, timing
from adapters.base import (
    DEFAULT_OPTIONS,
    CallOptions,
    EngineHealth,
    TaskFunc,
    ZeroArgTask,
)
from adapters.ray import runtime
from adapters.ray.remote import RemoteFunctions, pack, remote_functions, unpack, warm_up_worker
from adapters.ray.runtime import RaySettings
from adapters.task_refs import allowed_task_modules, task_reference
from ground.errors import (
    CutoverError,
    EngineError,
    EngineTimeoutError,
    NotPortableError,
    RemoteTaskError,
)
from ground.logs import get_logger
from legacy.batching import split_into_batches, validate_batch_arguments

PIPELINE_CHUNKS_PER_CPU = 2
"""A pipeline is cut into about this many chunks per cluster CPU, all in flight at once."""

WARM_UP_TASKS_MAX = 8
"""``start()`` runs one warm-up task per CPU of the cluster, at most this many."""

WARM_UP_TASK_S = 0.05
"""How long each warm-up task holds its worker: long enough that Ray spreads them out."""

WARM_UP_TIMEOUT_S = 10.0
"""The longest a start waits for its warm-up (measured: ~1-2 s on a cold local instance).
A cluster whose CPU nodes are all gone would otherwise hold the first call for the whole
connect timeout before the call's own deadline even began."""

log = get_logger("cutover.ray.engine", engine="ray")

_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
"""Ray colours the task name in its error text; notes and logs get plain text."""


class _StartInterrupted(Exception):
    """The start other calls were waiting for was cancelled; they start again."""


def task_name(kind: str, options: CallOptions) -> str:
    """The name a batch task shows in the Ray dashboard and ``ray list tasks``:
    ``cutover.run_batch[billing]`` says which production worker it serves (as Celery's do)."""
    return f"cutover.{kind}[{options.worker_id}]"


class RayEngine:
    """The Ray implementation of :class:`adapters.base.ExecutionEngine`."""

    name = "ray"

    def __init__(self, settings: RaySettings | None = None) -> None:
        """``settings`` default to :meth:`RaySettings.from_env`, read on first use."""
        self._settings = settings
        self._info: runtime.RuntimeInfo | None = None
        self._remote: RemoteFunctions | None = None
        # The start under way, if any: calls from any loop or thread wait for it.
        self._start_lock = threading.Lock()
        self._starting: concurrent.futures.Future[None] | None = None

    @property
    def settings(self) -> RaySettings:
        """The settings in use (read from the environment on first use)."""
        if self._settings is None:
            self._settings = RaySettings.from_env()
        return self._settings

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Initialize Ray (or reuse the initialized one) off the event loop, and warm its
        workers. Idempotent; calls that arrive during a start wait for it.

        Why warm: a fresh Ray worker takes about a second over its first task (importing our
        runtime, receiving the function). Counted inside the first calls, that second queued
        the first hundred shadow candidates of a worker serving 20 calls a second behind each
        other, and their p95 failed a readiness verdict that the warm engine passes.
        """
        while not (self._info is not None and runtime.is_up()):
            with self._start_lock:
                pending = self._starting
                owner = pending is None
                if pending is None:
                    pending = self._starting = concurrent.futures.Future()
            if owner:
                await self._start_as_owner(pending)
                return
            try:
                await asyncio.shield(asyncio.wrap_future(pending))
                return
            except _StartInterrupted:
                continue  # its owner was cancelled: start again, as owner if first

    async def _start_as_owner(self, pending: concurrent.futures.Future[None]) -> None:
        try:
            info = await runtime.acquire(self, self.settings)
            remote = remote_functions(self.settings.max_retries, self.settings.batch_cpus)
            await self._warm_up(remote, info.cpus)
            self._remote, self._info = remote, info
            log.info("engine_started", mode=info.mode, address=info.address)
        except Exception as exc:
            pending.set_exception(exc)
            raise
        except BaseException:
            pending.set_exception(_StartInterrupted())
            raise
        else:
            pending.set_result(None)
        finally:
            with self._start_lock:
                self._starting = None

    async def _warm_up(self, remote: RemoteFunctions, cpus: float) -> None:
        """One short task per worker slot, so the first real batches find warm workers.

        A warm-up that fails or is slow is logged and ignored: the engine works cold too.
        """
        count = max(1, min(WARM_UP_TASKS_MAX, int(cpus)))
        warm_batch = pack([WARM_UP_TASK_S])
        refs = [remote.batch.remote(warm_up_worker, (), warm_batch) for _ in range(count)]
        try:
            async with asyncio.timeout(min(WARM_UP_TIMEOUT_S, self.settings.connect_timeout_s)):
                await asyncio.gather(*refs)
        except Exception as exc:  # noqa: BLE001 - the warm-up is an optimisation, never fatal
            log.warning("warm_up_failed", error=f"{type(exc).__name__}: {exc}")

    async def close(self) -> None:
        """Stop using Ray: a local instance this process started is shut down when no engine
        uses it any more, a cluster is only disconnected, a Ray started by others is left up.
        """
        if self._info is None:
            return
        self._info = None
        await runtime.release(self)

    async def health(self) -> EngineHealth:
        """Ray reachable, with the cluster's nodes, CPUs and object store in ``detail``."""
        try:
            await self.start()
            summary = await runtime.run_blocking(runtime.cluster_summary)
        except CutoverError as exc:
            return EngineHealth(self.name, healthy=False, detail=str(exc), workers=0)
        except Exception as exc:  # noqa: BLE001 - a health check reports Ray's errors
            log.warning("health_check_failed", error=str(exc))
            return EngineHealth(self.name, healthy=False, detail=f"{type(exc).__name__}: {exc}")
        info = self._info
        where = f"Ray ({info.mode}, {info.address})" if info is not None else "Ray"
        detail = (
            f"{where}: {summary['nodes']} node(s), "
            f"{summary['cpus_available']:g}/{summary['cpus']:g} CPUs free, object store "
            f"{summary['object_store_available_mb']:.0f}/{summary['object_store_mb']:.0f} MiB free"
        )
        healthy = summary["nodes"] > 0 and summary["cpus"] > 0
        return EngineHealth(self.name, healthy=healthy, detail=detail, workers=summary["nodes"])

    # --- work --------------------------------------------------------------------------

    async def map_batches(
        self,
        items: Sequence[Any],
        task_func: TaskFunc,
        batch_size: int,
        max_concurrent: int,
        options: CallOptions = DEFAULT_OPTIONS,
    ) -> list[Any]:
        """One remote task per batch, at most ``max_concurrent`` in flight; results in order."""
        validate_batch_arguments(batch_size, max_concurrent)
        if not items:
            return []
        remote = await self._started()
        task, allowed = self._ship(task_func)
        batches = [pack(list(batch)) for batch in split_into_batches(items, batch_size)]
        batch_fn = remote.timed_batch.options(name=task_name("run_batch", options))

        def submit(index: int) -> Any:
            return batch_fn.remote(task, allowed, batches[index])

        results = await self._run_window(
            submit, len(batches), max_concurrent, options, timed=True, unit_size=batch_size
        )
        return [value for batch_results in results for value in batch_results]

    async def run_pipeline(
        self,
        items: Sequence[Any],
        stages: Sequence[TaskFunc],
        options: CallOptions = DEFAULT_OPTIONS,
    ) -> list[Any]:
        """Each chunk of items through a chain of stage tasks; only the last output returns."""
        current = list(items)
        if not current or not stages:
            return current
        remote = await self._started()
        shipped = [self._ship(stage) for stage in stages]
        cpus = self._info.cpus if self._info is not None else 1.0
        size = max(1, math.ceil(len(current) / (PIPELINE_CHUNKS_PER_CPU * cpus)))
        chunks = [pack(current[start : start + size]) for start in range(0, len(current), size)]
        stage_fn = remote.batch.options(name=task_name("run_stage", options))

        def submit(index: int) -> Any:
            output: Any = chunks[index]
            for task, allowed in shipped:
                output = stage_fn.remote(task, allowed, output)  # the previous ObjectRef
            return output

        results = await self._run_window(submit, len(chunks), len(chunks), options, unit_size=size)
        return [value for chunk_results in results for value in chunk_results]

    async def run_task(self, task: ZeroArgTask, options: CallOptions = DEFAULT_OPTIONS) -> Any:
        """Run one zero-argument task function remotely and return its result."""
        remote = await self._started()
        spec, allowed = self._ship(task)
        task_fn = remote.task.options(name=task_name("run_task", options))
        return await self._run_remote(lambda: task_fn.remote(spec, allowed), options)

    # --- internals ---------------------------------------------------------------------

    async def _started(self) -> RemoteFunctions:
        await self.start()
        assert self._remote is not None  # set by start()
        return self._remote

    def _ship(self, func: Any) -> tuple[str | Any, tuple[str, ...]]:
        """``func`` as it travels: its reference when portable, else the object, put once.

        The second part is the allow-list the reference was checked with (``()`` for an
        object, which needs none). Ray hands a put object to the worker as the object itself.
        """
        try:
            return task_reference(func), allowed_task_modules()
        except NotPortableError:
            import ray

            return ray.put(func), ()

    async def _run_window(
        self,
        submit: Callable[[int], Any],
        count: int,
        window: int,
        options: CallOptions,
        *,
        timed: bool = False,
        unit_size: int = 0,
    ) -> list[Any]:
        """``count`` remote units, at most ``window`` in flight, taken in order; results in order.

        ``window`` lanes each take the next unsubmitted index, submit it, await it (retrying
        as the policy says) and take the next. The first failure cancels the other lanes.
        ``timed``: the units return ``(results, execution_s)`` (``execute_batch_timed``).
        ``unit_size``: items per unit, so that the failing items a unit's exception names
        (within the unit) become indexes in the call (:mod:`adapters.item_errors`).
        """
        results: list[Any] = [None] * count
        indices = iter(range(count))

        async def lane() -> None:
            for index in indices:
                try:
                    results[index] = await self._run_remote(
                        functools.partial(submit, index), options, timed=timed
                    )
                except Exception as exc:
                    item_errors.shift(exc, index * unit_size)
                    raise

        lanes = [asyncio.ensure_future(lane()) for _ in range(min(window, count))]
        try:
            await asyncio.gather(*lanes)
        except BaseException:
            for pending in lanes:
                pending.cancel()
            await asyncio.gather(*lanes, return_exceptions=True)
            raise
        return results

    async def _run_remote(
        self, submit: Callable[[], Any], options: CallOptions, *, timed: bool = False
    ) -> Any:
        """Submit, await the ``ObjectRef`` on this loop, retry retryable task exceptions.

        ``timed``: the payload is ``(value, execution_s)``; the value is returned and the
        submit -> result time of the attempt that succeeded is reported to
        :mod:`adapters.timing` beside the worker's execution time.
        """
        import ray.exceptions as ray_errors

        policy = options.retry
        timeout_s = options.timeout_s or self.settings.result_timeout_s
        attempt = 0
        while True:
            submitted = time.perf_counter()
            ref = submit()
            timeout = asyncio.timeout(timeout_s)
            try:
                async with timeout:
                    payload = await ref
            except ray_errors.RayTaskError as error:
                exc = _task_exception(error)
            except ray_errors.RayError as error:
                raise _engine_error(error, options) from error
            except TimeoutError:
                if not timeout.expired():
                    raise
                log.warning(
                    "result_timeout",
                    worker=options.worker_id,
                    call_id=options.call_id,
                    timeout_s=timeout_s,
                )
                raise EngineTimeoutError(
                    f"no result from Ray for a task of call {options.call_id or '?'} within "
                    f"{timeout_s:g}s; it was not re-run elsewhere (it may still finish on the "
                    "cluster). Does the cluster have a live node with free CPUs (ray status)?"
                ) from None
            else:
                if not timed:
                    return unpack(payload)
                value, execution_s = unpack(payload)
                total_s = time.perf_counter() - submitted
                timing.report(self.name, total_s, timing.worker_execution_s(execution_s))
                return value
            if (
                isinstance(exc, (RemoteTaskError, EngineError))
                or attempt >= policy.max_retries
                or not policy.is_retryable(exc)
            ):
                raise exc
            delay = policy.delay(attempt)
            attempt += 1
            log.info(
                "batch_retry",
                worker=options.worker_id,
                call_id=options.call_id,
                attempt=attempt,
                max_retries=policy.max_retries,
                countdown_s=round(delay, 3),
                exc_type=type(exc).__qualname__,
            )
            await asyncio.sleep(delay)


def _task_exception(error: Any) -> Exception:
    """The exception the task function raised, from Ray's ``RayTaskError`` around it.

    ``type()`` of the result is the original class: Ray's ``as_instanceof_cause()`` dual
    class (``RayTaskError(ValueError)``) is *not* what the caller sees.
    """
    import ray.exceptions as ray_errors

    cause = vars(error).get("cause")
    remote_traceback = _ANSI_ESCAPE.sub("", str(vars(error).get("traceback_str") or error))
    if isinstance(cause, ray_errors.RayError) and type(cause) is not ray_errors.RayError:
        # A system error inside the task (e.g. its arguments could not be unpickled).
        return _engine_error(cause, DEFAULT_OPTIONS)
    if not isinstance(cause, Exception) or type(cause) is ray_errors.RayError:
        # Not an Exception (SystemExit...), or Ray replaced an unpicklable one by a RayError.
        type_name = type(cause).__qualname__ if cause is not None else "unknown"
        return RemoteTaskError(type_name, str(cause), remote_traceback)
    cause.add_note(f"Raised in a Ray worker; remote traceback:\n{remote_traceback}")
    return cause


def _engine_error(error: Any, options: CallOptions) -> EngineError:
    """A Ray failure of its own (not the task's) as an :class:`EngineError`."""
    import ray.exceptions as ray_errors

    first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
    kind = type(error).__name__
    call = options.call_id or "?"
    if isinstance(error, ray_errors.WorkerCrashedError):
        message = (
            f"a Ray worker process died while running a task of call {call}, and Ray's "
            "retries for dead workers (CUTOVER_RAY_MAX_RETRIES) were used up"
        )
    elif isinstance(error, ray_errors.OutOfMemoryError):
        message = f"Ray killed the worker running a task of call {call} for lack of memory"
    elif isinstance(error, ray_errors.RaySystemError):
        message = (
            f"Ray could not run a task of call {call} ({first_line}); can the workers import "
            "the task's module?"
        )
    else:
        message = f"Ray failed a task of call {call} with {kind}: {first_line}"
    log.warning("engine_error", worker=options.worker_id, call_id=options.call_id, ray_error=kind)
    return EngineError(message)


def raw_batch_runner(
    task_func: TaskFunc, items: Sequence[Any], batch_size: int, window: int
) -> Callable[[], Any]:
    """The baseline the benchmarks compare the engine with: the same batch remote tasks
    (same function, same options, same reference), ``window`` in flight, collected with
    plain blocking ``ray.wait`` / ``ray.get``. Ray must be initialized; returns an async
    callable (which blocks its event loop while it runs, as raw ``ray.get`` does).
    """
    import ray

    settings = RaySettings.from_env()
    remote = remote_functions(settings.max_retries, settings.batch_cpus).batch
    reference = task_reference(task_func)
    allowed = allowed_task_modules()
    batches = [pack(list(batch)) for batch in split_into_batches(items, batch_size)]

    async def run() -> list[Any]:
        results: list[Any] = [None] * len(batches)
        in_flight: dict[Any, int] = {}
        next_index = 0
        while next_index < len(batches) or in_flight:
            while next_index < len(batches) and len(in_flight) < window:
                in_flight[remote.remote(reference, allowed, batches[next_index])] = next_index
                next_index += 1
            ready, _ = ray.wait(list(in_flight), num_returns=1)
            for ref in ready:
                results[in_flight.pop(ref)] = unpack(ray.get(ref))
        return [value for batch in results for value in batch]

    return run


__all__ = ["RayEngine", "RaySettings", "raw_batch_runner", "task_name"]
