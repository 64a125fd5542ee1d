"""Shadow records honour the worker's redaction list, in what is actually stored.

A shadowed call whose items and outputs carry a password, on a real Celery candidate that
answers differently (so the record has diff lines) and one that fails with the password in
its message; the records go to a real JSON-lines recorder and its files are read back as
text: the password is nowhere, the redacted path still is.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import compat
import flags
from compat.shadow.recorders import JsonlShadowRecorder
from compat.shadow.records import CANDIDATE_ERROR, MISMATCH
from compat.shadow.runner import ShadowRunner
from tests.compat import shadow_tasks
from tests.compat.conftest import SetFlags
from tests.security import security_tasks

pytestmark = [pytest.mark.celery, pytest.mark.usefixtures("live_engines")]

SECRET = "hunter2-very-secret"
WORKER = "equiv"
"""Its queue, cutover.equiv, is the one the session's Celery worker consumes."""


@pytest.fixture(autouse=True)
def caller_pid() -> Iterator[None]:
    """Mark this process as the caller: the tasks answer differently in workers."""
    shadow_tasks.CALLER_PID = os.getpid()
    yield
    shadow_tasks.CALLER_PID = None


@pytest.mark.parametrize(
    ("func", "outcome"),
    [
        (security_tasks.secret_differs_in_worker, MISMATCH),
        (security_tasks.secret_in_worker_error, CANDIDATE_ERROR),
    ],
)
async def test_stored_shadow_records_never_contain_a_redacted_value(
    set_flags: SetFlags, tmp_path: Path, func: Any, outcome: str
) -> None:
    """Items, diffs and candidate errors are stored with the password redacted."""
    recorder = JsonlShadowRecorder(tmp_path)
    runner = ShadowRunner(recorder=recorder)
    config = flags.ShadowConfig(route="celery", sample=1.0, timeout_s=30.0, redact=("password",))
    set_flags({WORKER: flags.FlagRecord(route="legacy", shadow=config)}, shadows=runner)
    items = [{"user": "ann", "password": SECRET}]
    optimizer = compat.AsyncWorkerOptimizer(worker_id=WORKER)
    primary = await optimizer.optimize_batch_processing(items, func, 1, 1)
    assert await runner.drain(60) == 0
    assert recorder.flush(10)
    recorder.close()

    stored = recorder.path(WORKER).read_text()
    [record] = recorder.read(WORKER)
    assert outcome == record.outcome
    assert SECRET not in stored
    assert "password" in stored
    assert primary == ([items[0]] if outcome == MISMATCH else ["ann"])
