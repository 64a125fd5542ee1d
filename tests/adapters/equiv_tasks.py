"""Portable task functions for the engine equivalence suite.

Module-level async functions in an allow-listed module (``CUTOVER_TASK_MODULES=tests``), so
every engine can find them by reference in its own worker processes.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any


class CustomTaskError(Exception):
    """An exception with its own ``__init__`` signature, as user code defines them."""

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(code, detail)
        self.code = code
        self.detail = detail

    def __str__(self) -> str:
        return f"[{self.code}] {self.detail}"


async def identity(item: Any) -> Any:
    """Return the item: the result must come back equal and of the same type."""
    return item


async def describe(item: Any) -> tuple[Any, str]:
    """The item and its type name, as a tuple (tuples must stay tuples)."""
    await asyncio.sleep(0)
    return (item, type(item).__name__)


async def double(item: int) -> int:
    """Twice the item."""
    return item * 2


async def add_one(item: int) -> int:
    """The item plus one (a pipeline stage)."""
    return item + 1


async def square(item: int) -> int:
    """The item squared (a pipeline stage)."""
    return item * item


async def to_text(item: int) -> str:
    """The item as text (a pipeline stage that changes the type)."""
    return f"#{item}"


async def fail_on_negative(item: int) -> int:
    """Raise ``ValueError`` for a negative item, else return it."""
    if item < 0:
        raise ValueError(f"negative item: {item}")
    return item


async def key_error_on_negative(item: int) -> int:
    """Raise ``KeyError`` (whose str() is quoted) for a negative item."""
    if item < 0:
        raise KeyError(f"k{item}")
    return item


async def custom_error_on_negative(item: int) -> int:
    """Raise :class:`CustomTaskError` for a negative item."""
    if item < 0:
        raise CustomTaskError(422, f"item {item} refused")
    return item


async def timed(item: tuple[int, float]) -> tuple[int, float, float]:
    """Sleep ``item[1]`` seconds; return ``(batch_tag, start, end)`` wall-clock times."""
    tag, seconds = item
    start = time.time()
    await asyncio.sleep(seconds)
    return (tag, start, time.time())


async def which_process(item: int) -> int:
    """The id of the process that ran the item (differs between engines)."""
    return os.getpid()


async def answer() -> int:
    """A zero-argument task for the scheduler route."""
    await asyncio.sleep(0)
    return 42


async def failing_zero_arg() -> None:
    """A zero-argument task that fails."""
    raise RuntimeError("scheduled task failed")


async def handle_batch(items: list[int]) -> list[int]:
    """An ``AsyncBatchProcessor`` handler: one result per item."""
    return [item * 2 for item in items]
