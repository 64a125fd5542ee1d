"""A Ray worker process is killed from outside (``kill -9``) in the middle of a batch.

The first item of the call publishes the pid of the Ray worker running its batch and waits;
the test kills that process. Ray re-runs the batch on a fresh worker (``max_retries``) and
the call returns every item exactly once, correct and in order. (A worker that kills itself
is covered in ``tests/adapters/test_ray_engine.py``.)
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable

import psutil
import pytest

from adapters.base import CallOptions, ExecutionEngine
from tests.faults import fault_tasks
from tests.support.services import TEST_REDIS_HOST, TEST_REDIS_PORT, require_service
from tests.support.waiting import until

pytestmark = [pytest.mark.faults, pytest.mark.ray]

ITEMS = 8


async def test_ray_worker_killed_mid_batch_is_retried_and_loses_nothing(
    ray_engine: ExecutionEngine, coordination_keys: Callable[[str], str]
) -> None:
    """kill -9 of the Ray worker running a batch: retried, complete and correct result."""
    require_service("Redis", TEST_REDIS_HOST, TEST_REDIS_PORT)
    key = coordination_keys("ray-kill")
    items = [(key, value) for value in range(ITEMS)]
    options = CallOptions(worker_id="ray-faults", call_id=key, timeout_s=90)
    call = asyncio.create_task(
        ray_engine.map_batches(items, fault_tasks.pid_then_wait, 4, 2, options)
    )
    coordination = fault_tasks.coordination()
    await until(lambda: coordination.get(key) is not None, 60, "the Ray worker's pid")
    victim = int(coordination.get(key) or 0)
    assert victim != os.getpid()

    os.kill(victim, signal.SIGKILL)
    result = await asyncio.wait_for(call, 90)

    assert [value * 2 for value in range(ITEMS)] == result
    assert not psutil.pid_exists(victim) or psutil.Process(victim).status() == psutil.STATUS_ZOMBIE
