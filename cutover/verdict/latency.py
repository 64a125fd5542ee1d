"""Latency percentiles of a report, and the latency split of each side (queue wait and
execution, where the engines report them: :mod:`adapters.timing`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from compat.shadow.records import ShadowRecord
from cutover.verdict.split import split_columns


@dataclass(frozen=True, slots=True)
class Latency:
    """p50 and p95 in seconds (``None`` without samples)."""

    p50: float | None
    p95: float | None
    samples: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"p50_s": self.p50, "p95_s": self.p95, "samples": self.samples}


NO_LATENCY: Final = Latency(None, None, 0)
"""No samples (older records, a side whose engine did not report its split)."""


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The nearest-rank percentile (``fraction`` 0.95 for p95); ``None`` without values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(math.ceil(fraction * len(ordered)) - 1, 0)
    return ordered[min(rank, len(ordered) - 1)]


def latency_of(values: Sequence[float]) -> Latency:
    """p50, p95 and the count of ``values``."""
    return Latency(percentile(values, 0.50), percentile(values, 0.95), len(values))


@dataclass(frozen=True, slots=True)
class LatencySplit:
    """Each side's queue wait and execution (legacy waits 0); empty for older records."""

    primary_queue_wait: Latency = NO_LATENCY
    primary_execution: Latency = NO_LATENCY
    candidate_queue_wait: Latency = NO_LATENCY
    candidate_execution: Latency = NO_LATENCY

    @classmethod
    def of(cls, records: Sequence[ShadowRecord]) -> LatencySplit:
        """The split over the records that carry it."""
        return cls(*(latency_of(column) for column in split_columns(records)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{primary|candidate: {queue_wait|execution: latency}}``."""
        return {
            "primary": {
                "queue_wait": self.primary_queue_wait.to_dict(),
                "execution": self.primary_execution.to_dict(),
            },
            "candidate": {
                "queue_wait": self.candidate_queue_wait.to_dict(),
                "execution": self.candidate_execution.to_dict(),
            },
        }


__all__ = ["NO_LATENCY", "Latency", "LatencySplit", "latency_of", "percentile"]
