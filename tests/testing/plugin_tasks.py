"""Task functions of the pytest plugin's user tests: module-level, so every engine runs them.

The user test files that ``pytester`` writes live in a temporary directory a Celery worker
cannot import; these live under ``tests`` (the test suite's task allow-list).
"""

from __future__ import annotations

import os

from compat import shadow_safe


@shadow_safe
async def double(item: int) -> int:
    """The same on every engine."""
    return item * 2


@shadow_safe
async def where(item: int) -> dict[str, int]:
    """The item and the process that ran it: differs between the caller and any worker."""
    return {"item": item, "pid": os.getpid()}


async def unmarked_double(item: int) -> int:
    """The same on every engine, but not declared shadow-safe."""
    return item * 2


@shadow_safe
async def fails_on_odd(item: int) -> int:
    """Raises the same error on every engine for an odd item."""
    if item % 2:
        raise ValueError(f"odd item {item}")
    return item
