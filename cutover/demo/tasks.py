"""Portable sample task functions (module-level coroutines in ``cutover.demo``).

They stand for the three kinds of production worker the cutover walks through: light I/O,
mixed I/O and CPU, and CPU-heavy work. All are pure, so they are declared
:func:`~compat.shadow.safety.shadow_safe`: shadow mode may run them a second time.

:func:`stamp_process` is the odd one out on purpose: pure and shadow-safe too, yet its result
depends on the process it ran in, so the demo's shadow stage catches it as a mismatch.
"""

from __future__ import annotations

import asyncio
import hashlib
import os

from compat.shadow.safety import shadow_safe


def burn_cpu(milliseconds: float) -> int:
    """About ``milliseconds`` of pure-Python work; returns a value that depends on all of it."""
    rounds = int(milliseconds * 2300)  # measured: ~0.43 µs per sha256 round on this machine
    digest = b"cutover"
    for _ in range(rounds):
        digest = hashlib.sha256(digest).digest()
    return digest[0]


@shadow_safe
async def io_light(item: int) -> int:
    """About 1 ms of awaiting, as an HTTP call to a fast service."""
    await asyncio.sleep(0.001)
    return item * 2


@shadow_safe
async def mixed(item: int) -> int:
    """About 2 ms of awaiting and 2 ms of CPU."""
    await asyncio.sleep(0.002)
    return item + burn_cpu(2)


@shadow_safe
async def cpu_heavy(item: int) -> int:
    """About 10 ms of pure-Python work."""
    return item + burn_cpu(10)


@shadow_safe
async def trivial(item: int) -> int:
    """Nothing but the call itself: measures an engine's own overhead."""
    return item


@shadow_safe
async def cpu_5ms(item: int) -> int:
    """About 5 ms of pure-Python work."""
    return item + burn_cpu(5)


@shadow_safe
async def stamp_process(item: int) -> dict[str, int]:
    """Deliberately divergent: the item with the id of the process that handled it.

    It has no side effect, so it is declared shadow-safe, and it returns the same thing every
    time it runs in the same process. But the process is part of the result, the way a
    process-local cache, a module-level counter or ``os.getpid()`` in a generated id hides in
    real code: moved to a Celery or Ray worker, it answers differently. Shadow mode exists to
    catch exactly this before any caller sees it.
    """
    return {"item": item, "pid": os.getpid()}
