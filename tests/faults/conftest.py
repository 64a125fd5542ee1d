"""Fixtures of the fault suite: dedicated workers and engines that a test may hurt.

A fault test never stops the session's workers or the machine's Redis: it starts its own
``celery worker`` (on its own queue, sometimes its own ``redis-server``) and breaks that one.
Workers of these tests use a short task time limit and visibility timeout, so a batch whose
worker was SIGKILLed on a Redis broker comes back within seconds instead of minutes.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from adapters.celery.engine import CeleryEngine
from adapters.celery.settings import CelerySettings, queue_for_worker
from adapters.celery.worker_process import CeleryWorkerProcess
from tests.compat.conftest import set_flags
from tests.faults import fault_tasks
from tests.support.services import celery_worker

FAST_REDELIVERY_ENV = {
    "CUTOVER_TASK_TIME_LIMIT": "5",
    "CUTOVER_VISIBILITY_TIMEOUT": "6",
}
"""Batches of these tests take about a second; a dead consumer's batch is back after ~7 s."""

StartWorker = Callable[..., CeleryWorkerProcess]

__all__ = ["FAST_REDELIVERY_ENV", "StartWorker", "set_flags"]


def unique(prefix: str) -> str:
    """A worker id, key or queue name that no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def fast_settings(broker_url: str, backend_url: str) -> CelerySettings:
    """Client settings matching :data:`FAST_REDELIVERY_ENV`."""
    settings = CelerySettings(
        broker_url=broker_url,
        result_backend=backend_url,
        task_time_limit=5.0,
        visibility_timeout=6.0,
        result_timeout=60.0,
    )
    settings.check()
    return settings


@pytest.fixture
def start_worker(worker_logs: Path) -> Iterator[StartWorker]:
    """Start dedicated workers; every one still running is stopped at the end of the test."""
    started: list[CeleryWorkerProcess] = []

    def start(broker_url: str, backend_url: str, worker_id: str, name: str) -> CeleryWorkerProcess:
        worker = celery_worker(
            broker_url,
            backend_url,
            (queue_for_worker(worker_id),),
            name,
            concurrency=2,
            extra_env=FAST_REDELIVERY_ENV,
        )
        started.append(worker)
        worker.start(worker_logs)
        return worker

    yield start
    for worker in started:
        worker.stop(timeout_s=10)
    amqp_queues = {
        (w.broker_url, q) for w in started if w.broker_url.startswith("amqp") for q in w.queues
    }
    for broker_url, queue in amqp_queues:
        delete_amqp_queue(broker_url, queue)


def delete_amqp_queue(broker_url: str, queue: str) -> None:
    """Remove a test's durable queue from RabbitMQ (Celery never deletes queues)."""
    import kombu

    with kombu.Connection(broker_url) as connection:
        channel = connection.channel()
        try:
            channel.queue_delete(queue)
        finally:
            channel.close()


@pytest.fixture
async def make_engine() -> AsyncIterator[Callable[[str, str], CeleryEngine]]:
    """Celery engines on a given broker and backend, closed at the end of the test."""
    engines: list[CeleryEngine] = []

    def make(broker_url: str, backend_url: str) -> CeleryEngine:
        engine = CeleryEngine(fast_settings(broker_url, backend_url))
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        await engine.close()


@pytest.fixture
def coordination_keys() -> Iterator[Callable[[str], str]]:
    """Fresh coordination keys, deleted at the end of the test."""
    keys: list[str] = []

    def make(prefix: str) -> str:
        key = unique(prefix)
        keys.append(key)
        return key

    yield make
    client = fault_tasks.coordination()
    for key in keys:
        client.delete(key, f"{key}:started")
