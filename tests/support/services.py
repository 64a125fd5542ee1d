"""Real services for tests: reachability checks and Celery worker subprocesses.

A missing service is a skip on a laptop but a *failure* in CI (``CI`` set), so a test that
needs Redis can never pass in CI by not running.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import pytest

from adapters.celery.worker_process import CeleryWorkerProcess
from tests.support.private_services import session_amqp_url, session_redis

REPO_ROOT = Path(__file__).resolve().parents[2]
IN_CI = bool(os.environ.get("CI"))

# This session's own Redis server and RabbitMQ vhost (tests/support/private_services.py).
TEST_REDIS_HOST, TEST_REDIS_PORT = session_redis()


def redis_test_url(db: int) -> str:
    """A database of this session's Redis; each suite part keeps to its own number."""
    return f"redis://{TEST_REDIS_HOST}:{TEST_REDIS_PORT}/{db}"


TEST_BROKER_URL = os.environ.get("CUTOVER_TEST_BROKER_URL", redis_test_url(10))
TEST_BACKEND_URL = os.environ.get("CUTOVER_TEST_BACKEND_URL", redis_test_url(11))
TEST_AMQP_URL = session_amqp_url()
TEST_AMQP_PORT = 5672
TEST_TASK_MODULES = "tests"


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip (laptop) or fail (CI) when a service the test needs is not reachable."""
    if port_open(host, port):
        return
    message = f"{name} is not reachable on {host}:{port}"
    if IN_CI:
        pytest.fail(f"{message}: CI must provide it (.ci/run starts it)")
    pytest.skip(message)


def celery_worker(
    broker_url: str, backend_url: str, queues: tuple[str, ...], name: str, **kwargs: Any
) -> CeleryWorkerProcess:
    """A Celery worker subprocess set up for the test suite (tests' allow-list, repo path)."""
    return CeleryWorkerProcess(
        broker_url=broker_url,
        backend_url=backend_url,
        queues=queues,
        task_modules=TEST_TASK_MODULES,
        name=name,
        cwd=REPO_ROOT,
        **kwargs,
    )


__all__ = [
    "IN_CI",
    "REPO_ROOT",
    "TEST_AMQP_PORT",
    "TEST_AMQP_URL",
    "TEST_BACKEND_URL",
    "TEST_BROKER_URL",
    "TEST_REDIS_HOST",
    "TEST_REDIS_PORT",
    "TEST_TASK_MODULES",
    "CeleryWorkerProcess",
    "celery_worker",
    "port_open",
    "redis_test_url",
    "require_service",
]
