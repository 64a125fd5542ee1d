"""A switchable timing decorator for coroutine functions and a bottleneck report.

Profiling is off until :meth:`PerformanceProfiler.start_profiling`, so decorated functions can
stay decorated in production at the cost of one flag check per call.
"""

from __future__ import annotations

import functools
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

#: A function called more often than this is told to cache its results.
CACHING_CALL_COUNT_THRESHOLD = 100
#: A function slower than this on average (seconds) is told to go async/parallel.
PARALLEL_AVERAGE_TIME_THRESHOLD = 1.0

CACHING_SUGGESTION = "Consider caching results"
PARALLEL_SUGGESTION = "Consider async/parallel processing"


@dataclass
class _FunctionStats:
    """Timings of one function name while profiling is on."""

    call_count: int = 0
    total_time: float = 0.0
    min_time: float = float("inf")
    max_time: float = 0.0


class PerformanceProfiler:
    """Collects per-function call counts and timings of decorated coroutine functions.

    Stats are keyed by the function's ``__name__`` (so two functions of the same name share a
    row, as in the original).
    """

    def __init__(self) -> None:
        """Start with profiling off and no stats."""
        self._profiling = False
        self._start_time: float | None = None
        self._function_stats: defaultdict[str, _FunctionStats] = defaultdict(_FunctionStats)

    def start_profiling(self) -> None:
        """Turn recording on and forget every stat recorded so far."""
        self._profiling = True
        self._start_time = time.time()
        self._function_stats.clear()

    def stop_profiling(self) -> None:
        """Turn recording off; the stats are kept for :meth:`get_profile_report`."""
        self._profiling = False

    def profile_async(self, func: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        """Decorate a coroutine function so its calls are timed while profiling is on.

        A call that raises is recorded too (its time counts), then the exception propagates.
        While profiling is off the wrapper just awaits ``func``.
        """

        @functools.wraps(func)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            if not self._profiling:
                return await func(*args, **kwargs)
            start = time.perf_counter()
            try:
                return await func(*args, **kwargs)
            finally:
                self._record(getattr(func, "__name__", repr(func)), time.perf_counter() - start)

        return wrapper

    def _record(self, name: str, elapsed: float) -> None:
        """Add one call of ``elapsed`` seconds to the stats of ``name``."""
        stats = self._function_stats[name]
        stats.call_count += 1
        stats.total_time += elapsed
        stats.min_time = min(stats.min_time, elapsed)
        stats.max_time = max(stats.max_time, elapsed)

    def get_profile_report(self) -> dict[str, Any]:
        """``{"function_stats": {name: {call_count, total_time, average_time, min/max}}}``."""
        return {
            "function_stats": {
                name: {
                    "call_count": stats.call_count,
                    "total_time": stats.total_time,
                    "average_time": stats.total_time / stats.call_count,
                    "min_time": stats.min_time,
                    "max_time": stats.max_time,
                }
                for name, stats in self._function_stats.items()
                if stats.call_count > 0
            }
        }

    def analyze_bottlenecks(self, profile_data: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Rank the functions of a :meth:`get_profile_report` by total time, with advice.

        Each entry: ``function``, ``impact_score`` (its share of the summed total time, 0.0
        when that sum is 0), ``total_time``, ``call_count``, ``average_time`` and
        ``optimization_suggestions``: "Consider caching results" when ``call_count > 100``,
        "Consider async/parallel processing" when ``average_time > 1.0`` (both strict).
        Equal total times keep the report's order (a stable sort).
        """
        function_stats: Mapping[str, Mapping[str, Any]] = profile_data.get("function_stats", {})
        ranked = sorted(function_stats.items(), key=lambda row: row[1]["total_time"], reverse=True)
        grand_total = sum(stats["total_time"] for _, stats in ranked)
        bottlenecks: list[dict[str, Any]] = []
        for name, stats in ranked:
            suggestions: list[str] = []
            if stats["call_count"] > CACHING_CALL_COUNT_THRESHOLD:
                suggestions.append(CACHING_SUGGESTION)
            if stats["average_time"] > PARALLEL_AVERAGE_TIME_THRESHOLD:
                suggestions.append(PARALLEL_SUGGESTION)
            bottlenecks.append(
                {
                    "function": name,
                    "impact_score": stats["total_time"] / grand_total if grand_total > 0 else 0.0,
                    "total_time": stats["total_time"],
                    "call_count": stats["call_count"],
                    "average_time": stats["average_time"],
                    "optimization_suggestions": suggestions,
                }
            )
        return bottlenecks


__all__ = [
    "CACHING_CALL_COUNT_THRESHOLD",
    "CACHING_SUGGESTION",
    "PARALLEL_AVERAGE_TIME_THRESHOLD",
    "PARALLEL_SUGGESTION",
    "PerformanceProfiler",
]
