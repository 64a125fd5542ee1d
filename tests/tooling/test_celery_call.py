"""``celery call`` with Celery's default options against a real worker of cutover's app.

``celery call`` sends plain JSON; the workers accept only the typed JSON, so they refuse it.
The refusal used to be a log line only: nothing in the dead-letter store, and ``celery
result ID`` waited forever. Now the message is dead-lettered with the reason, the task's
result is a failure saying why, and ``cutover dlq replay`` runs it in the accepted encoding.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from typing import Any

import pytest

from adapters.celery.dlq import DeadLetter, open_dead_letter_store
from adapters.celery.refused import REFUSED_ENCODING
from adapters.celery.tasks import RUN_BATCH
from tests.support.services import REPO_ROOT, CeleryWorkerProcess
from tests.support.waiting import until_sync
from tests.tooling.support import CUTOVER, TOOLING_QUEUE, celery_cli, tooling_env

pytestmark = pytest.mark.celery


def letters_of(app: Any, call_id: str) -> list[DeadLetter]:
    """The dead letters of one call (by the ``call_id`` in its options)."""
    store = open_dead_letter_store(app.conf)
    try:
        return [d for d in store.list(1000) if d.options.get("call_id") == call_id]
    finally:
        store.close()


def test_celery_call_is_dead_lettered_with_the_reason_and_fails_its_result(
    tooling_worker: CeleryWorkerProcess, tooling_app: Any
) -> None:
    """The default ``celery call``: a dead letter (reason, reference, items, queue), a failed
    result that ``celery result`` prints at once, and the worker keeps serving."""
    call_id = uuid.uuid4().hex
    args = ["tests.adapters.equiv_tasks:double", [1, 2, 3], {"worker": "cli", "call_id": call_id}]
    sent = celery_cli("call", RUN_BATCH, "-a", json.dumps(args), "--queue", TOOLING_QUEUE)
    assert 0 == sent.returncode, sent.stderr
    task_id = sent.stdout.strip().splitlines()[-1]

    until_sync(lambda: letters_of(tooling_app, call_id), 30, "the refused message's dead letter")
    [letter] = letters_of(tooling_app, call_id)
    assert (REFUSED_ENCODING, RUN_BATCH, TOOLING_QUEUE) == (
        letter.reason,
        letter.task_name,
        letter.queue,
    )
    assert ("tests.adapters.equiv_tasks:double", [1, 2, 3]) == (letter.reference, letter.items)
    assert "TaskRefusedError" == letter.exc_type
    assert "'application/json' was refused" in letter.exc_message
    assert "cutover dlq replay" in letter.exc_message
    assert letter.replayable

    result = celery_cli("result", task_id, timeout_s=60)  # used to wait forever
    assert 0 != result.returncode
    assert "was refused" in result.stdout + result.stderr
    assert "1, 2, 3" not in tooling_worker.log_text()  # the items are not in the worker's log
    assert [2, 4, 6] == tooling_app.send_task(
        RUN_BATCH, args=tuple(args), queue=TOOLING_QUEUE, routing_key=TOOLING_QUEUE
    ).get(timeout=60)


def test_cutover_dlq_replay_runs_it_in_the_accepted_encoding(
    tooling_worker: CeleryWorkerProcess, tooling_app: Any
) -> None:
    """The dead letter of a ``celery call`` is replayable: ``cutover dlq replay ID`` sends it
    as typed JSON through the allow-list, and the worker runs it."""
    call_id = uuid.uuid4().hex
    args = ["tests.adapters.equiv_tasks:double", [5, 6], {"worker": "cli", "call_id": call_id}]
    sent = celery_cli("call", RUN_BATCH, "-a", json.dumps(args), "--queue", TOOLING_QUEUE)
    assert 0 == sent.returncode, sent.stderr
    until_sync(lambda: letters_of(tooling_app, call_id), 30, "the refused message's dead letter")
    [letter] = letters_of(tooling_app, call_id)
    replayed = subprocess.run(
        [CUTOVER, "dlq", "replay", letter.entry_id, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=tooling_env(),
        cwd=REPO_ROOT,
    )
    assert 0 == replayed.returncode, replayed.stderr
    [done] = json.loads(replayed.stdout)["replayed"]
    assert [10, 12] == tooling_app.AsyncResult(done["task_id"]).get(timeout=60)
    assert [] == letters_of(tooling_app, call_id)


def test_an_unregistered_task_name_fails_its_result_without_logging_the_items(
    tooling_worker: CeleryWorkerProcess, tooling_app: Any
) -> None:
    """``celery call 'cutover.run_batch[billing]'`` (the name Flower shows, which no worker
    registers): Celery's NotRegistered failure is the result, and the worker's refusal line
    shows neither the body nor the sender's ``argsrepr`` of the items (it showed both)."""
    secret = f"card-{uuid.uuid4().hex}"
    args = ["tests.adapters.equiv_tasks:identity", [secret], {"worker": "billing"}]
    sent = celery_cli(
        "call", f"{RUN_BATCH}[billing]", "-a", json.dumps(args), "--queue", TOOLING_QUEUE
    )
    assert 0 == sent.returncode, sent.stderr
    task_id = sent.stdout.strip().splitlines()[-1]
    with pytest.raises(Exception, match=r"cutover\.run_batch\[billing\]") as failed:
        tooling_app.AsyncResult(task_id).get(timeout=30)
    assert "NotRegistered" == type(failed.value).__name__
    until_sync(
        lambda: f"unregistered task of type '{RUN_BATCH}[billing]'" in tooling_worker.log_text(),
        30,
        "the worker's refusal line",
    )
    log = tooling_worker.log_text()
    assert "of application/json, not shown>" in log
    assert secret not in log


@pytest.mark.rabbitmq
def test_on_rabbitmq_the_refused_message_lands_in_the_dead_letter_queue(
    celery_amqp_worker: CeleryWorkerProcess,
) -> None:
    """The same ``celery call`` with RabbitMQ as broker: the dead letter is in RabbitMQ's
    ``cutover.dead`` queue (the AMQP store, beside the messages it came from), replayable."""
    from adapters.celery.settings import CelerySettings
    from tests.support.services import TEST_AMQP_URL, TEST_BACKEND_URL

    settings = CelerySettings(broker_url=TEST_AMQP_URL, result_backend=TEST_BACKEND_URL)
    call_id = uuid.uuid4().hex
    args = ["tests.adapters.equiv_tasks:double", [4], {"worker": "cli", "call_id": call_id}]
    call = ["call", RUN_BATCH, "-a", json.dumps(args), "--queue", "cutover.equiv"]
    sent = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "adapters.celery.app", *call],
        capture_output=True,
        text=True,
        timeout=60,
        env=tooling_env(CUTOVER_BROKER_URL=TEST_AMQP_URL, CUTOVER_RESULT_BACKEND=TEST_BACKEND_URL),
        cwd=REPO_ROOT,
    )
    assert 0 == sent.returncode, sent.stderr

    def letters() -> list[DeadLetter]:
        store = open_dead_letter_store(settings)
        try:
            return [d for d in store.list(1000) if d.options.get("call_id") == call_id]
        finally:
            store.close()

    until_sync(letters, 30, "the dead letter in RabbitMQ")
    [letter] = letters()
    assert (REFUSED_ENCODING, [4], True) == (letter.reason, letter.items, letter.replayable)
    store = open_dead_letter_store(settings)
    try:
        assert store.remove(letter.entry_id)
    finally:
        store.close()
