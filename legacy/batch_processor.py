"""Client-side micro-batching: single items in, one handler call per batch out.

Callers add items one at a time and await a future per item; the handler sees lists. A batch is
handled when ``batch_size`` items are pending (inside the ``add_item`` call that completed it)
or when ``timeout`` seconds have passed since the first item of the pending batch.

The handler is called in exactly one place, :meth:`AsyncBatchProcessor._invoke_handler`, so a
routing subclass (the compat shim) can send the batch to another engine by overriding it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from ground.errors import InvalidArgumentError

#: Takes the pending items, returns one result per item in the same order.
BatchHandler = Callable[[list[Any]], Awaitable[Iterable[Any]]]


class AsyncBatchProcessor:
    """Queue items, hand them to an async batch handler, resolve one future per item.

    Timer: the first item of a pending batch starts one timer task that sleeps ``timeout``
    seconds and then flushes whatever is pending. A flush by size cancels that timer, so the
    next item starts a fresh one. (The original left the old timer running, so it could flush
    the next batch early; the results were the same, only the batch boundaries moved.)

    Without a handler nothing is flushed: items stay pending (their futures unresolved) until a
    handler is set and a later ``add_item`` or timer flushes them, as in the original.

    ``batch_size`` is not validated: as in the original, a value <= 1 handles every item alone.
    """

    def __init__(self, batch_size: int = 10, timeout: float = 1.0) -> None:
        """Keep the flush thresholds; nothing pending, no handler, no batches yet."""
        self.batch_size = batch_size
        self.timeout = timeout
        self._batch_handler: BatchHandler | None = None
        self._pending_items: list[Any] = []
        self._pending_futures: list[asyncio.Future[Any]] = []
        self._timer: asyncio.Task[None] | None = None
        self._timer_tasks: set[asyncio.Task[None]] = set()
        self._stats = {"total_batches": 0, "total_items": 0}

    def set_handler(self, handler: BatchHandler) -> None:
        """Set the async callable that turns a list of items into a list of results."""
        self._batch_handler = handler

    async def add_item(self, item: Any) -> asyncio.Future[Any]:
        """Queue ``item`` and return a future of its result (await the future, not this).

        When this item makes the batch full, the batch is handled before this call returns;
        a handler failure is set on the futures, never raised here.
        """
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending_items.append(item)
        self._pending_futures.append(future)
        if len(self._pending_items) >= self.batch_size:
            self._cancel_timer()
            await self._flush()
        elif self._timer is None:
            self._timer = asyncio.create_task(self._flush_after_timeout())
            self._timer_tasks.add(self._timer)
            self._timer.add_done_callback(self._timer_tasks.discard)
        return future

    def _cancel_timer(self) -> None:
        """Stop the sleeping timer; once it woke up it is a flush and is never cancelled."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def _flush_after_timeout(self) -> None:
        """Sleep ``timeout`` seconds, then flush what is pending."""
        await asyncio.sleep(self.timeout)
        self._timer = None
        await self._flush()

    async def _flush(self) -> None:
        """Hand every pending item to the handler and settle their futures.

        The handler's exception is set on every future of the batch. A result that is not an
        iterable of exactly one result per item is an :class:`InvalidArgumentError` on every
        future (the original silently left the unmatched futures pending forever). Only
        batches that succeeded count in the statistics, as before.
        """
        if not self._pending_items or self._batch_handler is None:
            return
        items, futures = self._pending_items, self._pending_futures
        self._pending_items, self._pending_futures = [], []
        try:
            returned = await self._invoke_handler(items)
        # Any failure of the handler belongs to the callers awaiting the futures, not to
        # whoever happened to trigger the flush (another add_item call, or the timer task).
        except Exception as error:  # noqa: BLE001 - delivered on every future, never dropped
            _fail_all(futures, error)
            return
        except BaseException:
            for future in futures:
                future.cancel()
            raise
        results = _as_result_list(returned, len(items))
        if isinstance(results, InvalidArgumentError):
            _fail_all(futures, results)
            return
        for future, result in zip(futures, results, strict=True):
            if not future.done():
                future.set_result(result)
        self._stats["total_batches"] += 1
        self._stats["total_items"] += len(items)

    async def _invoke_handler(self, batch: list[Any]) -> Iterable[Any]:
        """Call the handler on one batch; the one place a routing subclass overrides."""
        handler = self._batch_handler
        if handler is None:  # _flush never gets here without one; this keeps mypy honest
            raise InvalidArgumentError("no batch handler: call set_handler() before flushing")
        return await handler(batch)

    def get_statistics(self) -> dict[str, Any]:
        """Handled batches and items so far, and their average size (0 before any batch)."""
        batches = self._stats["total_batches"]
        items = self._stats["total_items"]
        return {
            "total_batches": batches,
            "total_items": items,
            "average_batch_size": items / batches if batches > 0 else 0.0,
        }


def _as_result_list(returned: object, expected: int) -> list[Any] | InvalidArgumentError:
    """The handler's results as a list, or the error explaining why they cannot be used."""
    if isinstance(returned, str | bytes) or not isinstance(returned, Iterable):
        return InvalidArgumentError(
            f"batch handler returned {type(returned).__name__}: it must return a list with "
            f"one result per item ({expected} items)"
        )
    results = list(returned)
    if len(results) != expected:
        return InvalidArgumentError(
            f"batch handler returned {len(results)} results for {expected} items: it must "
            "return exactly one result per item, in order"
        )
    return results


def _fail_all(futures: Iterable[asyncio.Future[Any]], error: BaseException) -> None:
    """Set ``error`` on every future the caller has not cancelled."""
    for future in futures:
        if not future.done():
            future.set_exception(error)


__all__ = ["AsyncBatchProcessor", "BatchHandler"]
