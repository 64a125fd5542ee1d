"""Which items of a batched call raised: metadata beside an exception, never inside it.

A remote engine must hand the caller the task's own exception, same type, same message (the
equivalence with legacy). The shadow record still wants to say *which* items raised. So the
indexes ride on the exception instance as one private attribute, :data:`ATTRIBUTE`, which no
comparison, ``str()`` or ``repr()`` sees, and which the remote exception codec carries in a
key of its own (its dunder name keeps it out of the carried instance attributes).

- The worker side (:func:`run_marked`, used by both remote engines' ``gather_or_cancel``)
  marks the raised exception with the indexes *within the batch* of every item that had
  raised by the time the batch stopped (the one re-raised first, then the others by index);
- the caller's engine adds the batch's offset once (:func:`shift`), so what the caller and
  the shadow record read (:func:`failed_items`) are indexes in the call's input.

The legacy engine marks nothing: its hot path stays exactly the legacy code, and what it
raises reads ``()`` (unknown). Only when a batched map is shadowed does the shim run its
legacy side (primary or shadow) on :class:`adapters.legacy.marked.MarkedLegacyEngine`, which
names the item whose exception propagated.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Any, Final

ATTRIBUTE: Final = "__cutover_failed_items__"
"""The instance attribute holding the failing indexes (a tuple of ints)."""
MAX_FAILED_ITEMS: Final = 20
"""At most this many indexes are kept per exception (a batch of 10,000 may all fail)."""


def failed_items(exc: BaseException | None) -> tuple[int, ...]:
    """The indexes of the items ``exc`` was raised for; ``()`` when unknown."""
    if exc is None:
        return ()
    value = vars(exc).get(ATTRIBUTE) if hasattr(exc, "__dict__") else None
    if not isinstance(value, tuple):
        return ()
    return tuple(index for index in value if type(index) is int and index >= 0)


def mark(exc: BaseException, indexes: Iterable[int]) -> None:
    """Record ``indexes`` on ``exc`` (deduplicated, order kept, capped); never raises."""
    kept: list[int] = []
    for index in indexes:
        if type(index) is int and index >= 0 and index not in kept:
            kept.append(index)
        if len(kept) >= MAX_FAILED_ITEMS:
            break
    if not kept:
        return
    try:
        vars(exc)[ATTRIBUTE] = tuple(kept)
    except TypeError:  # no instance dict (a C extension's exception): stays unknown
        return


def shift(exc: BaseException, offset: int) -> None:
    """Turn indexes within a batch into indexes within the call (the batch starts at
    ``offset``). Called once, by the caller's engine, on the exception it rebuilt."""
    indexes = failed_items(exc)
    if indexes and offset:
        mark(exc, (index + offset for index in indexes))


def failing_indexes(tasks: Sequence[asyncio.Future[Any]], raised: BaseException) -> list[int]:
    """The indexes of ``tasks`` that ended with an exception: ``raised``'s first."""
    failed = [
        index
        for index, task in enumerate(tasks)
        if task.done() and not task.cancelled() and task.exception() is not None
    ]
    failed.sort(key=lambda index: (tasks[index].exception() is not raised, index))
    return failed


async def gather_marked(tasks: Sequence[asyncio.Future[Any]]) -> list[Any]:
    """``gather`` the tasks; on the first exception mark it with the failing indexes,
    cancel the others (awaited, so none leaks into the next batch) and re-raise it."""
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException as exc:
        if isinstance(exc, Exception):
            mark(exc, failing_indexes(tasks, exc))
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


__all__ = [
    "ATTRIBUTE",
    "MAX_FAILED_ITEMS",
    "failed_items",
    "failing_indexes",
    "gather_marked",
    "mark",
    "shift",
]
