"""A dedicated thread with its own event loop, where shadow candidates on remote engines run.

A candidate on Celery or Ray spends client-side CPU (encoding items, publishing, submitting
Ray tasks, decoding results). On the caller's loop that time is stolen from the caller's own
calls: measured, a 100 % Ray shadow made the primary of I/O-bound calls 2.1x slower. Here the
candidate's client work runs beside the caller's loop instead of on it. Engines serve several
loops (the Celery engine keeps one result listener per loop; Ray ``ObjectRef``\\ s are awaited
on any loop), so the candidate uses the same process-wide engines.

Candidates on the *legacy* engine still run on the caller's loop: the user's coroutines may
hold loop-bound resources (a client session created on that loop) that another loop cannot
use.

The thread is started on first use and again after a fork (a child never uses its parent's
loop); it is a daemon, stopped at interpreter exit.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from ground.logs import get_logger

T = TypeVar("T")

THREAD_NAME = "cutover-shadow-loop"
STOP_TIMEOUT_S = 2.0

log = get_logger("cutover.shadow")


class BackgroundLoop:
    """One event loop on one daemon thread, started lazily (and again after a fork)."""

    def __init__(self, name: str = THREAD_NAME) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid: int | None = None

    @property
    def running(self) -> bool:
        """Whether this process's thread is up."""
        return (
            self._pid == os.getpid()
            and self._thread is not None
            and self._thread.is_alive()
            and self._loop is not None
        )

    def loop(self) -> asyncio.AbstractEventLoop:
        """This process's background loop, started on first use."""
        if self.running:
            assert self._loop is not None
            return self._loop
        with self._lock:
            if not self.running:
                self._start()
            assert self._loop is not None
            return self._loop

    def _start(self) -> None:
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            try:
                loop.run_forever()
            finally:
                _cancel_pending(loop)
                loop.close()

        thread = threading.Thread(target=serve, name=self._name, daemon=True)
        thread.start()
        ready.wait()
        self._loop, self._thread, self._pid = loop, thread, os.getpid()

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> asyncio.Future[T]:
        """Run ``coroutine`` on the background loop; await the result from the caller's loop.

        Cancelling the returned future cancels the coroutine on the background loop.
        """
        concurrent = asyncio.run_coroutine_threadsafe(coroutine, self.loop())
        return asyncio.wrap_future(concurrent)

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Cancel what still runs, stop the loop and join the thread (exit, tests)."""
        with self._lock:
            if not self.running:
                return
            loop, thread = self._loop, self._thread
            assert loop is not None
            assert thread is not None
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout_s)
            if thread.is_alive():
                log.warning("shadow_loop_stop_timeout", timeout_s=timeout_s)
            self._loop = self._thread = self._pid = None


def _cancel_pending(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel the loop's remaining tasks and let them finish their clean-up."""
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())


_background = BackgroundLoop()


def get_background_loop() -> BackgroundLoop:
    """The process-wide shadow loop."""
    return _background


atexit.register(_background.stop)

__all__ = ["BackgroundLoop", "get_background_loop"]
