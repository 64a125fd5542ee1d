"""Real Flower (``celery -A adapters.celery.app flower``) on a real worker of cutover's app,
queried over HTTP as an operator's browser or script would.

Before: the worker page was 404 (no stats: control replies failed to encode) and
``/api/task/result/<id>`` was 503 (Flower looks results up on Celery's *current* app, and
ours was never made current, so it found the fallback app without a result backend).
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.celery.tasks import RUN_BATCH
from tests.support.services import REPO_ROOT, CeleryWorkerProcess
from tests.support.waiting import until_sync
from tests.tooling.support import NODE, TOOLING_QUEUE, free_port, tooling_env

pytestmark = pytest.mark.celery


class Flower:
    """A Flower subprocess on a free port of 127.0.0.1."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.log_path = log_dir / "flower.log"
        argv = [sys.executable, "-m", "celery", "-A", "adapters.celery.app", "flower"]
        argv += [f"--port={self.port}", "--address=127.0.0.1"]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                argv,
                cwd=REPO_ROOT,
                # Flower 2 serves its API only with authentication, or when told not to.
                env=tooling_env(FLOWER_UNAUTHENTICATED_API="true"),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def get(self, path: str, timeout_s: float = 30.0) -> tuple[int, bytes]:
        """``GET path``: the status and the body (an HTTP error status is returned, not raised)."""
        url = f"http://127.0.0.1:{self.port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as response:
                return int(response.status), bytes(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def answers(self) -> bool:
        """True once the HTTP server is up (and the process still runs)."""
        assert self.process.poll() is None, self.log()
        try:
            return self.get("/healthcheck", timeout_s=2)[0] == 200
        except OSError:
            return False

    def log(self) -> str:
        """What Flower printed."""
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """Terminate this Flower (and only it), then wait for it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@pytest.fixture(scope="module")
def flower(tooling_worker: CeleryWorkerProcess, worker_logs: Path) -> Iterator[Flower]:
    """Flower on cutover's app, started after the tooling worker."""
    started = Flower(worker_logs)
    try:
        until_sync(started.answers, 60, "Flower's HTTP server")
        yield started
    finally:
        started.stop()


def get_json(flower: Flower, path: str) -> Any:
    """``GET path`` that must answer 200 with JSON."""
    status, body = flower.get(path)
    assert 200 == status, (path, status, body[:500], flower.log()[-2000:])
    return json.loads(body)


def test_flower_shows_the_worker_with_its_stats(flower: Flower) -> None:
    """``/api/workers?refresh=1`` has our node with its stats, and its page is no longer 404."""
    workers = get_json(flower, "/api/workers?refresh=1")
    assert NODE in workers, workers
    assert 2 == workers[NODE]["stats"]["pool"]["max-concurrency"]
    status, body = flower.get(f"/worker/{urllib.parse.quote(NODE)}")
    assert 200 == status, body[:500]
    assert NODE.encode() in body


def test_flower_reads_a_task_result_from_our_backend(flower: Flower, tooling_app: Any) -> None:
    """A batch run by the worker: ``/api/task/result/<id>`` answers 200 with its state and
    result, the same as ``AsyncResult(id, app=app)`` (it was 503)."""
    sent = tooling_app.send_task(
        f"{RUN_BATCH}",
        args=("tests.adapters.equiv_tasks:double", [1, 2, 3], {"worker": "tooling"}),
        queue=TOOLING_QUEUE,
        routing_key=TOOLING_QUEUE,
    )
    assert [2, 4, 6] == tooling_app.AsyncResult(sent.id).get(timeout=60)
    answer = get_json(flower, f"/api/task/result/{sent.id}")
    assert {"task-id": sent.id, "state": "SUCCESS", "result": [2, 4, 6]} == answer


def test_importing_the_app_in_a_host_process_leaves_its_current_app_alone() -> None:
    """Only Celery's command line makes our app current: a production worker that imports it
    for the Celery route keeps its own current app (here pytest's process: Celery's)."""
    from celery import current_app

    from adapters.celery import app as app_module

    assert not app_module.is_celery_command()
    assert not app_module.become_current_for_the_command_line(app_module.app)
    assert current_app._get_current_object() is not app_module.app
