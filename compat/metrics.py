"""In-process counters of what the shim did, by worker and route.

Calls, items, errors, fallbacks and shadow outcomes are counted here, cheaply (a dict and a
lock), so tests and ``cutover`` commands can read them; exporters (Prometheus) read this
one source instead of every module keeping its own numbers.
"""

from __future__ import annotations

import threading
from collections import Counter

_lock = threading.Lock()
_counts: Counter[tuple[str, str, str]] = Counter()


def count(name: str, worker: str, route: str, amount: int = 1) -> None:
    """Add ``amount`` to the counter ``name`` of ``worker`` on ``route``."""
    with _lock:
        _counts[(name, worker, route)] += amount


def value(name: str, worker: str | None = None, route: str | None = None) -> int:
    """The total of ``name``, optionally for one worker and/or route."""
    with _lock:
        return sum(
            amount
            for (counted, counted_worker, counted_route), amount in _counts.items()
            if counted == name
            and (worker is None or counted_worker == worker)
            and (route is None or counted_route == route)
        )


def snapshot() -> dict[tuple[str, str, str], int]:
    """A copy of every counter."""
    with _lock:
        return dict(_counts)


def reset() -> None:
    """Forget every counter (tests)."""
    with _lock:
        _counts.clear()


__all__ = ["count", "reset", "snapshot", "value"]
