"""Fixtures of the tooling tests: one real prefork ``celery worker`` on databases of their
own, and cutover's app configured for them (as ``celery -A adapters.celery.app`` builds it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.celery.settings import CelerySettings
from tests.support.services import (
    TEST_REDIS_HOST,
    TEST_REDIS_PORT,
    CeleryWorkerProcess,
    celery_worker,
    require_service,
)
from tests.tooling.support import (
    TOOLING_BACKEND_URL,
    TOOLING_BROKER_URL,
    TOOLING_QUEUE,
    WORKER_NAME,
)


def flush(url: str) -> None:
    """Empty one Redis database."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


@pytest.fixture(scope="session")
def tooling_worker(worker_logs: Path) -> Iterator[CeleryWorkerProcess]:
    """A real prefork worker consuming ``cutover.tooling`` and ``cutover.default``."""
    require_service("Redis", TEST_REDIS_HOST, TEST_REDIS_PORT)
    flush(TOOLING_BROKER_URL)
    flush(TOOLING_BACKEND_URL)
    worker = celery_worker(
        TOOLING_BROKER_URL,
        TOOLING_BACKEND_URL,
        (TOOLING_QUEUE, "cutover.default"),
        WORKER_NAME,
        extra_env={"CUTOVER_LOG_LEVEL": "INFO"},
    )
    worker.start(worker_logs)
    yield worker
    worker.stop()
    flush(TOOLING_BROKER_URL)
    flush(TOOLING_BACKEND_URL)


@pytest.fixture(scope="session")
def tooling_app() -> Iterator[Any]:
    """cutover's Celery app on the tooling databases (the caller's side of the tools)."""
    from adapters.celery.app import create_app

    settings = CelerySettings(broker_url=TOOLING_BROKER_URL, result_backend=TOOLING_BACKEND_URL)
    settings.check()
    app = create_app(settings)
    yield app
    app.close()
