"""A simulated worker pool that scales by a factor between a floor and a ceiling.

Nothing is started or stopped: production code used it to *decide* a worker count, so only the
arithmetic matters, and it is reproduced exactly (``int()`` truncation included).
"""

from __future__ import annotations

from legacy.models import LoadLevel


class ResourcePool:
    """A worker count kept in ``[min_workers, max_workers]``, scaled by ``scaling_factor``.

    ``idle_timeout`` is stored but unused, as in the original: callers read it back.
    """

    def __init__(
        self,
        name: str,
        min_workers: int,
        max_workers: int,
        scaling_factor: float = 2.0,
        idle_timeout: int = 30,
    ) -> None:
        """Start at ``min_workers`` active workers and a LOW load level."""
        self.name = name
        self.min_workers = min_workers
        self.max_workers = max_workers
        self.scaling_factor = scaling_factor
        self.idle_timeout = idle_timeout
        self.active_workers = min_workers
        self._load_level = LoadLevel.LOW

    def get_active_workers(self) -> int:
        """The current simulated worker count."""
        return self.active_workers

    def simulate_load(self, high: bool) -> None:
        """Scale once: up by the factor (capped at max) on high load, down (floored at min).

        High: ``active = min(int(active * factor), max_workers)``.
        Low: ``active = max(min_workers, int(active / factor))``.
        """
        if high:
            self._load_level = LoadLevel.HIGH
            self.active_workers = min(
                int(self.active_workers * self.scaling_factor), self.max_workers
            )
        else:
            self._load_level = LoadLevel.LOW
            self.active_workers = max(
                self.min_workers, int(self.active_workers / self.scaling_factor)
            )

    def get_utilization(self) -> float:
        """``active_workers / max_workers`` (a ``ZeroDivisionError`` when max is 0, as before)."""
        return self.active_workers / self.max_workers


__all__ = ["ResourcePool"]
