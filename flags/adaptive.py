"""The adaptive ``hybrid`` policy: run each call where it has been cheapest, keep looking.

An in-process :class:`CostModel` keeps, per (worker, engine, size bucket), an exponentially
weighted moving average of the *seconds per item* that callers report with
:func:`record_cost`. The size bucket is ``floor(log2(n_items))``, so a batch of 10 and one of
10,000 are judged separately (a distributed engine often loses on small batches and wins on
large ones). For each call :meth:`CostModel.choose`:

1. tries every candidate engine at least once per bucket (``hybrid-adaptive-untried``);
2. with probability ``explore`` takes another candidate than the cheapest, so a change in
   costs is noticed (``hybrid-adaptive-explore``);
3. otherwise takes the engine with the lowest observed cost (``hybrid-adaptive-cheaper``).

The model is deliberately lock-free: updates are single dict assignments, and an update lost
to a race only delays an average by one sample. So it never blocks a call and is safe to use
in a process that forked while another thread was recording.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from flags.model import Engine

DEFAULT_ALPHA = 0.2
"""Weight of the newest sample in the moving average."""

_Key = tuple[str, str, int]


def size_bucket(n_items: int) -> int:
    """The size bucket of a batch: ``floor(log2(n_items))``, 0 for empty and single batches."""
    return max(n_items, 1).bit_length() - 1


class CostModel:
    """Observed cost per item of each engine, per worker and batch size (see module doc)."""

    def __init__(
        self, alpha: float = DEFAULT_ALPHA, random_fn: Callable[[], float] = random.random
    ) -> None:
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"alpha must be in (0, 1], got {alpha!r}")
        self.alpha = alpha
        self._random = random_fn
        self._cost: dict[_Key, float] = {}
        self._samples: dict[_Key, int] = {}
        self._tried: set[_Key] = set()

    def record(self, worker_id: str, engine: str, n_items: int, seconds: float) -> None:
        """Feed the time a call of ``n_items`` items took on ``engine``.

        Nonsense (negative or non-finite seconds, a non-integer size) is ignored: this is fed
        from a worker's hot path and must never raise into it.
        """
        try:
            if not math.isfinite(seconds) or seconds < 0:
                return
            key = (worker_id, engine, size_bucket(int(n_items)))
            per_item = float(seconds) / max(int(n_items), 1)
        except (TypeError, ValueError, OverflowError):
            return
        old = self._cost.get(key)
        self._cost[key] = per_item if old is None else old + self.alpha * (per_item - old)
        self._samples[key] = self._samples.get(key, 0) + 1

    def estimate(self, worker_id: str, engine: str, n_items: int) -> float | None:
        """The current average seconds per item, ``None`` before the first sample."""
        return self._cost.get((worker_id, engine, size_bucket(n_items)))

    def samples(self, worker_id: str, engine: str, n_items: int) -> int:
        """How many costs were recorded for this worker, engine and size bucket."""
        return self._samples.get((worker_id, engine, size_bucket(n_items)), 0)

    def choose(
        self, worker_id: str, candidates: tuple[Engine, ...], n_items: int, explore: float
    ) -> tuple[Engine, str]:
        """The engine for one call and the reason (see the module docstring)."""
        bucket = size_bucket(n_items)
        known: list[tuple[float, Engine]] = []
        for engine in candidates:
            key = (worker_id, engine, bucket)
            cost = self._cost.get(key)
            if cost is None:
                if key not in self._tried:
                    self._tried.add(key)
                    return engine, "hybrid-adaptive-untried"
            else:
                known.append((cost, engine))
        if not known:  # every candidate is on its way but none has reported yet
            return candidates[int(self._random() * len(candidates))], "hybrid-adaptive-unknown"
        best = min(known)[1]
        if len(candidates) > 1 and self._random() < explore:
            others = [engine for engine in candidates if engine != best]
            return others[int(self._random() * len(others))], "hybrid-adaptive-explore"
        return best, "hybrid-adaptive-cheaper"

    def reset(self) -> None:
        """Forget everything observed."""
        self._cost.clear()
        self._samples.clear()
        self._tried.clear()


default_cost_model = CostModel()
"""The process-wide model that :func:`record_cost` feeds and ``decide`` consults."""


def record_cost(worker_id: str, engine: str, n_items: int, seconds: float) -> None:
    """Report how long a call took, for the adaptive ``hybrid`` policy (never raises)."""
    default_cost_model.record(worker_id, engine, n_items, seconds)


__all__ = ["CostModel", "default_cost_model", "record_cost", "size_bucket"]
