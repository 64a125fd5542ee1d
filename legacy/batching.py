"""The batched concurrent map behind ``AsyncWorkerOptimizer.optimize_batch_processing``.

It is a module-level function, not a method, so that the compat shim, the asyncio adapter and
the benchmarks can all run exactly the same loop the legacy module ran: it is the "before" every
route is compared against.

Semantics (identical to the original, apart from argument validation):

- ``items`` is cut into consecutive batches of ``batch_size`` (the last one may be shorter);
- every batch is started at once, but a semaphore of ``max_concurrent`` lets at most that many
  batches run at a time; waiting batches get a slot in batch order (the semaphore is FIFO);
- inside a batch every item runs concurrently through ``asyncio.gather`` (no
  ``return_exceptions``);
- the results are flattened in input order;
- the first exception raised by ``task_func`` propagates unchanged (same object). As in the
  original, nothing is cancelled: batches that already started finish in the background and
  batches still waiting for the semaphore still run. A caller that sees the exception must not
  assume that the other items were skipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from ground.errors import InvalidArgumentError

T = TypeVar("T")
R = TypeVar("R")

#: Why each argument must be at least 1, quoted in the error message.
_WHY_POSITIVE = {
    "batch_size": "a non-positive batch size would drop every item",
    "max_concurrent": "with no slot for a batch nothing could ever start",
}


def _check_positive_int(name: str, value: object) -> None:
    """Refuse anything but an ``int`` (not a ``bool``) of at least 1, naming the argument."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentError(
            f"{name} must be an int >= 1, got {value!r} of type {type(value).__name__}"
        )
    if value < 1:
        raise InvalidArgumentError(
            f"{name} must be an int >= 1, got {value!r}: {_WHY_POSITIVE[name]}"
        )


def validate_batch_arguments(batch_size: object, max_concurrent: object) -> None:
    """Check ``batch_size`` and ``max_concurrent`` before any work starts.

    Both must be ``int`` (``bool`` is refused although it is an ``int`` subclass) and at least 1;
    otherwise :class:`~ground.errors.InvalidArgumentError` (a ``ValueError`` and a
    ``TypeError``) names the argument, the value and what is allowed.

    Why this exists: the original did not check. ``batch_size=0`` raised a bare ``ValueError``
    from ``range()``, a negative ``batch_size`` silently returned ``[]`` (every item dropped),
    a float raised a ``TypeError`` from ``range()``, ``max_concurrent=0`` hung forever on a
    semaphore that never opens, and a negative ``max_concurrent`` raised from ``Semaphore``.
    """
    _check_positive_int("batch_size", batch_size)
    _check_positive_int("max_concurrent", max_concurrent)


def split_into_batches(items: Sequence[T], batch_size: int) -> list[Sequence[T]]:
    """Cut ``items`` into consecutive slices of ``batch_size``; the last may be shorter."""
    return [items[start : start + batch_size] for start in range(0, len(items), batch_size)]


async def run_batched(
    items: Sequence[T],
    task_func: Callable[[T], Awaitable[R]],
    batch_size: int,
    max_concurrent: int,
) -> list[R]:
    """Return ``[await task_func(x) for x in items]``, run in bounded concurrent batches.

    See the module docstring for the exact concurrency and error semantics. Arguments are
    validated first (:func:`validate_batch_arguments`), so a bad call runs no task at all;
    empty ``items`` then give ``[]``.
    """
    validate_batch_arguments(batch_size, max_concurrent)
    if not items:
        return []
    semaphore = asyncio.Semaphore(max_concurrent)

    async def run_one_batch(batch: Sequence[T]) -> list[R]:
        async with semaphore:
            return await asyncio.gather(*(task_func(item) for item in batch))

    per_batch = await asyncio.gather(
        *(run_one_batch(batch) for batch in split_into_batches(items, batch_size))
    )
    return [result for batch_results in per_batch for result in batch_results]


__all__ = ["run_batched", "split_into_batches", "validate_batch_arguments"]
