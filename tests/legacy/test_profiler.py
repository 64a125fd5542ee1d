"""``PerformanceProfiler``: the switchable decorator, the report, the bottleneck ranking."""

from __future__ import annotations

import asyncio

import pytest

from legacy import PerformanceProfiler


async def test_records_calls_only_while_profiling() -> None:
    """Calls are counted between start and stop; before and after they pass through."""
    profiler = PerformanceProfiler()

    @profiler.profile_async
    async def fetch(value: int) -> int:
        await asyncio.sleep(0)
        return value + 1

    assert 2 == await fetch(1)
    profiler.start_profiling()
    assert [3, 4, 5] == [await fetch(2), await fetch(3), await fetch(4)]
    profiler.stop_profiling()
    assert 6 == await fetch(5)
    stats = profiler.get_profile_report()["function_stats"]
    assert {"fetch"} == set(stats)
    row = stats["fetch"]
    assert 3 == row["call_count"]
    assert 0 <= row["min_time"] <= row["average_time"] <= row["max_time"]
    assert row["total_time"] == pytest.approx(row["average_time"] * 3)


async def test_wrapper_keeps_name_and_counts_failures() -> None:
    """``functools.wraps`` keeps the name; a failing call is timed, then re-raised."""
    profiler = PerformanceProfiler()

    @profiler.profile_async
    async def flaky() -> None:
        raise ConnectionError("down")

    profiler.start_profiling()
    with pytest.raises(ConnectionError, match="down"):
        await flaky()
    assert "flaky" == flaky.__name__
    assert 1 == profiler.get_profile_report()["function_stats"]["flaky"]["call_count"]


async def test_start_profiling_clears_previous_stats() -> None:
    """Starting again forgets what was recorded before."""
    profiler = PerformanceProfiler()

    @profiler.profile_async
    async def work() -> None:
        return None

    profiler.start_profiling()
    await work()
    profiler.start_profiling()
    assert {"function_stats": {}} == profiler.get_profile_report()


def test_analyze_bottlenecks_ranks_and_suggests() -> None:
    """Sorted by total time; impact is the share; thresholds are strict (> 100, > 1.0)."""
    report = {
        "function_stats": {
            "cheap": {"call_count": 100, "total_time": 1.0, "average_time": 0.01},
            "chatty": {"call_count": 101, "total_time": 2.0, "average_time": 0.02},
            "slow": {"call_count": 5, "total_time": 7.0, "average_time": 1.4},
        }
    }
    bottlenecks = PerformanceProfiler().analyze_bottlenecks(report)
    assert ["slow", "chatty", "cheap"] == [row["function"] for row in bottlenecks]
    assert [0.7, 0.2, 0.1] == pytest.approx([row["impact_score"] for row in bottlenecks])
    assert [
        ["Consider async/parallel processing"],
        ["Consider caching results"],
        [],
    ] == [row["optimization_suggestions"] for row in bottlenecks]
    assert {
        "function",
        "impact_score",
        "total_time",
        "call_count",
        "average_time",
        "optimization_suggestions",
    } == set(bottlenecks[0])


def test_analyze_bottlenecks_zero_time_and_empty() -> None:
    """No stats give ``[]``; zero total time gives impact 0.0 rather than a division error."""
    profiler = PerformanceProfiler()
    assert [] == profiler.analyze_bottlenecks({})
    zero = {"function_stats": {"f": {"call_count": 1, "total_time": 0.0, "average_time": 0.0}}}
    assert [0.0] == [row["impact_score"] for row in profiler.analyze_bottlenecks(zero)]
