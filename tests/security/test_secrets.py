"""Passwords in broker, backend and flag-store URLs never reach a log line or the CLI's output.

A private ``redis-server`` that requires a password is broker, result backend, dead-letter
store and flag store at once. Everything the worker and the caller log while a call runs, a
refused message is dead-lettered and the services fail is collected *as rendered* (the
masking processors ran), together with every CLI output; the password is in none of it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.base import CallOptions
from adapters.celery.dlq import open_dead_letter_store
from adapters.celery.engine import CeleryEngine
from adapters.celery.settings import CelerySettings, queue_for_worker
from adapters.celery.tasks import RUN_BATCH
from adapters.celery.worker_process import CeleryWorkerProcess
from cutover.cli import main
from cutover.errors import EngineUnavailableError
from cutover.logs import configure_logging, mask_text
from flags import FlagTable
from tests.adapters import equiv_tasks
from tests.support.redis_server import RedisServer, free_port
from tests.support.services import celery_worker
from tests.support.waiting import until

pytestmark = pytest.mark.celery

PASSWORD = "s3cr3t-Pa55word-xyz"
WORKER = "secrets"


@pytest.fixture(scope="module")
def locked_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A private redis-server with ``requirepass``."""
    server = RedisServer(tmp_path_factory.mktemp("locked-redis"), password=PASSWORD).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def locked_worker(locked_redis: RedisServer, worker_logs: Path) -> Iterator[CeleryWorkerProcess]:
    """A worker logging at INFO whose broker and backend URLs carry the password."""
    worker = celery_worker(
        locked_redis.url(0),
        locked_redis.url(1),
        (queue_for_worker(WORKER),),
        "secrets",
        extra_env={"CUTOVER_LOG_LEVEL": "INFO"},
    )
    worker.start(worker_logs)
    yield worker
    worker.stop()


@pytest.fixture
def rendered_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    """This process's structlog output, rendered (masked); call ``start_rendering()`` first.

    pytest swaps ``sys.stderr`` between a test's phases, so logging is pointed at the
    captured stderr inside the test, and back at the real one afterwards.
    """
    yield capsys
    with capsys.disabled():
        configure_logging(force=True)


def start_rendering() -> None:
    """Render this process's log lines to the (captured) ``sys.stderr`` of the running test."""
    configure_logging(force=True)


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run ``cutover ARGV`` in-process; everything it printed, stdout and stderr."""
    main(list(argv))
    out, err = capsys.readouterr()
    return out + err


async def test_worker_and_caller_logs_never_show_the_password(
    locked_redis: RedisServer,
    locked_worker: CeleryWorkerProcess,
    rendered_logs: pytest.CaptureFixture[str],
) -> None:
    """A call, a refused message (dead-lettered) and dead services: no log shows it."""
    start_rendering()
    settings = CelerySettings(broker_url=locked_redis.url(0), result_backend=locked_redis.url(1))
    engine = CeleryEngine(settings)
    try:
        assert [2, 4] == await engine.map_batches(
            [1, 2], equiv_tasks.double, 1, 2, CallOptions(worker_id=WORKER, timeout_s=60)
        )
        options = {"worker": WORKER, "call_id": "forged", "retry": {}}
        refused = engine.app.send_task(
            RUN_BATCH, args=("os:system", ["true"], options), queue=queue_for_worker(WORKER)
        )
        with pytest.raises(Exception, match="allow"):
            await asyncio.to_thread(refused.get, timeout=30, propagate=True)
        await until(lambda: "dead_lettered" in locked_worker.log_text(), 30, "the worker's log")
    finally:
        await engine.close()

    dead_port = free_port()
    dead = CeleryEngine(
        CelerySettings(
            broker_url=f"redis://:{PASSWORD}@127.0.0.1:{dead_port}/0",
            result_backend=f"redis://:{PASSWORD}@127.0.0.1:{dead_port}/1",
        )
    )
    with pytest.raises(EngineUnavailableError) as unavailable:
        await dead.map_batches([1], equiv_tasks.double, 1, 1)
    await dead.close()
    table = FlagTable(f"redis://:{PASSWORD}@127.0.0.1:{dead_port}/2", watch=False)
    table.close()

    caller_logs = rendered_logs.readouterr().err
    assert "engine_started" in caller_logs
    assert "flags store unreachable" in caller_logs
    for text in (caller_logs, locked_worker.log_text(), str(unavailable.value)):
        assert PASSWORD not in text
    assert ":***@" in caller_logs


def test_cli_output_never_shows_the_password(
    locked_redis: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """``cutover dlq`` and ``cutover flags`` print masked URLs, and mask URLs in messages."""
    settings = CelerySettings(broker_url=locked_redis.url(0), result_backend=locked_redis.url(1))
    store = open_dead_letter_store(settings)
    try:
        entry_id = store.add(
            reason="retries-exhausted",
            task_name=RUN_BATCH,
            reference="tests.adapters.equiv_tasks:double",
            items=[1],
            options={"worker": WORKER, "call_id": "c1"},
            queue=queue_for_worker(WORKER),
            exc_type="ConnectionError",
            exc_message=f"cannot reach amqp://billing:{PASSWORD}@rabbit.internal//",
            traceback=f"Traceback: ConnectionError: redis://:{PASSWORD}@cache:6379/0 refused",
        )
    finally:
        store.close()
    urls = ("--broker-url", locked_redis.url(0), "--backend-url", locked_redis.url(1))
    outputs = [
        cli(capsys, "dlq", "list", *urls),
        cli(capsys, "dlq", "list", "--json", *urls),
        cli(capsys, "dlq", "show", entry_id, *urls),
        cli(capsys, "dlq", "show", entry_id, "--json", *urls),
        cli(capsys, "flags", "list", "--flags-url", locked_redis.url(3)),
        cli(capsys, "flags", "get", WORKER, "--flags-url", locked_redis.url(3)),
        cli(capsys, "dlq", "list", "--backend-url", f"redis://:{PASSWORD}@127.0.0.1:1/0"),
        cli(capsys, "dlq", "purge", entry_id, *urls),
    ]
    assert entry_id in outputs[0]
    assert "redis://:***@127.0.0.1" in outputs[0]
    assert "amqp://billing:***@rabbit.internal//" in outputs[2]
    assert "redis://:***@cache" in json.loads(outputs[3])["traceback"]
    assert "cutover: error: dead-letter store" in outputs[6]
    for output in outputs:
        assert PASSWORD not in output


def test_free_text_masking_keeps_everything_but_the_password() -> None:
    """``mask_text`` hides the password of each URL in a message and nothing else."""
    text = f"amqp://u:{PASSWORD}@h:5672// then redis://:{PASSWORD}@r/0; mail bob@example.com"
    assert "amqp://u:***@h:5672// then redis://:***@r/0; mail bob@example.com" == mask_text(text)
