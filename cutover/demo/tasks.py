"""Portable sample task functions (module-level coroutines in ``cutover.demo``).

They stand for the three kinds of production worker the cutover walks through: light I/O,
mixed I/O and CPU, and CPU-heavy work.
"""

from __future__ import annotations

import asyncio
import hashlib


def burn_cpu(milliseconds: float) -> int:
    """About ``milliseconds`` of pure-Python work; returns a value that depends on all of it."""
    rounds = int(milliseconds * 1100)  # ~0.9 µs per sha256 round on this class of machine
    digest = b"cutover"
    for _ in range(rounds):
        digest = hashlib.sha256(digest).digest()
    return digest[0]


async def io_light(item: int) -> int:
    """About 1 ms of awaiting, as an HTTP call to a fast service."""
    await asyncio.sleep(0.001)
    return item * 2


async def mixed(item: int) -> int:
    """About 2 ms of awaiting and 2 ms of CPU."""
    await asyncio.sleep(0.002)
    return item + burn_cpu(2)


async def cpu_heavy(item: int) -> int:
    """About 10 ms of pure-Python work."""
    return item + burn_cpu(10)


async def trivial(item: int) -> int:
    """Nothing but the call itself: measures an engine's own overhead."""
    return item


async def cpu_5ms(item: int) -> int:
    """About 5 ms of pure-Python work."""
    return item + burn_cpu(5)
