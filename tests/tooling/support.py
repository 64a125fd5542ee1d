"""What the tooling tests share: their own broker and backend databases, the worker's
queues, and running the ``celery`` command line against cutover's app."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.support.services import REPO_ROOT, TEST_TASK_MODULES, redis_test_url

TOOLING_BROKER_URL = redis_test_url(8)
TOOLING_BACKEND_URL = redis_test_url(9)
"""Databases of these tests only: nothing else of the session consumes or flushes them."""
CUTOVER = str(Path(sys.executable).with_name("cutover"))
"""The ``cutover`` console script of this environment."""
TOOLING_QUEUE = "cutover.tooling"
WORKER_NAME = "tooling"
NODE = f"{WORKER_NAME}@{socket.gethostname()}"
"""The Celery node name of the tooling worker, as ``celery inspect -d`` takes it."""


def tooling_env(**extra: str) -> dict[str, str]:
    """The environment of a ``celery`` / ``cutover`` subprocess: our broker, backend and
    allow-list, this checkout first on the path."""
    env = dict(os.environ)
    env.update(
        {
            "CUTOVER_BROKER_URL": TOOLING_BROKER_URL,
            "CUTOVER_RESULT_BACKEND": TOOLING_BACKEND_URL,
            "CUTOVER_TASK_MODULES": TEST_TASK_MODULES,
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p
            ),
        }
    )
    env.update(extra)
    return env


def celery_cli(
    *argv: str, timeout_s: float = 60.0, app: str = "adapters.celery.app"
) -> subprocess.CompletedProcess[str]:
    """Run ``celery -A APP ARGV`` (Celery's own command line)."""
    return subprocess.run(
        [sys.executable, "-m", "celery", "-A", app, *argv],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env=tooling_env(),
        cwd=REPO_ROOT,
    )


__all__ = [
    "CUTOVER",
    "NODE",
    "TOOLING_BACKEND_URL",
    "TOOLING_BROKER_URL",
    "TOOLING_QUEUE",
    "WORKER_NAME",
    "celery_cli",
    "free_port",
    "tooling_env",
]


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
