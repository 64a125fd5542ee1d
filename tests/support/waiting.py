"""Wait on a condition, never on a guessed sleep: fault tests strike when something happened."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

POLL_S = 0.02


async def until(predicate: Callable[[], object], timeout_s: float, what: str) -> None:
    """Return as soon as ``predicate()`` is true; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout_s:g}s waiting for {what}")
        await asyncio.sleep(POLL_S)


def until_sync(predicate: Callable[[], object], timeout_s: float, what: str) -> None:
    """:func:`until` for code that has no event loop."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout_s:g}s waiting for {what}")
        time.sleep(POLL_S)


__all__ = ["until", "until_sync"]
