"""Session fixtures: real engines, each backed by real processes (shared by every package).

- ``legacy``: the in-process engine;
- ``celery``: a real ``celery worker`` (prefork, 2 processes) on a Redis broker;
- ``celery-amqp``: the same with RabbitMQ as broker (results still via Redis);
- ``ray``: a real local Ray instance, one per test session.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from adapters.base import ExecutionEngine
from adapters.celery.settings import CelerySettings
from tests.support.services import (
    TEST_AMQP_PORT,
    TEST_AMQP_URL,
    TEST_BACKEND_URL,
    TEST_BROKER_URL,
    TEST_REDIS_HOST,
    TEST_REDIS_PORT,
    CeleryWorkerProcess,
    celery_worker,
    require_service,
)

ENGINE_IDS = ("legacy", "celery", "celery-amqp", "ray")
TEST_QUEUES = ("cutover.default", "cutover.equiv", "cutover.prio")


def _flush_redis_db(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


@pytest.fixture(scope="session")
def worker_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where worker subprocesses write their logs (kept for a failing test's report)."""
    return tmp_path_factory.mktemp("worker-logs")


@pytest.fixture(scope="session")
def celery_redis_worker(worker_logs: Path) -> Iterator[CeleryWorkerProcess]:
    """A real prefork Celery worker on the Redis test broker."""
    require_service("Redis", TEST_REDIS_HOST, TEST_REDIS_PORT)
    _flush_redis_db(TEST_BROKER_URL)
    _flush_redis_db(TEST_BACKEND_URL)
    worker = celery_worker(TEST_BROKER_URL, TEST_BACKEND_URL, TEST_QUEUES, "redis")
    worker.start(worker_logs)
    yield worker
    worker.stop()


@pytest.fixture(scope="session")
def celery_amqp_worker(worker_logs: Path) -> Iterator[CeleryWorkerProcess]:
    """A real prefork Celery worker with RabbitMQ as broker."""
    require_service("Redis", TEST_REDIS_HOST, TEST_REDIS_PORT)
    require_service("RabbitMQ", "127.0.0.1", TEST_AMQP_PORT)
    worker = celery_worker(TEST_AMQP_URL, TEST_BACKEND_URL, TEST_QUEUES, "amqp")
    worker.start(worker_logs)
    yield worker
    worker.stop()


def _celery_settings(broker_url: str) -> CelerySettings:
    settings = CelerySettings(broker_url=broker_url, result_backend=TEST_BACKEND_URL)
    settings.check()
    return settings


@pytest.fixture(scope="session")
async def celery_engine(celery_redis_worker: CeleryWorkerProcess) -> AsyncIterator[ExecutionEngine]:
    """A started Celery engine (Redis broker)."""
    from adapters.celery.engine import CeleryEngine

    engine = CeleryEngine(_celery_settings(TEST_BROKER_URL))
    await engine.start()
    yield engine
    await engine.close()


@pytest.fixture(scope="session")
async def celery_amqp_engine(
    celery_amqp_worker: CeleryWorkerProcess,
) -> AsyncIterator[ExecutionEngine]:
    """A started Celery engine (RabbitMQ broker)."""
    from adapters.celery.engine import CeleryEngine

    engine = CeleryEngine(_celery_settings(TEST_AMQP_URL))
    await engine.start()
    yield engine
    await engine.close()


@pytest.fixture(scope="session")
async def ray_engine() -> AsyncIterator[ExecutionEngine]:
    """A started Ray engine on a local Ray instance (one per session)."""
    from adapters.ray.engine import RayEngine

    engine = RayEngine()
    await engine.start()
    yield engine
    await engine.close()


@pytest.fixture(scope="session")
def legacy_engine() -> ExecutionEngine:
    """The in-process engine."""
    from adapters.legacy.engine import LegacyEngine

    return LegacyEngine()


@pytest.fixture(scope="session", params=ENGINE_IDS)
def engine(request: pytest.FixtureRequest) -> ExecutionEngine:
    """Every engine in turn: the contract suite runs once per engine."""
    fixture_name = {
        "legacy": "legacy_engine",
        "celery": "celery_engine",
        "celery-amqp": "celery_amqp_engine",
        "ray": "ray_engine",
    }[request.param]
    engine: ExecutionEngine = request.getfixturevalue(fixture_name)
    return engine


@pytest.fixture(scope="session")
def live_engines(
    celery_engine: ExecutionEngine, ray_engine: ExecutionEngine
) -> Iterator[dict[str, ExecutionEngine]]:
    """The registry's ``celery`` and ``ray`` are the session's started engines.

    What the shim's router gets from ``get_engine``: real workers behind both.
    """
    from adapters.registry import set_engine

    previous = {
        name: set_engine(name, engine)
        for name, engine in (("celery", celery_engine), ("ray", ray_engine))
    }
    yield {"celery": celery_engine, "ray": ray_engine}
    for name, engine in previous.items():
        set_engine(name, engine)
