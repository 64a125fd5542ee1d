"""The whole Celery worker goes down in the middle of a call and comes back.

Each test starts a dedicated prefork worker on its own queue, starts a call of six batches,
waits until a batch is running, then stops the worker — a warm shutdown (SIGTERM) or a hard
kill of the main process and its children (SIGKILL to the process group) — and starts a new
worker on the same queue. The call must return every item exactly once, correct and in order.

A killed child alone (the pool's main process survives) is covered, on both brokers, by
``tests/adapters/test_celery_engine.py::test_killed_worker_child_loses_nothing``.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable

import pytest

from adapters.base import CallOptions
from adapters.celery.engine import CeleryEngine
from tests.faults import fault_tasks
from tests.faults.conftest import StartWorker, unique
from tests.support.services import (
    TEST_AMQP_PORT,
    TEST_AMQP_URL,
    TEST_BACKEND_URL,
    TEST_BROKER_URL,
    TEST_REDIS_HOST,
    TEST_REDIS_PORT,
    require_service,
)
from tests.support.waiting import until

pytestmark = [pytest.mark.faults, pytest.mark.celery]

ITEMS = 12
BATCH_SIZE = 2
CALL_TIMEOUT_S = 60.0
BROKERS = {"redis": TEST_BROKER_URL, "amqp": TEST_AMQP_URL}


def stop_warm(worker_pid: int) -> None:
    """SIGTERM: Celery's warm shutdown (running batches finish, the rest go back)."""
    os.kill(worker_pid, signal.SIGTERM)


def kill_hard(worker_pid: int) -> None:
    """SIGKILL to the worker's process group: the main process and every pool child."""
    os.killpg(worker_pid, signal.SIGKILL)


@pytest.mark.parametrize(
    ("broker", "stop"),
    [
        pytest.param("redis", stop_warm, id="redis-sigterm"),
        pytest.param("redis", kill_hard, id="redis-sigkill"),
        pytest.param("amqp", kill_hard, id="amqp-sigkill"),
    ],
)
async def test_worker_stopped_and_restarted_during_a_call_loses_nothing(
    broker: str,
    stop: Callable[[int], None],
    start_worker: StartWorker,
    make_engine: Callable[[str, str], CeleryEngine],
    coordination_keys: Callable[[str], str],
) -> None:
    """Stop the worker while a batch runs, start another: the result is complete and right."""
    require_service("Redis", TEST_REDIS_HOST, TEST_REDIS_PORT)
    if broker == "amqp":
        require_service("RabbitMQ", "127.0.0.1", TEST_AMQP_PORT)
    worker_id = unique(f"fault-{broker}")
    key = coordination_keys("restart")
    broker_url = BROKERS[broker]
    first = start_worker(broker_url, TEST_BACKEND_URL, worker_id, f"{worker_id}-1")
    engine = make_engine(broker_url, TEST_BACKEND_URL)
    items = [(key, value) for value in range(ITEMS)]
    options = CallOptions(worker_id=worker_id, call_id=key, timeout_s=CALL_TIMEOUT_S)
    call = asyncio.create_task(
        engine.map_batches(items, fault_tasks.slow_step, BATCH_SIZE, ITEMS, options)
    )
    started = fault_tasks.coordination()
    await until(lambda: int(started.get(f"{key}:started") or 0) >= 1, 30, "a running batch")

    stop(first.pid)
    await asyncio.to_thread(first.process.wait, 30)  # type: ignore[union-attr]
    assert not call.done(), "the call finished before the fault: nothing was tested"

    await asyncio.to_thread(start_worker, broker_url, TEST_BACKEND_URL, worker_id, f"{worker_id}-2")
    result = await asyncio.wait_for(call, CALL_TIMEOUT_S)

    assert [value * 3 for value in range(ITEMS)] == result
