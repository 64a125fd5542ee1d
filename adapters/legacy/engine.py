"""The in-process asyncio engine: ``legacy/`` itself, behind the engine interface.

It adds nothing to the legacy code path (no copy, no wrapper per item), so routing a call to
``legacy`` costs the same as calling ``legacy/`` directly; ``benchmarks/adapters_bench.py``
measures that ratio.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from adapters.base import DEFAULT_OPTIONS, CallOptions, EngineHealth, TaskFunc, ZeroArgTask
from legacy.batching import run_batched
from legacy.pipeline import run_stage


class LegacyEngine:
    """Runs work on the caller's event loop, exactly as the legacy module does."""

    name = "legacy"

    async def map_batches(
        self,
        items: Sequence[Any],
        task_func: TaskFunc,
        batch_size: int,
        max_concurrent: int,
        options: CallOptions = DEFAULT_OPTIONS,
    ) -> list[Any]:
        """Delegate to the legacy batched map (same validation, same errors)."""
        return await run_batched(items, task_func, batch_size, max_concurrent)

    async def run_pipeline(
        self,
        items: Sequence[Any],
        stages: Sequence[TaskFunc],
        options: CallOptions = DEFAULT_OPTIONS,
    ) -> list[Any]:
        """Every stage over all items concurrently, stage after stage, as ``Pipeline`` does."""
        current = list(items)
        for stage in stages:
            current = await run_stage(stage, current)
        return current

    async def run_task(self, task: ZeroArgTask, options: CallOptions = DEFAULT_OPTIONS) -> Any:
        """Await the task on this loop."""
        return await task()

    async def start(self) -> None:
        """Nothing to start: the caller's loop is the engine."""

    async def close(self) -> None:
        """Nothing to release."""

    async def health(self) -> EngineHealth:
        """Always healthy: it runs wherever the caller runs."""
        return EngineHealth(engine=self.name, healthy=True, detail="in-process asyncio")


__all__ = ["LegacyEngine"]
