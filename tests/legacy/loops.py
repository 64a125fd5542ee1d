"""Run one hypothesis example on its own event loop, leaving global asyncio state alone.

Hypothesis examples are sync functions that need a fresh loop each. ``asyncio.run`` would do,
but it also resets the thread's current event loop when it finishes, which the session-scoped
loop of pytest-asyncio (``asyncio_default_test_loop_scope = session``) should not have to
survive. This runs the coroutine on a private loop and cleans up like ``asyncio.run``: tasks
still pending at the end (the legacy batched map does not cancel its other batches when one
item fails) are cancelled and awaited before the loop closes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_example(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to completion on a new loop that is never made the current one."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        try:
            leftovers = asyncio.all_tasks(loop)
            for task in leftovers:
                task.cancel()
            if leftovers:
                loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()
