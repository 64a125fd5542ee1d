"""A shadow candidate that crashes its engine's worker or floods its memory changes nothing
for the caller: the primary's result, and its latency within a bound far below the
candidate's own time.

The primary is legacy (in the caller); the candidate runs on the session's real Ray. A
candidate that hangs is covered by
``tests/compat/test_shadow_mode.py::test_candidate_that_hangs_is_cut_off_and_the_caller_does_not_wait``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import psutil
import pytest

import compat
import flags
from adapters.base import ExecutionEngine
from compat.shadow.recorders import MemoryShadowRecorder
from compat.shadow.records import CANDIDATE_ERROR, MATCH
from compat.shadow.runner import ShadowRunner
from tests.adapters import equiv_tasks
from tests.compat import shadow_tasks
from tests.compat.conftest import SetFlags
from tests.faults import fault_tasks

pytestmark = [pytest.mark.faults, pytest.mark.usefixtures("live_engines")]

WORKER = "shadow-faults"
PRIMARY_BOUND_S = 1.0
"""The caller's call takes well under this; the candidate takes seconds."""
CALLER_RSS_BOUND = 64 * 1024 * 1024
DRAIN_S = 90.0


@pytest.fixture(autouse=True)
def caller_pid() -> Iterator[None]:
    """Mark this process as the caller: the task functions misbehave only in workers."""
    shadow_tasks.CALLER_PID = os.getpid()
    yield
    shadow_tasks.CALLER_PID = None


def shadowed_on_ray(set_flags: SetFlags, recorder: MemoryShadowRecorder) -> ShadowRunner:
    """Flags: primary legacy, every call shadowed on Ray."""
    runner = ShadowRunner(recorder=recorder)
    config = flags.ShadowConfig(route="ray", sample=1.0, timeout_s=60.0)
    set_flags({WORKER: flags.FlagRecord(route="legacy", shadow=config)}, shadows=runner)
    return runner


async def timed_call(func: Any) -> tuple[list[int], float]:
    """One call of the worker: its result and how long the caller waited."""
    optimizer = compat.AsyncWorkerOptimizer(worker_id=WORKER)
    started = time.perf_counter()
    result: list[int] = await optimizer.optimize_batch_processing([1, 2, 3], func, 2, 2)
    return result, time.perf_counter() - started


async def test_candidate_that_crashes_its_worker_changes_nothing_for_the_caller(
    set_flags: SetFlags, ray_engine: ExecutionEngine
) -> None:
    """Every attempt SIGKILLs its Ray worker: the caller gets legacy's result at once."""
    recorder = MemoryShadowRecorder()
    runner = shadowed_on_ray(set_flags, recorder)

    result, waited = await timed_call(fault_tasks.crashes_its_worker)
    assert [2, 4, 6] == result
    assert waited < PRIMARY_BOUND_S

    assert 0 == await runner.drain(DRAIN_S)
    [record] = recorder.read(WORKER)
    assert CANDIDATE_ERROR == record.outcome
    assert [4, 6] == await ray_engine.map_batches([2, 3], equiv_tasks.double, 1, 2)


async def test_candidate_that_floods_memory_changes_nothing_for_the_caller(
    set_flags: SetFlags,
) -> None:
    """The candidate touches 256 MiB in its worker: the caller neither waits nor grows."""
    recorder = MemoryShadowRecorder()
    runner = shadowed_on_ray(set_flags, recorder)
    rss_before = psutil.Process().memory_info().rss

    result, waited = await timed_call(fault_tasks.floods_memory_in_worker)
    assert [2, 4, 6] == result
    assert waited < PRIMARY_BOUND_S

    assert 0 == await runner.drain(DRAIN_S)
    [record] = recorder.read(WORKER)
    assert MATCH == record.outcome
    assert record.candidate_latency_s is not None
    assert record.candidate_latency_s > waited
    assert psutil.Process().memory_info().rss - rss_before < CALLER_RSS_BOUND
