"""The legacy engine, naming the item that raised: only for calls that are shadowed.

:class:`~adapters.legacy.engine.LegacyEngine` adds nothing to the legacy code path, so its
exceptions say nothing about which item raised. A shadow record wants that index, and a
shadowed call can afford one wrapper per item (the call is sampled, and its comparison
costs far more). :class:`MarkedLegacyEngine` runs the same legacy batched map over
``(index, item)`` pairs with the task function wrapped to mark its exception with the index
(:mod:`adapters.item_errors`): same batches, same concurrency, same results, the same
exception object (type, args, message) with the index beside it. Legacy keeps its siblings
running after a failure, and only the exception that propagates is seen: it names its own
item (the first to raise), never the others.

The shim uses it for the legacy side of a shadowed batched map only, as the primary whose
call is shadowed and as the shadow; every other legacy call runs the plain engine.
Pipelines and zero-argument tasks run as on the plain engine (nothing named).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from adapters import item_errors
from adapters.base import DEFAULT_OPTIONS, CallOptions, TaskFunc
from adapters.legacy.engine import LegacyEngine
from legacy.batching import run_batched


def indexed(task_func: TaskFunc) -> Callable[[tuple[int, Any]], Awaitable[Any]]:
    """``task_func`` over ``(index, item)`` pairs, marking what it raises with the index."""

    async def run(pair: tuple[int, Any]) -> Any:
        index, item = pair
        try:
            return await task_func(item)
        except Exception as exc:
            item_errors.mark(exc, (index,))
            raise

    return run


class MarkedLegacyEngine(LegacyEngine):
    """:class:`LegacyEngine` whose batched map names the failing item (shadowed calls only)."""

    async def map_batches(
        self,
        items: Sequence[Any],
        task_func: TaskFunc,
        batch_size: int,
        max_concurrent: int,
        options: CallOptions = DEFAULT_OPTIONS,
    ) -> list[Any]:
        """The legacy batched map over ``(index, item)``; same results, marked errors.

        Anything but a non-empty list or tuple runs unmarked, so that legacy's own behaviour
        with it (an empty input, a mapping it cannot slice) is kept exactly.
        """
        if not items or not isinstance(items, list | tuple):
            return await run_batched(items, task_func, batch_size, max_concurrent)
        return await run_batched(
            list(enumerate(items)), indexed(task_func), batch_size, max_concurrent
        )


MARKED_LEGACY = MarkedLegacyEngine()
"""The one instance the shim uses (stateless)."""

__all__ = ["MARKED_LEGACY", "MarkedLegacyEngine", "indexed"]
