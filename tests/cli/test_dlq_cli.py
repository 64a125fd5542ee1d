"""``cutover dlq``: list, show, replay and purge, against both real stores.

Entries are written straight into the store (what a worker does), so these tests need no
worker: a replay is checked by the message it leaves on a queue nobody consumes. The worker
side (a batch out of retries dead-lettered, then replayed to success) is in
``tests/faults/test_rabbitmq_dead_letters.py``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import kombu
import pytest
import redis

from adapters.celery.dlq import DeadLetterStore, open_dead_letter_store
from adapters.celery.settings import CelerySettings
from adapters.celery.tasks import RUN_BATCH
from cutover.cli import main
from ground.errors import InvalidArgumentError
from tests.support.services import (
    TEST_AMQP_PORT,
    TEST_AMQP_URL,
    TEST_BACKEND_URL,
    TEST_BROKER_URL,
    TEST_REDIS_HOST,
    TEST_REDIS_PORT,
    require_service,
)

pytestmark = pytest.mark.celery

BROKERS = {"redis": TEST_BROKER_URL, "amqp": TEST_AMQP_URL}


@pytest.fixture(params=["redis", "amqp"])
def broker(request: pytest.FixtureRequest) -> str:
    """Each broker in turn (the dead-letter store follows it)."""
    require_service("Redis", TEST_REDIS_HOST, TEST_REDIS_PORT)
    if request.param == "amqp":
        require_service("RabbitMQ", "127.0.0.1", TEST_AMQP_PORT)
    return str(request.param)


@pytest.fixture
def store(broker: str) -> Iterator[DeadLetterStore]:
    """The dead-letter store of ``broker``; entries of the test are removed afterwards."""
    opened = open_dead_letter_store(
        CelerySettings(broker_url=BROKERS[broker], result_backend=TEST_BACKEND_URL)
    )
    yield opened
    opened.close()


def urls(broker: str) -> list[str]:
    """The CLI options that select ``broker``'s store."""
    return ["--broker-url", BROKERS[broker], "--backend-url", TEST_BACKEND_URL]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``cutover ARGV`` in-process: exit status, stdout, stderr."""
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def add_letter(store: DeadLetterStore, queue: str, items: list[Any]) -> str:
    """One dead letter as a worker records it."""
    return store.add(
        reason="retries-exhausted",
        task_name=RUN_BATCH,
        reference="tests.adapters.equiv_tasks:double",
        items=items,
        options={"worker": "cli", "call_id": uuid.uuid4().hex, "retry": {}},
        queue=queue,
        exc_type="FlakyError",
        exc_message="attempt 2 failed",
        traceback="Traceback (most recent call last):\nFlakyError: attempt 2 failed\n",
    )


def waiting_on(broker: str, queue: str) -> int:
    """Messages waiting in ``queue`` (which nobody consumes)."""
    if broker == "redis":
        client = redis.Redis.from_url(TEST_BROKER_URL)
        try:
            return sum(int(client.llen(key)) for key in client.keys(f"{queue}*"))
        finally:
            client.close()
    with kombu.Connection(TEST_AMQP_URL) as connection:
        channel = connection.channel()
        try:
            return int(channel.queue_declare(queue, passive=True).message_count)
        finally:
            channel.close()


def drop_queue(broker: str, queue: str) -> None:
    """Remove the unconsumed queue a replay created."""
    if broker == "redis":
        client = redis.Redis.from_url(TEST_BROKER_URL)
        try:
            client.delete(*client.keys(f"{queue}*") or [queue])
        finally:
            client.close()
        return
    with kombu.Connection(TEST_AMQP_URL) as connection:
        channel = connection.channel()
        try:
            channel.queue_delete(queue)
        finally:
            channel.close()


def test_list_show_replay_and_purge(
    broker: str, store: DeadLetterStore, capsys: pytest.CaptureFixture[str]
) -> None:
    """An entry is listed and shown in full; replay sends it once and removes it."""
    queue = f"cutover.dlq-cli-{uuid.uuid4().hex[:8]}"
    entry_id = add_letter(store, queue, [(1, 2), {"k": b"v"}])

    status, out, _ = run(capsys, "dlq", "list", *urls(broker))
    assert 0 == status
    assert entry_id in out
    assert "retries-exhausted" in out

    status, out, _ = run(capsys, "dlq", "show", entry_id, "--json", *urls(broker))
    shown = json.loads(out)
    assert (0, 2, "FlakyError: attempt 2 failed") == (
        status,
        len(shown["items"]),
        shown["exception"],
    )
    assert "Traceback" in shown["traceback"]

    try:
        status, out, _ = run(capsys, "dlq", "replay", entry_id, "--json", *urls(broker))
        replayed = json.loads(out)["replayed"]
        assert (0, [entry_id]) == (status, [r["id"] for r in replayed])
        assert 1 == waiting_on(broker, queue)
        assert store.get(entry_id) is None
    finally:
        drop_queue(broker, queue)

    status, _, err = run(capsys, "dlq", "replay", entry_id, *urls(broker))
    assert 2 == status
    assert f"no dead letter {entry_id!r}" in err


def test_purge_one_and_purge_all_needs_yes(
    broker: str, store: DeadLetterStore, capsys: pytest.CaptureFixture[str]
) -> None:
    """``purge ID`` drops one entry; ``purge --all`` refuses without ``--yes``."""
    first = add_letter(store, "cutover.nobody", [1])
    second = add_letter(store, "cutover.nobody", [2])

    status, out, _ = run(capsys, "dlq", "purge", first, *urls(broker))
    assert (0, "purged 1 dead letter") == (status, out.strip())
    assert store.get(first) is None
    assert store.get(second) is not None

    status, _, err = run(capsys, "dlq", "purge", "--all", *urls(broker))
    assert 2 == status
    assert "--yes" in err
    assert store.get(second) is not None
    store.remove(second)


def test_a_dead_letter_rabbitmq_made_itself_is_listed_but_never_replayed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A pickled task that a queue policy dead-lettered: shown as refused content, not replayed."""
    require_service("RabbitMQ", "127.0.0.1", TEST_AMQP_PORT)
    from adapters.celery.dlq_backends.amqp import EXCHANGE, QUEUE

    task_id = uuid.uuid4().hex
    with kombu.Connection(TEST_AMQP_URL) as connection, connection.Producer() as producer:
        producer.publish(
            b"\x80\x04K\x01.",
            exchange=EXCHANGE,
            routing_key="cutover.billing",
            content_type="application/x-python-serialize",
            content_encoding="binary",
            headers={
                "task": RUN_BATCH,
                "id": task_id,
                "x-first-death-reason": "rejected",
                "x-first-death-queue": "cutover.billing",
            },
            declare=[QUEUE],
        )
    urls_amqp = urls("amqp")
    status, out, _ = run(capsys, "dlq", "show", task_id, "--json", *urls_amqp)
    shown = json.loads(out)
    assert (0, "broker-rejected", "cutover.billing", False) == (
        status,
        shown["reason"],
        shown["queue"],
        shown["replayable"],
    )
    status, _, err = run(capsys, "dlq", "replay", task_id, *urls_amqp)
    assert 2 == status
    assert "cannot be replayed" in err
    status, _, _ = run(capsys, "dlq", "purge", task_id, *urls_amqp)
    assert 0 == status
    status, _, _ = run(capsys, "dlq", "show", task_id, *urls_amqp)
    assert 2 == status


def test_an_undecoded_refused_message_is_shown_with_its_reason_and_never_replayed(
    capsys: pytest.CaptureFixture[str], broker: str, store: DeadLetterStore
) -> None:
    """A dead letter kept without its payload (a refused pickle, ``replayable=False``) keeps
    that flag in either store: ``dlq show`` gives the reason, ``dlq replay`` refuses it with
    what to do instead of sending an empty batch."""
    reason = "refused-content-type: application/x-python-serialize"
    entry_id = store.add(
        reason=reason,
        task_name=RUN_BATCH,
        reference="",
        items=[],
        options={},
        queue="cutover.billing",
        exc_type="TaskRefusedError",
        exc_message="refused (task id none, 42 bytes, never decoded)",
        traceback="",
        replayable=False,
    )
    status, out, _ = run(capsys, "dlq", "show", entry_id, "--json", *urls(broker))
    shown = json.loads(out)
    assert (0, reason, False) == (status, shown["reason"], shown["replayable"])
    status, _, err = run(capsys, "dlq", "replay", entry_id, *urls(broker))
    assert 2 == status
    assert "cannot be replayed" in err
    assert "purge" in err
    assert store.remove(entry_id)


def test_list_pages_through_every_entry_newest_first(
    broker: str, store: DeadLetterStore, capsys: pytest.CaptureFixture[str]
) -> None:
    """25 dead letters read 10 at a time with the cursor each page prints: every entry once,
    newest first, the last page short and without a cursor; nothing leaves the store. (The
    RabbitMQ listing used to hold the whole queue at once and stop at 10,000 messages; a
    page now costs ``size + 1`` messages of memory however long the queue is.)"""
    store.purge()
    added = [add_letter(store, "cutover.nobody", [n]) for n in range(25)]
    seen: list[str] = []
    cursor: list[str] = []
    sizes = []
    for _ in range(5):
        status, out, _ = run(
            capsys, "dlq", "list", "--json", "--limit", "10", *cursor, *urls(broker)
        )
        listing = json.loads(out)
        assert (0, 25) == (status, listing["count"])
        sizes.append(len(listing["entries"]))
        seen += [entry["id"] for entry in listing["entries"]]
        if listing["next_cursor"] is None:
            break
        cursor = ["--cursor", listing["next_cursor"]]
    assert [10, 10, 5] == sizes
    assert list(reversed(added)) == seen
    assert 25 == store.count()
    assert list(reversed(added)) == [letter.entry_id for letter in store.walk(page_size=7)]

    status, out, _ = run(capsys, "dlq", "list", "--limit", "10", *urls(broker))
    assert f"--cursor {added[15]} lists the next 10" in out
    store.purge()


@pytest.mark.parametrize("cursor", ["1-1", "not-an-id"])
def test_a_cursor_the_store_does_not_hold_is_refused_with_what_to_do(
    broker: str, store: DeadLetterStore, capsys: pytest.CaptureFixture[str], cursor: str
) -> None:
    """A cursor that is malformed, or (RabbitMQ, where an entry is found by scanning) names
    no entry any more, is an error saying to list again from the newest; in Redis a
    well-formed id that was removed still pages on (stream ids are ordered)."""
    store.purge()
    add_letter(store, "cutover.nobody", [1])
    status, out, err = run(capsys, "dlq", "list", "--cursor", cursor, *urls(broker))
    if broker == "redis" and cursor == "1-1":
        assert (0, "no dead letters") == (status, out.strip().splitlines()[-1])
    else:
        assert 2 == status
        assert f"the cursor {cursor!r} names no dead letter" in err
        assert "without a cursor" in err
    store.purge()


def test_a_page_holds_at_least_one_entry(store: DeadLetterStore) -> None:
    """A page size below 1 is refused before the store is touched."""
    with pytest.raises(InvalidArgumentError, match="at least 1 entry, got 0"):
        store.page(0)
