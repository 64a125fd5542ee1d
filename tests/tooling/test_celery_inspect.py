"""``celery inspect`` / ``celery control`` against a real worker of cutover's app.

Control replies used to go through the app's strict task serializer: ``inspect stats``
answered "No nodes replied" and the worker logged an ``EncodeError`` about a ``Counter``.
They now go as plain JSON, while task messages keep the strict typed JSON.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from adapters.codec import CONTENT_TYPE, SERIALIZER_NAME
from tests.support.services import CeleryWorkerProcess
from tests.tooling.support import NODE, celery_cli

pytestmark = pytest.mark.celery


@pytest.mark.parametrize("app", ["adapters.celery.app", "cutover.celery_app"])
def test_celery_inspect_stats_answers_with_the_worker_stats(
    tooling_worker: CeleryWorkerProcess, app: str
) -> None:
    """``celery -A APP inspect stats --json``, with the engine's app and the deployment's:
    our node replies with its pool and counters, and the worker logs no EncodeError (the
    reply used to fail to encode)."""
    done = celery_cli("inspect", "stats", "--json", "--timeout", "10", "-d", NODE, app=app)
    assert 0 == done.returncode, (done.stdout, done.stderr)
    replies: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert [NODE] == list(replies)
    stats = replies[NODE]
    assert 2 == stats["pool"]["max-concurrency"]
    assert {"total", "broker"} <= set(stats)
    assert "EncodeError" not in tooling_worker.log_text()


def test_the_apps_control_api_gets_stats_and_pings(
    tooling_worker: CeleryWorkerProcess, tooling_app: Any
) -> None:
    """The Python control API of the app (what Flower uses) gets the same replies."""
    inspect = tooling_app.control.inspect(timeout=10, destination=[NODE])
    stats = inspect.stats()
    assert {"pid", "pool", "total"} <= set((stats or {}).get(NODE, {}))
    assert [{NODE: {"ok": "pong"}}] == tooling_app.control.ping(destination=[NODE], timeout=10)


def test_task_messages_stay_strict(tooling_app: Any) -> None:
    """Only the control channel learned plain JSON: tasks are still sent and accepted as our
    typed JSON and nothing else (pickle or plain JSON task messages stay refused)."""
    assert SERIALIZER_NAME == tooling_app.conf.task_serializer
    assert [SERIALIZER_NAME, CONTENT_TYPE] == list(tooling_app.conf.accept_content)
    assert "json" == tooling_app.control.mailbox.serializer
