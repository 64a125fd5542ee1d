"""What Celery's own tools show of a batch: a summary, never the items or the results.

A real worker, a batch whose items carry a secret, and the tools an operator uses:
``celery inspect active`` while it runs, ``celery events --dump`` (the event stream Flower
reads) and the worker's log. Before, all three showed the raw items or results.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from adapters.celery.tasks import RUN_BATCH
from tests.support.services import REPO_ROOT, CeleryWorkerProcess
from tests.support.waiting import until_sync
from tests.tooling.support import NODE, TOOLING_QUEUE, celery_cli, tooling_env

pytestmark = pytest.mark.celery

HOLD = "tests.tooling.tooling_tasks:hold"


def secret_items(hold_s: float) -> tuple[str, list[dict[str, Any]]]:
    """A fresh secret and three items carrying it (what must never be shown)."""
    secret = f"card-{uuid.uuid4().hex}"
    return secret, [{"card": secret, "hold_s": hold_s} for _ in range(3)]


def send(app: Any, items: list[dict[str, Any]]) -> Any:
    """A batch sent the way any Celery client sends it, with no ``argsrepr`` of ours: the
    worker must summarise by itself."""
    options = {"worker": "billing", "call_id": uuid.uuid4().hex}
    return app.send_task(
        RUN_BATCH, args=(HOLD, items, options), queue=TOOLING_QUEUE, routing_key=TOOLING_QUEUE
    )


def test_inspect_active_shows_a_summary_of_the_running_batch(
    tooling_worker: CeleryWorkerProcess, tooling_app: Any
) -> None:
    """``celery inspect active`` while the batch runs: the reference, the item count and
    shapes, worker and call id; the secret nowhere."""
    secret, items = secret_items(hold_s=4.0)
    sent = send(tooling_app, items)
    active: list[dict[str, Any]] = []

    def running() -> bool:
        done = celery_cli("inspect", "active", "--json", "--timeout", "5", "-d", NODE)
        assert 0 == done.returncode, done.stderr
        replies = json.loads(done.stdout.strip().splitlines()[-1])
        active[:] = [task for task in replies[NODE] if task["id"] == sent.id]
        return bool(active)

    until_sync(running, 30, "the batch to show in inspect active")
    [task] = active
    assert secret not in json.dumps(task)
    assert task["args"].startswith(f"('{HOLD}', <list of 3 items: dict(2 keys), ")
    assert "worker='billing'" in task["args"]
    assert "message " in task["args"]
    sent.get(timeout=60)


def test_events_and_the_worker_log_show_summaries(
    tooling_worker: CeleryWorkerProcess, tooling_app: Any, tmp_path: Path
) -> None:
    """``celery events --dump`` sees task-received with the argument summary and
    task-succeeded with a result summary; the worker's success line has the summary too."""
    dump_path = tmp_path / "events.txt"
    tooling_app.control.enable_events(destination=[NODE])
    with dump_path.open("wb") as dump_file:
        dump = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "adapters.celery.app", "events", "--dump"],
            cwd=REPO_ROOT,
            env=tooling_env(),
            stdout=dump_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        until_sync(lambda: "-> evdump" in dump_path.read_text(), 30, "celery events to listen")
        time.sleep(1)  # the dump's consumer is bound once its banner is out; a margin
        secret, items = secret_items(hold_s=0.0)
        sent = send(tooling_app, items)
        assert items == sent.get(timeout=60)  # the caller still gets the real result
        until_sync(
            lambda: (
                f"task succeeded: {RUN_BATCH}" in dump_path.read_text()
                and sent.id in dump_path.read_text()
            ),
            30,
            "the task-succeeded event",
        )
    finally:
        tooling_app.control.disable_events(destination=[NODE])
        dump.terminate()
        dump.wait(15)
    events = dump_path.read_text()
    assert secret not in events
    assert f"('{HOLD}', <list of 3 items: dict(2 keys)" in events
    assert "<list of 3 items: dict(2 keys), dict(2 keys), dict(2 keys)>" in events
    log = tooling_worker.log_text()
    assert secret not in log
    assert f"{sent.id}] succeeded in" in log
    assert "<list of 3 items: dict(2 keys), dict(2 keys), dict(2 keys)>" in log
