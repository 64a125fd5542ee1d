"""Task functions for the Ray engine tests.

Module-level async functions in an allow-listed module (``CUTOVER_TASK_MODULES=tests``), so
they travel by reference and the Ray worker processes import this module, which only works
when the driver's ``sys.path`` reached them. Their side channels (marker and counter files)
are plain files: Ray workers are other processes on the same machine.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any


class TransientError(Exception):
    """A failure a worker's flags mark retryable."""


class PermanentError(Exception):
    """A failure that is never retried."""


class LedgerError(Exception):
    """A custom exception with its own ``__init__`` and ``__str__``, as user code has."""

    def __init__(self, account: str, missing: int) -> None:
        super().__init__(account, missing)
        self.account = account
        self.missing = missing

    def __str__(self) -> str:
        return f"account {self.account} is short of {self.missing}"


async def describe(item: Any) -> tuple[Any, str]:
    """The item and its type name (a tuple must come back a tuple)."""
    await asyncio.sleep(0)
    return (item, type(item).__name__)


async def fail_with_value_error(item: int) -> int:
    """``ValueError`` for a negative item."""
    if item < 0:
        raise ValueError(f"negative item: {item}")
    return item


async def fail_with_key_error(item: int) -> int:
    """``KeyError`` (whose ``str()`` is quoted) for a negative item."""
    if item < 0:
        raise KeyError(f"missing {item}")
    return item


async def fail_with_ledger_error(item: int) -> int:
    """:class:`LedgerError` for a negative item."""
    if item < 0:
        raise LedgerError("acme", -item)
    return item


async def span(item: tuple[int, float]) -> tuple[int, float, float, int]:
    """Sleep ``item[1]`` seconds; return ``(batch_tag, start, end, pid)``."""
    tag, seconds = item
    start = time.time()
    await asyncio.sleep(seconds)
    return (tag, start, time.time(), os.getpid())


async def kill_worker_once(item: tuple[str, int]) -> tuple[int, int]:
    """SIGKILL this worker process the first time any item runs (a marker file says when).

    Returns ``(value * 2, pid)`` otherwise. The marker holds the killed process's pid.
    """
    marker, value = item
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return (value * 2, os.getpid())
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable: the process was killed")


async def always_kill_worker(item: int) -> int:
    """SIGKILL this worker process, every time."""
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable: the process was killed")


def _count_attempt(counter: str) -> int:
    path = Path(counter)
    attempt = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(attempt))
    return attempt


async def flaky(item: tuple[str, int, int]) -> int:
    """Raise :class:`TransientError` on the first ``failures`` attempts, then return the value.

    ``item`` is ``(counter_file, failures, value)``; the file counts attempts.
    """
    counter, failures, value = item
    attempt = _count_attempt(counter)
    if attempt <= failures:
        raise TransientError(f"attempt {attempt} failed")
    return value


async def counted_permanent_failure(item: str) -> int:
    """Count the attempt in the file ``item``, then raise :class:`PermanentError`."""
    attempt = _count_attempt(item)
    raise PermanentError(f"attempt {attempt} refused for good")


async def slow(item: float) -> float:
    """Sleep ``item`` seconds and return it."""
    await asyncio.sleep(item)
    return item


async def worker_environment(item: object) -> tuple[list[str], str, int]:
    """The worker's ``sys.path``, its ``PYTHONPATH`` and its pid."""
    return (list(sys.path), os.environ.get("PYTHONPATH", ""), os.getpid())


async def loop_identity(item: object) -> tuple[int, int]:
    """The id of the running event loop and the pid (the loop must persist per process)."""
    return (id(asyncio.get_running_loop()), os.getpid())


async def stage_add_one(item: int) -> int:
    """A pipeline stage."""
    return item + 1


async def stage_square(item: int) -> int:
    """A pipeline stage."""
    return item * item


async def stage_to_text(item: int) -> str:
    """A pipeline stage that changes the type."""
    return f"#{item}"


async def stage_reject_negative(item: int) -> int:
    """A pipeline stage that refuses negative items with ``ValueError``."""
    if item < 0:
        raise ValueError(f"stage refused {item}")
    return item


async def stage_pid(item: Any) -> tuple[Any, int]:
    """A pipeline stage that records which process ran it."""
    return (item, os.getpid())


async def answer() -> int:
    """A zero-argument task."""
    await asyncio.sleep(0)
    return 42


async def failing_answer() -> int:
    """A zero-argument task that fails with a custom exception."""
    raise LedgerError("scheduler", 7)


async def ray_task_name(item: int) -> str:
    """The name of the Ray task running this item (what the dashboard shows)."""
    import ray

    return str(ray.get_runtime_context().get_task_name())
