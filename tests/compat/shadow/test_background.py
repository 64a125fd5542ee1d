"""The shadow thread's event loop: runs coroutines off the caller's loop, cancels cleanly."""

from __future__ import annotations

import asyncio
import threading

import pytest

from compat.shadow.background import THREAD_NAME, BackgroundLoop


@pytest.fixture
def background() -> BackgroundLoop:
    """A private background loop, stopped after the test."""
    loop = BackgroundLoop()
    yield loop  # type: ignore[misc]
    loop.stop()


async def test_a_submitted_coroutine_runs_on_the_background_thread(
    background: BackgroundLoop,
) -> None:
    """The result comes back to the caller's loop; the work ran on another thread and loop."""

    async def where() -> tuple[str, asyncio.AbstractEventLoop]:
        return threading.current_thread().name, asyncio.get_running_loop()

    thread_name, loop = await background.submit(where())
    assert THREAD_NAME == thread_name
    assert asyncio.get_running_loop() is not loop
    assert background.running


async def test_cancelling_the_caller_side_cancels_the_background_coroutine(
    background: BackgroundLoop,
) -> None:
    """A drained shadow (cancelled on the caller's loop) does not keep running in the thread."""
    started, cancelled = threading.Event(), threading.Event()

    async def hang() -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    future = background.submit(hang())
    assert await asyncio.to_thread(started.wait, 5)
    future.cancel()
    with pytest.raises(asyncio.CancelledError):
        await future
    assert await asyncio.to_thread(cancelled.wait, 5)


async def test_an_exception_reaches_the_awaiting_side(background: BackgroundLoop) -> None:
    """What the coroutine raises is what the caller's await raises."""

    async def fail() -> None:
        raise LookupError("nothing here")

    with pytest.raises(LookupError, match="nothing here"):
        await background.submit(fail())


async def test_stop_cancels_pending_work_and_a_later_submit_restarts_the_thread(
    background: BackgroundLoop,
) -> None:
    """``stop`` leaves no thread behind; the next ``submit`` starts a fresh one."""
    cancelled = threading.Event()

    async def hang() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def current_thread() -> threading.Thread:
        return threading.current_thread()

    background.submit(hang())
    thread = await background.submit(current_thread())
    first = background.loop()
    await asyncio.to_thread(background.stop)
    assert cancelled.is_set()
    assert not background.running
    assert not thread.is_alive()

    async def answer() -> int:
        return 42

    assert 42 == await background.submit(answer())
    assert background.loop() is not first
