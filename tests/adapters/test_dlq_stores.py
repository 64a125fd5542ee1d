"""The dead-letter store is chosen in one place, by URL: the broker's when it is RabbitMQ."""

from __future__ import annotations

import ssl

import pytest

from adapters.celery.dlq import DeadLetterStore, dead_letter_url, open_dead_letter_store
from adapters.celery.dlq_backends.amqp import AmqpDeadLetterStore
from adapters.celery.dlq_backends.redis import RedisDeadLetterStore
from adapters.celery.settings import CelerySettings
from cutover.errors import ConfigurationError


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
