"""The dead-letter store is chosen in one place, by URL: the broker's when it is RabbitMQ."""

from __future__ import annotations

import ssl

import kombu
import pytest

from adapters import codec
from adapters.celery.dlq import DeadLetterStore, dead_letter_url, open_dead_letter_store
from adapters.celery.dlq_backends.amqp import AmqpDeadLetterStore
from adapters.celery.dlq_backends.redis import RedisDeadLetterStore
from adapters.celery.settings import CelerySettings
from cutover.errors import ConfigurationError
from tests.support.services import TEST_AMQP_PORT, TEST_AMQP_URL, require_service


@pytest.mark.parametrize(
    ("broker", "expected_url", "expected_class"),
    [
        ("redis://:pw@broker:6379/0", "redis://:pw@backend:6379/1", RedisDeadLetterStore),
        ("amqp://u:pw@rabbit:5672//", "amqp://u:pw@rabbit:5672//", AmqpDeadLetterStore),
        ("amqps://u:pw@rabbit:5671//", "amqps://u:pw@rabbit:5671//", AmqpDeadLetterStore),
    ],
)
def test_the_store_follows_the_broker(
    broker: str, expected_url: str, expected_class: type[DeadLetterStore]
) -> None:
    """RabbitMQ keeps its own dead letters; with Redis they live in the result backend."""
    settings = CelerySettings(broker_url=broker, result_backend="redis://:pw@backend:6379/1")
    store = open_dead_letter_store(settings)
    try:
        assert (expected_url, expected_class) == (dead_letter_url(settings), type(store))
        assert "pw" not in store.display_url
    finally:
        store.close()


def test_a_url_alone_picks_the_implementation() -> None:
    """``DeadLetterStore(url)`` returns the store of the URL's scheme; nothing connects."""
    assert isinstance(DeadLetterStore("redis://127.0.0.1:1/0"), RedisDeadLetterStore)
    assert isinstance(DeadLetterStore("amqp://127.0.0.1:1//"), AmqpDeadLetterStore)
    with pytest.raises(ConfigurationError, match="'kafka'") as refused:
        DeadLetterStore("kafka://user:hunter2@host/")
    assert "hunter2" not in str(refused.value)


def test_the_amqp_store_gets_the_brokers_tls_settings() -> None:
    """An ``amqps://`` broker's certificate requirements apply to its dead-letter store."""
    settings = CelerySettings(broker_url="amqps://u:pw@rabbit.example:5671//")
    store = open_dead_letter_store(settings)
    assert isinstance(store, AmqpDeadLetterStore)
    assert ssl.CERT_REQUIRED == store._ssl["cert_reqs"]  # type: ignore[index]


@pytest.mark.slow
@pytest.mark.rabbitmq
def test_a_full_dead_letter_queue_lists_to_its_oldest_entry_page_by_page() -> None:
    """The queue at its length cap (10,000 messages): listing pages reach the oldest entry,
    each entry once, newest first, and the queue is unchanged afterwards. Before, a listing
    held every message of the queue at once, and stopped scanning at 10,000."""
    from adapters.celery.dlq_backends.amqp import EXCHANGE, MARKER_HEADER, MAX_ENTRIES, QUEUE

    require_service("RabbitMQ", "127.0.0.1", TEST_AMQP_PORT)
    store = AmqpDeadLetterStore(TEST_AMQP_URL)
    store.purge()
    body = codec.dumps(
        {
            "reason": "retries-exhausted",
            "task_name": "cutover.run_batch",
            "reference": "tests.adapters.equiv_tasks:double",
            "items": [1],
            "options": {},
            "queue": "cutover.nobody",
            "exc_type": "FlakyError",
            "exc_message": "failed",
            "traceback": "",
            "failed_at": 1.0,
        }
    )
    ids = [f"bulk-{n:05d}" for n in range(MAX_ENTRIES)]
    try:
        with (
            kombu.Connection(
                TEST_AMQP_URL, transport_options={"confirm_publish": True}
            ) as connection,
            connection.Producer() as producer,
        ):
            for entry_id in ids:
                producer.publish(
                    body,
                    exchange=EXCHANGE,
                    routing_key="cutover.dead",
                    content_type=codec.CONTENT_TYPE,
                    content_encoding="utf-8",
                    message_id=entry_id,
                    headers={MARKER_HEADER: 1},
                    declare=[QUEUE],
                )
        assert MAX_ENTRIES == store.count()
        pages = []
        cursor = None
        while True:
            page = store.page(4000, cursor)
            pages.append([letter.entry_id for letter in page.entries])
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert [4000, 4000, 2000] == [len(page) for page in pages]
        assert list(reversed(ids)) == [entry_id for page in pages for entry_id in page]
        assert MAX_ENTRIES == store.count()
    finally:
        store.purge()
