"""Task functions whose behaviour differs between the caller's process and a worker's.

``CALLER_PID`` is set by the tests in the caller's process only; a Celery or Ray worker
imports this module fresh and sees ``None``. That is how a test makes the candidate (in a
worker) raise, hang or return something else while the primary (legacy, in the caller)
behaves.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time

from compat import shadow_safe

CALLER_PID: int | None = None


def in_caller() -> bool:
    """True in the test process, False in any worker process."""
    return CALLER_PID == os.getpid()


@shadow_safe
async def pure_double(item: int) -> int:
    """The same everywhere."""
    return item * 2


async def unmarked_double(item: int) -> int:
    """The same everywhere, but not declared shadow-safe."""
    return item * 2


@shadow_safe
async def explodes_in_worker(item: int) -> int:
    """Raises in a worker process (the candidate), returns in the caller (the primary)."""
    if not in_caller():
        raise RuntimeError("candidate exploded")
    return item


@shadow_safe
async def hangs_in_worker(item: int) -> int:
    """Hangs for a minute in a worker process, returns at once in the caller."""
    if not in_caller():
        await asyncio.sleep(60)
    return item


@shadow_safe
async def garbage_in_worker(item: int) -> object:
    """Returns something of another type in a worker process."""
    return item if in_caller() else (str(item), "garbage")


@shadow_safe
async def process_dependent(item: int) -> dict[str, int]:
    """Output depends on the process that ran it: a real cross-engine mismatch."""
    return {"item": item, "pid": os.getpid()}


@shadow_safe
async def with_timestamp(item: int) -> dict[str, int]:
    """A stable value plus a field that changes on every run (noise, not a difference)."""
    await asyncio.sleep(0)
    return {"item": item, "at": time.time_ns()}


CALLER_RUNS: list[tuple[float, str]] = []
"""(start time, thread name) of each run of :func:`traced_double` in the caller's process."""


@shadow_safe
async def traced_double(item: int) -> int:
    """``2 * item``; in the caller's process, records when and on which thread it ran."""
    if in_caller():
        CALLER_RUNS.append((time.perf_counter(), threading.current_thread().name))
    return 2 * item


@shadow_safe
async def off_by_one_in_worker_for_odd(item: dict[str, int]) -> int:
    """``item["n"]`` in the caller; one more in a worker process, for odd ``n`` only."""
    n = item["n"]
    return n if in_caller() or n % 2 == 0 else n + 1


@shadow_safe
async def item_7_refused_in_worker(item: dict[str, object]) -> object:
    """Raises ``ValueError`` for the item numbered 7 in a worker process; returns the item's
    number everywhere else (and in the caller)."""
    if item["n"] == 7 and not in_caller():
        raise ValueError(f"item {item['n']} refused")
    return item["n"]


@shadow_safe
async def item_7_refused_in_caller(item: dict[str, object]) -> object:
    """Raises ``ValueError`` for the item numbered 7 in the caller (a legacy side) only."""
    if item["n"] == 7 and in_caller():
        raise ValueError(f"item {item['n']} refused")
    return item["n"]


@shadow_safe
async def item_7_refused(item: dict[str, object]) -> object:
    """Raises ``ValueError`` for the item numbered 7 wherever it runs."""
    if item["n"] == 7:
        raise ValueError(f"item {item['n']} refused")
    return item["n"]


@shadow_safe
async def handler_refusing_7_in_worker(batch: list[int]) -> list[int]:
    """A batch handler that raises in a worker process when the batch holds 7."""
    if 7 in batch and not in_caller():
        raise ValueError("batch with 7 refused")
    return [2 * item for item in batch]


@shadow_safe
async def pure_identity(item: object) -> object:
    """The item itself, everywhere (a pipeline's first stage)."""
    return item
