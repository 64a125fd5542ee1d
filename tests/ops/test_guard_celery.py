"""The guard shipped with the Celery app: the task, its Beat schedule, and a real Beat and a
real worker rolling a worker back."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.celery.settings import DEFAULT_QUEUE
from cutover.ops.guard_settings import GUARD_ACTOR, GUARD_TASK, GuardSettings
from cutover.ops.guard_task import SCHEDULE_ENTRY, beat_schedule
from flags import FlagRecord, FlagStore, ShadowConfig
from tests.flags.services import require_redis
from tests.ops.support import WriteRecords, outcomes
from tests.support.services import REPO_ROOT, TEST_TASK_MODULES, CeleryWorkerProcess, redis_test_url

GUARD_BROKER_URL = redis_test_url(14)
GUARD_BACKEND_URL = redis_test_url(15)
"""A broker of these tests alone: the session's Celery worker (databases 10/11) also consumes
``cutover.default`` and must not take the guard passes meant for the worker started here."""


def test_the_app_registers_the_guard_task_and_ships_its_beat_schedule() -> None:
    """``celery -A cutover.celery_app beat`` finds one guard pass per interval to send, on the
    engine module's own app (one Celery app per process, not two with the same name)."""
    import adapters.celery.app
    from cutover.celery_app import app

    assert adapters.celery.app.app is app

    assert GUARD_TASK in app.tasks
    entry = app.conf.beat_schedule[SCHEDULE_ENTRY]
    interval = GuardSettings.from_env().interval_s
    assert (GUARD_TASK, interval) == (entry["task"], entry["schedule"])
    assert {"queue": DEFAULT_QUEUE, "expires": interval} == entry["options"]
    assert 5.0 == beat_schedule(GuardSettings(interval_s=5.0))[SCHEDULE_ENTRY]["schedule"]


def test_the_engine_app_knows_nothing_of_the_guard() -> None:
    """The engine's own app registers the worker tasks only: the guard (flags, shadow records,
    rollbacks) belongs to the roof, and the engine layer must not import it."""
    from adapters.celery.app import create_app
    from adapters.celery.tasks import RUN_BATCH

    engine_app = create_app()
    assert RUN_BATCH in engine_app.tasks
    assert GUARD_TASK not in engine_app.tasks
    assert SCHEDULE_ENTRY not in (engine_app.conf.beat_schedule or {})


def test_importing_the_app_does_not_import_ray() -> None:
    """The guard's task module keeps the Celery app free of Ray (a fresh interpreter)."""
    code = "import sys, cutover.celery_app; print('ray' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, check=True
    )
    assert "False" == result.stdout.strip()


@pytest.fixture
def guard_broker() -> Iterator[str]:
    """Flushed broker and backend databases of these tests."""
    clients = [require_redis(GUARD_BROKER_URL), require_redis(GUARD_BACKEND_URL)]
    yield GUARD_BROKER_URL
    for client in clients:
        client.flushdb()
        client.close()


@pytest.mark.celery
@pytest.mark.slow
def test_beat_and_a_worker_roll_a_bad_worker_back(
    store: FlagStore,
    redis_url: str,
    write_records: WriteRecords,
    guard_broker: str,
    tmp_path: Path,
) -> None:
    """Beat sends ``cutover.guard`` every second; a real worker runs it against the real flag
    store and rolls the worker back as auto-guard, with the numbers in the audit trail."""
    store.put(
        "billing",
        FlagRecord(
            route="celery",
            percent=50,
            shadow=ShadowConfig(route="celery", min_comparisons=100, max_mismatch_rate=0.01),
        ),
        expected_version=0,
        actor="alice",
        reason="halfway",
    )
    time.sleep(0.35)  # the records (spread over the 0.2 s before `at`) follow the flag change
    write_records("billing", outcomes(match=160, mismatch=40), at=time.time())
    env = {
        "CUTOVER_FLAGS_URL": redis_url,
        "CUTOVER_GUARD_INTERVAL_S": "1",
        "CUTOVER_GUARD_WINDOW_S": "120",
    }
    worker = CeleryWorkerProcess(
        broker_url=guard_broker,
        backend_url=GUARD_BACKEND_URL,
        queues=(DEFAULT_QUEUE,),
        task_modules=TEST_TASK_MODULES,
        concurrency=1,
        name="guard",
        cwd=REPO_ROOT,
        extra_env=env,
        app="cutover.celery_app",
    )
    worker.start(tmp_path)
    beat_log = tmp_path / "beat.log"
    options = ("--schedule", str(tmp_path / "beat-schedule"), "--loglevel", "INFO")
    with beat_log.open("wb") as log:
        beat = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "cutover.celery_app", "beat", *options],
            cwd=REPO_ROOT,
            env=worker.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while store.get("billing").percent != 0.0 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        beat.terminate()
        beat.wait(20)
        worker.stop()
    record = store.get("billing")
    assert 0.0 == record.percent, beat_log.read_text() + worker.log_text()
    entry = store.history("billing")[-1]
    assert (GUARD_ACTOR, "rollback") == (entry.actor, entry.action)
    assert "mismatch rate (noise-corrected): 20.00% (40 of 200 comparisons): at least" in (
        entry.reason
    )
    assert GUARD_TASK in beat_log.read_text()
