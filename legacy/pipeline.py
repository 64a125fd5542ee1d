"""A staged pipeline: every item through stage 0, then every result through stage 1, ...

Running one stage is :func:`run_stage`, called through :meth:`Pipeline._run_stage`, so that
another engine (the compat shim routing to Celery or Ray) can replace *how* a stage runs by
overriding one method, while the ordering and the metrics stay exactly the legacy ones.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypedDict

#: A stage takes one item and returns (awaitably) the item for the next stage.
Stage = Callable[[Any], Awaitable[Any]]


async def run_stage(stage: Stage, items: Sequence[Any]) -> list[Any]:
    """Apply ``stage`` to every item concurrently (``gather``); results in input order.

    The first exception raised by ``stage`` propagates unchanged; the other items of the stage
    are not cancelled (plain ``gather``, as in the original).
    """
    return list(await asyncio.gather(*(stage(item) for item in items)))


class PipelineCounters(TypedDict):
    """The raw counters behind :meth:`Pipeline.get_metrics`, kept as the original kept them."""

    items_processed: int
    total_time: float
    stage_times: defaultdict[str, float]


class Pipeline:
    """An ordered list of async stages applied to a list of items, stage by stage.

    Stage by stage (not item by item) is the legacy behaviour every route must reproduce: a
    stage sees all the results of the previous one before it starts.
    """

    def __init__(self, stages: list[Stage]) -> None:
        """Keep ``stages`` (the caller's list, as the original did) and zeroed counters."""
        self.stages = stages
        self.metrics: PipelineCounters = {
            "items_processed": 0,
            "total_time": 0.0,
            "stage_times": defaultdict(float),
        }

    async def process(self, items: list[Any]) -> list[Any]:
        """Run ``items`` through every stage and return the last stage's results, in order.

        Adds the stage's wall time under ``"stage_<i>"`` after each stage, and, once every
        stage succeeded, ``len(items)`` to ``items_processed`` and the whole wall time to
        ``total_time``. An exception from a stage propagates unchanged and leaves
        ``items_processed`` and ``total_time`` untouched (the stages that completed keep their
        time), as in the original. With no stages the result is a copy of ``items``.
        """
        start = time.perf_counter()
        results: list[Any] = list(items)
        for index, stage in enumerate(self.stages):
            stage_start = time.perf_counter()
            results = await self._run_stage(stage, results)
            self.metrics["stage_times"][f"stage_{index}"] += time.perf_counter() - stage_start
        self.metrics["items_processed"] += len(items)
        self.metrics["total_time"] += time.perf_counter() - start
        return results

    async def _run_stage(self, stage: Stage, items: list[Any]) -> list[Any]:
        """Run one stage over all items; the one place a routing subclass overrides."""
        return await run_stage(stage, items)

    def get_metrics(self) -> dict[str, Any]:
        """Throughput (items/s), average latency (s/item) and the per-stage times.

        All zeros and ``{}`` until an item went through. Throughput is reported as 0.0 when the
        measured total time is 0 (a clock too coarse to see the run); the original raised
        ``ZeroDivisionError`` there.
        """
        items_processed = self.metrics["items_processed"]
        total_time = self.metrics["total_time"]
        if items_processed == 0:
            return {"throughput": 0.0, "average_latency": 0.0, "stage_times": {}}
        return {
            "throughput": items_processed / total_time if total_time > 0 else 0.0,
            "average_latency": total_time / items_processed,
            "stage_times": dict(self.metrics["stage_times"]),
        }


__all__ = ["Pipeline", "PipelineCounters", "Stage", "run_stage"]
