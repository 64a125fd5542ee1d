"""What runs inside a Ray worker process.

Ray calls a remote function synchronously in its worker process; it does not run an
``async def`` remote function as a plain task. So the remote functions here take the legacy
``task_func`` and run its coroutines on the worker process's **persistent event loop**: created
on first use, reused by every later task of that process (never ``asyncio.run`` per task, which
costs a loop per batch and breaks clients that cache a connection on "their" loop).

The task function arrives in one of two forms:

- a reference ``module:qualname``, when :func:`adapters.task_refs.task_reference` accepted it
  on the caller's side: resolved here with :func:`adapters.task_refs.resolve_task` against the
  allow-list the caller checked it with (carried in the call, so a cluster whose workers were
  started without ``CUTOVER_TASK_MODULES`` resolves the same names);
- the function object itself, cloudpickled by Ray, when it has no portable reference (a
  closure, a lambda, a function of ``__main__``). The allow-list is not a security boundary
  on Ray: whoever can submit to a Ray cluster can run any code there by design.

Items and results cross Ray as one in-band pickle per batch (:func:`pack`): Ray's own
serialization moves bytes-like objects out of band and hands them back as ``bytes``, so a
``bytearray`` item or result would change type (legacy keeps it).

A batch's items run concurrently (``gather``). On the first exception the siblings are
cancelled and awaited before the exception leaves: on the legacy route they keep running on the
caller's loop, here they would leak into the next batch run on this loop.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from adapters import item_errors
from adapters.task_refs import resolve_task

T = TypeVar("T")

TaskSpec = str | Callable[..., Awaitable[Any]]
"""A task function as it travels: its reference, or the function object."""

_local = threading.local()


def worker_loop() -> asyncio.AbstractEventLoop:
    """This worker process's (and thread's) event loop, created on first use."""
    loop: asyncio.AbstractEventLoop | None = getattr(_local, "loop", None)
    if loop is None or loop.is_closed():
        loop = asyncio.new_event_loop()
        _local.loop = loop
    return loop


def run_on_worker_loop(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to completion on the persistent loop.

    If the run is interrupted from outside (``ray.cancel`` raises ``KeyboardInterrupt`` in the
    worker), the loop may hold half-run tasks: it is discarded and the next task gets a new one.
    """
    loop = worker_loop()
    try:
        return loop.run_until_complete(coroutine)
    except (KeyboardInterrupt, SystemExit):
        _discard_loop(loop)
        raise


def _discard_loop(loop: asyncio.AbstractEventLoop) -> None:
    _local.loop = None
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.close()


async def gather_or_cancel(
    func: Callable[[Any], Awaitable[Any]], items: Sequence[Any]
) -> list[Any]:
    """``[await func(x) for x in items]`` run concurrently; the first exception cancels the rest.

    The exception leaves marked with the indexes (in this batch) of the items that raised
    (:mod:`adapters.item_errors`), its type and message untouched.
    """
    tasks: list[asyncio.Future[Any]] = []
    try:
        for item in items:
            tasks.append(asyncio.ensure_future(func(item)))
    except Exception as exc:  # ``func`` raised before returning an awaitable
        item_errors.mark(exc, [len(tasks)])
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    return await item_errors.gather_marked(tasks)


async def _call(task: Callable[[], Awaitable[T]]) -> T:
    return await task()


def _cloudpickle() -> Any:
    """Ray's cloudpickle, imported on first use (typed ``Any``: its API is untyped)."""
    from ray import cloudpickle

    return cloudpickle


def pack(value: Any) -> bytes:
    """``value`` pickled in-band: cloudpickle (what Ray uses), no out-of-band buffers."""
    return bytes(_cloudpickle().dumps(value, protocol=5))


def unpack(payload: bytes) -> Any:
    """The value :func:`pack` pickled."""
    return _cloudpickle().loads(payload)


def task_function(task: TaskSpec, allowed: tuple[str, ...]) -> Callable[..., Awaitable[Any]]:
    """The callable a :data:`TaskSpec` stands for (a reference is resolved, allow-list first)."""
    if isinstance(task, str):
        return resolve_task(task, allowed)
    return task


async def warm_up_worker(seconds: float) -> None:
    """The engine's warm-up task: holds a worker ``seconds`` so that the next goes elsewhere.

    Shipped as a function object (no allow-list involved); running it imports this module and
    creates the worker's loop, which is what a cold worker's first batch would otherwise pay.
    """
    await asyncio.sleep(seconds)


def execute_batch(task: TaskSpec, allowed: tuple[str, ...], items: bytes) -> bytes:
    """One batch (or one pipeline chunk through one stage): the packed results, in order.

    ``items`` is the packed list of items (or the previous stage's packed results).
    """
    func = task_function(task, allowed)
    return pack(run_on_worker_loop(gather_or_cancel(func, unpack(items))))


def execute_batch_timed(task: TaskSpec, allowed: tuple[str, ...], items: bytes) -> bytes:
    """:func:`execute_batch`, packed with this worker's own start -> finish time of the batch:
    ``pack((results, execution_s))``. The caller subtracts it from what it observed to get
    the queue wait, so no clock is shared between the hosts."""
    started = time.perf_counter()
    func = task_function(task, allowed)
    results = run_on_worker_loop(gather_or_cancel(func, unpack(items)))
    return pack((results, time.perf_counter() - started))


def execute_task(task: TaskSpec, allowed: tuple[str, ...]) -> bytes:
    """One zero-argument task function; its packed result."""
    return pack(run_on_worker_loop(_call(task_function(task, allowed))))


@dataclass(frozen=True, slots=True)
class RemoteFunctions:
    """The Ray remote functions one engine submits (options differ between engines)."""

    batch: Any
    """``execute_batch`` as a Ray remote function: ``.remote(task, allowed, pack(items))``."""
    task: Any
    """``execute_task`` as a Ray remote function: ``.remote(task, allowed)``."""
    timed_batch: Any = None
    """``execute_batch_timed`` as a Ray remote function (what the batched map submits; a
    pipeline's chained stages take ``batch``, whose output is the next stage's input)."""


@functools.lru_cache(maxsize=16)
def remote_functions(max_retries: int, batch_cpus: float) -> RemoteFunctions:
    """The remote functions with these options (created once, imports Ray).

    ``max_retries`` is Ray's re-run of a task whose worker *process* died; exceptions raised
    by the task are never retried by Ray (``retry_exceptions=False``): the engine decides that
    with the call's :class:`~adapters.base.RetryPolicy`.
    """
    import ray

    decorate = ray.remote(max_retries=max_retries, retry_exceptions=False, num_cpus=batch_cpus)
    return RemoteFunctions(
        batch=decorate(execute_batch),
        task=decorate(execute_task),
        timed_batch=decorate(execute_batch_timed),
    )


__all__ = [
    "RemoteFunctions",
    "TaskSpec",
    "execute_batch",
    "execute_batch_timed",
    "execute_task",
    "gather_or_cancel",
    "pack",
    "remote_functions",
    "run_on_worker_loop",
    "task_function",
    "unpack",
    "worker_loop",
]
