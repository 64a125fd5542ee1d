"""The README walkthrough's worker keeps working: it runs where its flags say.

The full walkthrough (``examples/cutover_week.sh``, about four minutes with a local Ray) is
not run here; its commands are the CLI's, tested in ``tests/cli`` and ``tests/ops``. This
runs the worker itself, on a private file flag store, once on legacy and once with its
calls routed to Celery by the store, as ``cutover flags set`` would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.celery.worker_process import CeleryWorkerProcess
from tests.support.services import (
    REPO_ROOT,
    TEST_BACKEND_URL,
    TEST_BROKER_URL,
    TEST_REDIS_HOST,
    TEST_REDIS_PORT,
    require_service,
)

pytestmark = pytest.mark.celery

WORKER_SCRIPT = REPO_ROOT / "examples" / "billing_worker.py"
CUTOVER = Path(sys.executable).with_name("cutover")


def run(argv: list[str], env: dict[str, str]) -> str:
    """Run a command; its stdout (the test fails with stderr's tail if it failed)."""
    done = subprocess.run(argv, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert 0 == done.returncode, done.stderr[-2000:]
    return done.stdout


def test_the_billing_worker_runs_where_its_flags_say(tmp_path: Path) -> None:
    """Legacy by default; after ``flags set --route celery`` every call runs on Celery (a
    Celery worker of its own consumes ``cutover.billing`` with the demo's allow-list)."""
    require_service("Redis", TEST_REDIS_HOST, TEST_REDIS_PORT)
    env = {
        **os.environ,
        "CUTOVER_FLAGS_URL": f"file://{tmp_path / 'flags.json'}",
        "CUTOVER_TASK_MODULES": "cutover.demo",
        "CUTOVER_BROKER_URL": TEST_BROKER_URL,
        "CUTOVER_RESULT_BACKEND": TEST_BACKEND_URL,
        "CUTOVER_CALL_LOG_LEVEL": "debug",
    }
    worker = [sys.executable, str(WORKER_SCRIPT), "--calls", "6", "--rate", "200"]
    assert "ran on: {'legacy': 6}" in run(worker, env)
    run([str(CUTOVER), "flags", "set", "billing", "--route", "celery", "--reason", "t"], env)
    celery = CeleryWorkerProcess(
        broker_url=TEST_BROKER_URL,
        backend_url=TEST_BACKEND_URL,
        queues=("cutover.billing",),
        task_modules="cutover.demo",
        name="billing-example",
        cwd=REPO_ROOT,
    )
    celery.start(tmp_path / "logs")
    try:
        assert "ran on: {'celery': 6}" in run(worker, env)
    finally:
        celery.stop()
