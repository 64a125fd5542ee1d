"""One persistent asyncio event loop per worker process (and thread).

Celery runs tasks synchronously; the legacy API's task functions are coroutines. Creating a
loop per task (``asyncio.run``) costs a loop set-up and tear-down per batch and breaks
clients that cache a connection on "their" loop. So each process keeps one loop and runs
every batch on it. The loop is created lazily and re-created after a fork: a prefork child
must never use the loop object it inherited from its parent.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Awaitable
from typing import Any, TypeVar

from adapters import item_errors

T = TypeVar("T")

_local = threading.local()


def get_loop() -> asyncio.AbstractEventLoop:
    """This process's (and thread's) loop, created on first use and after a fork."""
    loop: asyncio.AbstractEventLoop | None = getattr(_local, "loop", None)
    if loop is None or loop.is_closed() or getattr(_local, "pid", None) != os.getpid():
        loop = asyncio.new_event_loop()
        _local.loop = loop
        _local.pid = os.getpid()
    return loop


def reset_after_fork() -> None:
    """Forget the parent's loop (called from Celery's ``worker_process_init`` signal)."""
    _local.loop = None
    _local.pid = None


def run(awaitable: Awaitable[T]) -> T:
    """Run ``awaitable`` to completion on this process's persistent loop."""
    return get_loop().run_until_complete(_as_coroutine(awaitable))


async def _as_coroutine(awaitable: Awaitable[T]) -> T:
    return await awaitable


async def gather_or_cancel(*coroutines: Awaitable[Any]) -> list[Any]:
    """``gather`` the coroutines; on the first exception cancel the others and re-raise it.

    On the legacy route the siblings of a failed item keep running on the caller's loop.
    In a worker they would leak into the *next* batch run on the same loop, so they are
    cancelled and awaited before the exception leaves. The exception leaves marked with the
    indexes of the items that raised (:mod:`adapters.item_errors`), its type and message
    untouched.
    """
    tasks = [asyncio.ensure_future(coroutine) for coroutine in coroutines]
    return await item_errors.gather_marked(tasks)


def close() -> None:
    """Close this thread's loop (worker shutdown)."""
    loop: asyncio.AbstractEventLoop | None = getattr(_local, "loop", None)
    if loop is not None and not loop.is_closed() and getattr(_local, "pid", None) == os.getpid():
        loop.close()
    reset_after_fork()


__all__ = ["close", "gather_or_cancel", "get_loop", "reset_after_fork", "run"]
