"""``Pipeline``: stage by stage, in order, with metrics; and its ``_run_stage`` seam."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from legacy import Pipeline
from legacy.pipeline import Stage, run_stage
from tests.legacy.loops import run_example


async def add_one(item: int) -> int:
    """Stage 0 of the examples."""
    await asyncio.sleep(0)
    return item + 1


async def double(item: int) -> int:
    """Stage 1 of the examples."""
    return item * 2


async def test_process_applies_stages_in_order() -> None:
    """Every item goes through stage 0 then stage 1; results keep input order."""
    assert [4, 6, 2] == await Pipeline([add_one, double]).process([1, 2, 0])


@given(st.lists(st.integers(), max_size=30))
def test_process_equals_sequential_composition(items: list[int]) -> None:
    """The result equals applying the stages one item at a time."""
    expected = [(item + 1) * 2 for item in items]
    assert expected == run_example(Pipeline([add_one, double]).process(items))


async def test_a_stage_sees_all_previous_results_first() -> None:
    """Stage 1 starts only when stage 0 finished for every item (stage by stage)."""
    log: list[tuple[str, int]] = []

    async def first(item: int) -> int:
        for _ in range(item):
            await asyncio.sleep(0)
        log.append(("first", item))
        return item

    async def second(item: int) -> int:
        log.append(("second", item))
        return item

    await Pipeline([first, second]).process([3, 0, 2])
    assert [("first", 0), ("first", 2), ("first", 3)] == log[:3]
    assert {("second", 3), ("second", 0), ("second", 2)} == set(log[3:])


async def test_items_of_a_stage_run_concurrently() -> None:
    """All items of a stage are in flight together (``gather``), not one after another."""
    in_flight = 0
    most = 0

    async def stage(item: int) -> int:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0)
        in_flight -= 1
        return item

    await Pipeline([stage]).process(list(range(7)))
    assert 7 == most


async def test_metrics_before_and_after() -> None:
    """Zeros and ``{}`` before a run; after, counts, times and one entry per stage."""
    pipeline = Pipeline([add_one, double])
    assert {"throughput": 0.0, "average_latency": 0.0, "stage_times": {}} == (
        pipeline.get_metrics()
    )
    await pipeline.process([1, 2, 3, 4])
    metrics = pipeline.get_metrics()
    assert 4 == pipeline.metrics["items_processed"]
    assert {"stage_0", "stage_1"} == set(metrics["stage_times"])
    assert metrics["throughput"] == pytest.approx(4 / pipeline.metrics["total_time"])
    assert metrics["average_latency"] == pytest.approx(pipeline.metrics["total_time"] / 4)


async def test_no_stages_returns_the_items() -> None:
    """Without stages the items come back unchanged."""
    assert [1, "a"] == await Pipeline([]).process([1, "a"])


async def test_stage_exception_propagates_and_counts_nothing() -> None:
    """A stage's exception reaches the caller; items and total time are not counted."""

    async def broken(item: int) -> int:
        raise LookupError(f"no {item}")

    pipeline = Pipeline([add_one, broken])
    with pytest.raises(LookupError, match="no 2"):
        await pipeline.process([1])
    assert (0, 0.0) == (pipeline.metrics["items_processed"], pipeline.metrics["total_time"])
    assert {"stage_0"} == set(pipeline.metrics["stage_times"])


async def test_run_stage_is_the_seam_a_subclass_overrides() -> None:
    """A subclass overriding ``_run_stage`` sees every stage; ordering and metrics stay."""
    seen: list[Stage] = []

    class RecordingPipeline(Pipeline):
        async def _run_stage(self, stage: Stage, items: list[Any]) -> list[Any]:
            seen.append(stage)
            return await run_stage(stage, items)

    pipeline = RecordingPipeline([add_one, double])
    assert [4] == await pipeline.process([1])
    assert [add_one, double] == seen
    assert 1 == pipeline.metrics["items_processed"]
