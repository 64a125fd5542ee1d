"""Whoever can write to the broker cannot make a worker run code of their choosing.

Messages are published straight onto the queue of the session's real prefork workers, on
Redis and on RabbitMQ, the way an attacker with broker access would:

- a pickle body (as a Celery task message, and as a bare message) whose unpickling would run
  ``touch MARKER``: dead-lettered undecoded with the reason, the marker never appears, the
  worker keeps serving;
- a well-formed task message naming ``os:system`` (and a stdlib module nobody imports):
  refused by the allow-list, dead-lettered, never executed, the module never imported.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import uuid
from pathlib import Path
from typing import Any

import kombu
import pytest

from adapters.base import CallOptions, ExecutionEngine
from adapters.celery.dlq import DeadLetter, open_dead_letter_store
from adapters.celery.engine import CeleryEngine
from adapters.celery.tasks import RUN_BATCH
from adapters.celery.worker_process import CeleryWorkerProcess
from tests.adapters import equiv_tasks
from tests.security import security_tasks
from tests.support.waiting import until

pytestmark = pytest.mark.celery

QUEUE = "cutover.equiv"
PICKLE = "application/x-python-serialize"
NEVER_IMPORTED = "tabnanny"
"""A stdlib module no worker imports: a refused reference to it must not import it."""


class RunsShellOnUnpickle:
    """Unpickling this calls ``os.system(command)``: what a pickle exploit does."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, (self.command,))


@pytest.fixture(
    params=[
        pytest.param(("celery_engine", "celery_redis_worker"), id="redis"),
        pytest.param(("celery_amqp_engine", "celery_amqp_worker"), id="amqp"),
    ]
)
def engine_and_worker(request: pytest.FixtureRequest) -> tuple[CeleryEngine, CeleryWorkerProcess]:
    """The session's Celery engine and its worker, on each broker in turn."""
    engine_name, worker_name = request.param
    return request.getfixturevalue(engine_name), request.getfixturevalue(worker_name)


def publish_raw(broker_url: str, body: Any, **options: Any) -> None:
    """Publish one message to :data:`QUEUE` with kombu, bypassing cutover entirely."""
    with kombu.Connection(broker_url) as connection, connection.Producer() as producer:
        producer.publish(body, exchange="", routing_key=QUEUE, **options)


async def still_serving(engine: ExecutionEngine) -> list[int]:
    """A normal call on the same worker: it must still work."""
    return await engine.map_batches([1, 2, 3], equiv_tasks.double, 1, 3, CallOptions("equiv"))


async def test_pickle_messages_are_dead_lettered_with_the_reason_and_never_executed(
    engine_and_worker: tuple[CeleryEngine, CeleryWorkerProcess], tmp_path: Path
) -> None:
    """A pickled task message and a bare pickle, on each broker: both dead-lettered with
    reason ``refused-content-type: application/x-python-serialize``, never unpickled.

    Unpickled, either body would create its marker file. The task message's result becomes
    a failure naming the content type, the entries are not replayable, and the worker keeps
    serving. Before, Celery logged its refusal and discarded both: nothing in the store.
    """
    engine, worker = engine_and_worker
    await engine.start()
    as_task, bare = tmp_path / "as-task", tmp_path / "bare"
    store = open_dead_letter_store(engine.settings)
    try:
        before = {letter.entry_id for letter in store.walk()}
        task_id = uuid.uuid4().hex
        publish_raw(
            engine.settings.broker_url,
            [[RunsShellOnUnpickle(f"touch {as_task}")], {}, {}],
            serializer="pickle",
            headers={
                "task": RUN_BATCH,
                "id": task_id,
                "lang": "py",
                "argsrepr": "",
                "kwargsrepr": "",
            },
        )
        publish_raw(
            engine.settings.broker_url,
            pickle.dumps(RunsShellOnUnpickle(f"touch {bare}")),
            content_type=PICKLE,
            content_encoding="binary",
        )
        result = engine.app.AsyncResult(task_id)
        with pytest.raises(Exception, match="x-python-serialize") as failed:
            await asyncio.to_thread(result.get, timeout=30, propagate=True)
        assert "BatchFailed" == type(failed.value).__name__

        def new_letters() -> list[DeadLetter]:
            return [letter for letter in store.walk() if letter.entry_id not in before]

        await until(lambda: len(new_letters()) >= 2, 30, "both pickles in the DLQ")
        letters = sorted(new_letters(), key=lambda letter: letter.task_name)
        assert [("", False), (RUN_BATCH, False)] == [
            (letter.task_name, letter.replayable) for letter in letters
        ]
        assert {f"refused-content-type: {PICKLE}"} == {letter.reason for letter in letters}
        assert {QUEUE} == {letter.queue for letter in letters}
        assert task_id in letters[1].exc_message
        assert "never decoded" in letters[1].exc_message
        for letter in letters:
            store.remove(letter.entry_id)
    finally:
        store.close()
    assert [2, 4, 6] == await asyncio.wait_for(still_serving(engine), 30)
    assert (False, False) == (as_task.exists(), bare.exists())
    assert "touch" not in worker.log_text()  # the body is never logged either
    assert worker.running()


async def test_reference_outside_the_allow_list_is_refused_dead_lettered_never_imported(
    engine_and_worker: tuple[CeleryEngine, CeleryWorkerProcess], tmp_path: Path
) -> None:
    """``os:system`` and ``tabnanny:check`` in well-formed messages: refused, dead-lettered.

    Run, the first would create the marker file; resolved, the second would import
    ``tabnanny`` into the worker process, which a probe task then looks for.
    """
    engine, _ = engine_and_worker
    await engine.start()
    marker = tmp_path / "executed"
    call_id = uuid.uuid4().hex
    options = {"worker": "forged", "call_id": call_id, "retry": {}}
    for reference, items in [
        ("os:system", [f"touch {marker}"]),
        (f"{NEVER_IMPORTED}:check", ["."]),
    ]:
        forged = engine.app.send_task(RUN_BATCH, args=(reference, items, options), queue=QUEUE)
        with pytest.raises(Exception, match="allow") as refused:
            await asyncio.to_thread(forged.get, timeout=30, propagate=True)
        assert "BatchFailed" == type(refused.value).__name__

    assert not marker.exists()
    probes = await engine.map_batches(
        [NEVER_IMPORTED] * 8, security_tasks.loaded, 1, 2, CallOptions("equiv")
    )
    assert {False} == {imported for _, imported in probes}
    store = open_dead_letter_store(engine.settings)
    try:
        letters = [d for d in store.list(1000) if d.options.get("call_id") == call_id]
        assert {("refused", "os:system"), ("refused", f"{NEVER_IMPORTED}:check")} == {
            (d.reason, d.reference) for d in letters
        }
        for letter in letters:
            store.remove(letter.entry_id)
    finally:
        store.close()


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-yaml", b"!!python/object/apply:os.system ['touch {marker}']"),
        ("application/x-msgpack", b"\x93\x91\xa5touch\x80\x80"),
        ("text/plain", b"touch {marker}"),
    ],
)
async def test_any_refused_content_type_is_dead_lettered_undecoded(
    celery_engine: CeleryEngine,
    celery_redis_worker: CeleryWorkerProcess,
    tmp_path: Path,
    content_type: str,
    body: bytes,
) -> None:
    """Not only pickle: a task message in YAML (whose loading could run code), msgpack or
    plain text is dead-lettered with its own content type as the reason, its result fails
    naming it, and nothing it carries runs."""
    marker = tmp_path / "executed"
    await celery_engine.start()
    task_id = uuid.uuid4().hex
    publish_raw(
        celery_engine.settings.broker_url,
        body.replace(b"{marker}", str(marker).encode()),
        content_type=content_type,
        content_encoding="binary",
        headers={"task": RUN_BATCH, "id": task_id, "lang": "py"},
    )
    result = celery_engine.app.AsyncResult(task_id)
    with pytest.raises(Exception, match=content_type):
        await asyncio.to_thread(result.get, timeout=30, propagate=True)
    store = open_dead_letter_store(celery_engine.settings)
    try:
        (letter,) = [d for d in store.list(100) if task_id in d.exc_message]
        assert (f"refused-content-type: {content_type}", RUN_BATCH, False) == (
            letter.reason,
            letter.task_name,
            letter.replayable,
        )
        store.remove(letter.entry_id)
    finally:
        store.close()
    assert not marker.exists()
