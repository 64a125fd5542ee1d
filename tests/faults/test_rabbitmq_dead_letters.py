"""RabbitMQ as broker: work out of retries lands in the dead-letter exchange, ``cutover dlq``
lists it, and ``cutover dlq replay`` runs it again to success.

Real RabbitMQ, the session's prefork worker on it, and the CLI in-process. The task fails
twice with a retryable error; the call allows one retry, so the batch is dead-lettered and
the caller gets the error. Its third attempt (the replay) succeeds.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
import redis

from adapters import codec
from adapters.base import CallOptions, ExecutionEngine, RetryPolicy
from cutover.cli import main
from tests.adapters import celery_tasks
from tests.support.services import TEST_AMQP_URL, TEST_BACKEND_URL
from tests.support.waiting import until

pytestmark = [pytest.mark.faults, pytest.mark.celery, pytest.mark.rabbitmq]

STORE_ARGS = ("--broker-url", TEST_AMQP_URL, "--backend-url", TEST_BACKEND_URL)


async def cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    """``cutover ARGV --json`` in-process (off the event loop); its parsed output."""
    capsys.readouterr()
    status = await asyncio.to_thread(main, [*argv, "--json", *STORE_ARGS])
    out, err = capsys.readouterr()
    assert 0 == status, err
    return json.loads(out)


async def test_exhausted_batch_is_dead_lettered_listed_and_replayed(
    celery_amqp_engine: ExecutionEngine,
    capsys: pytest.CaptureFixture[str],
    coordination_keys: Callable[[str], str],
) -> None:
    """Retries exhausted on RabbitMQ: in ``cutover.dead``, listed, replayed to success."""
    key = coordination_keys("dlq-amqp")
    options = CallOptions(
        worker_id="equiv",
        call_id=key,
        retry=RetryPolicy(1, 0.01, ("FlakyError",)),
        timeout_s=60,
    )
    with pytest.raises(celery_tasks.FlakyError, match="attempt 2"):
        await celery_amqp_engine.map_batches([(key, 2, 99)], celery_tasks.flaky, 1, 1, options)

    listing = await cli_json(capsys, "dlq", "list", "--limit", "10000")
    [entry] = [e for e in listing["entries"] if e["call_id"] == key]
    assert TEST_AMQP_URL.replace("guest:guest@", "guest:***@") == listing["store"]
    assert ("retries-exhausted", "tests.adapters.celery_tasks:flaky", "cutover.equiv", 1) == (
        entry["reason"],
        entry["reference"],
        entry["queue"],
        entry["items"],
    )

    replayed = await cli_json(capsys, "dlq", "replay", entry["id"])
    [done] = replayed["replayed"]
    backend = redis.Redis.from_url(TEST_BACKEND_URL)
    try:
        result_key = f"celery-task-meta-{done['task_id']}"
        await until(lambda: backend.exists(result_key), 60, "the replayed task's result")
        meta = codec.loads(backend.get(result_key) or b"{}")
    finally:
        backend.close()
    assert ("SUCCESS", [99]) == (meta["status"], meta["result"])
    listing = await cli_json(capsys, "dlq", "list", "--limit", "10000")
    assert entry["id"] not in {e["id"] for e in listing["entries"]}
