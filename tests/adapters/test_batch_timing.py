"""The latency split against real engines: queue wait and execution per batch.

A caller sees one number (how long a call took); these tests prove each remote engine also
reports where it went. Six batches of one 0.3 s item sent at once to a real prefork Celery
worker of concurrency 2 (and to a local Ray with its CPUs) run in waves: every batch's
*execution* stays about 0.3 s while the later waves' *queue wait* grows. That is exactly the
difference between "the engine is slower" and "the queue is backed up".
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from adapters import timing
from adapters.base import CallOptions, ExecutionEngine
from adapters.timing import BatchTiming, TimingSummary
from tests.adapters import celery_tasks, ray_tasks

SLEEP_S = 0.3
BATCHES = 6


def _check_split(timings: list[BatchTiming], engine: str, waves: int) -> None:
    """Every batch reported, each execution about the sleep, queue wait = total - execution."""
    assert BATCHES == len(timings)
    assert {engine} == {t.engine for t in timings}
    for t in timings:
        assert t.execution_s is not None
        assert SLEEP_S <= t.execution_s < SLEEP_S + 1.0
        assert t.total_s >= t.execution_s  # one host: the worker's run is inside the call
        assert t.queue_wait_s == pytest.approx(t.total_s - t.execution_s)
    waits = sorted(t.queue_wait_s or 0.0 for t in timings)
    if waves > 1:
        # The last wave waited for the waves before it: at least one sleep (less a margin).
        assert waits[-1] >= SLEEP_S * 0.8
        assert waits[-1] > max(t.execution_s or 0.0 for t in timings) - SLEEP_S


@pytest.mark.celery
async def test_celery_reports_execution_and_queue_wait_per_batch(
    celery_engine: ExecutionEngine,
) -> None:
    """Concurrency 2, six batches at once: three waves; the worker measured each run."""
    with timing.collect() as timings:
        results = await celery_engine.map_batches(
            [SLEEP_S] * BATCHES, celery_tasks.slow, 1, BATCHES, CallOptions(worker_id="equiv")
        )
    assert BATCHES == len(results)  # celery_tasks.slow returns when it finished
    _check_split(timings, "celery", waves=3)


async def test_ray_reports_execution_and_queue_wait_per_batch(
    ray_engine: ExecutionEngine,
) -> None:
    """As many waves as the local Ray's CPUs need; the Ray worker measured each run."""
    info: Any = getattr(ray_engine, "_info", None)
    cpus = max(1, int(info.cpus if info is not None else 1))
    with timing.collect() as timings:
        results = await ray_engine.map_batches(
            [SLEEP_S] * BATCHES, ray_tasks.slow, 1, BATCHES, CallOptions(worker_id="equiv")
        )
    assert [SLEEP_S] * BATCHES == results
    _check_split(timings, "ray", waves=math.ceil(BATCHES / cpus))


async def test_nothing_is_collected_outside_a_collect_block(ray_engine: ExecutionEngine) -> None:
    """Engines report into the caller's block only: a block closed before a call sees none."""
    with timing.collect() as before:
        pass
    await ray_engine.map_batches([0.0], ray_tasks.slow, 1, 1, CallOptions(worker_id="equiv"))
    assert [] == before


def test_summary_and_skewed_or_missing_worker_times() -> None:
    """A worker clock running fast cannot make a wait negative; a missing time is unknown."""
    skewed = BatchTiming("celery", total_s=0.5, execution_s=0.7)
    assert 0.0 == skewed.queue_wait_s
    assert BatchTiming("celery", 0.5, None).queue_wait_s is None
    summary = TimingSummary.of(
        [BatchTiming("ray", 1.0, 0.25), BatchTiming("ray", 2.0, 0.75), BatchTiming("ray", 1, None)]
    )
    assert summary == TimingSummary(batches=3, queue_wait_s=2.0, execution_s=1.0)
    assert (2.0, 1.0) == summary.split(3.0)  # two thirds of the batches' time was waiting
    assert TimingSummary.of([]) is None
    unknown = TimingSummary.of([BatchTiming("ray", 1.0, None)])
    assert TimingSummary(1, None, None) == unknown
    assert (None, None) == unknown.split(1.0)
    assert (0.0, 0.5) == TimingSummary(2, 0.0, 0.0).split(0.5)
    for bad in ("0.3", True, -1.0, float("nan"), float("inf"), None):
        assert timing.worker_execution_s(bad) is None
    assert 0.25 == timing.worker_execution_s(0.25)
