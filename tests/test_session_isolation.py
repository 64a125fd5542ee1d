"""Two test runs on one machine never share Redis keys or RabbitMQ queues (issue: parallel
sessions flushed each other's databases)."""

from __future__ import annotations

import os

import pytest
import redis

from tests.support.private_services import AMQP_ENV, PRIVATE_REDIS_ENV, REDIS_ENV
from tests.support.services import (
    TEST_AMQP_URL,
    TEST_BROKER_URL,
    TEST_REDIS_HOST,
    TEST_REDIS_PORT,
    port_open,
)


def _run_id(host: str, port: int) -> str:
    client = redis.Redis(host=host, port=port, socket_connect_timeout=1.0)
    try:
        return str(client.info("server")["run_id"])
    finally:
        client.close()


def test_the_session_redis_is_its_own_server() -> None:
    """The session's Redis is a server of its own, not the machine's one on 6379."""
    if not os.environ.get(PRIVATE_REDIS_ENV):
        pytest.skip(f"{REDIS_ENV} names a Redis of the user's choosing")
    assert f"redis://{TEST_REDIS_HOST}:{TEST_REDIS_PORT}" == os.environ[REDIS_ENV]
    assert TEST_BROKER_URL.startswith(os.environ[REDIS_ENV])
    if port_open("127.0.0.1", 6379):
        assert _run_id("127.0.0.1", 6379) != _run_id(TEST_REDIS_HOST, TEST_REDIS_PORT)
    assert 6379 != TEST_REDIS_PORT


def test_the_session_rabbitmq_vhost_is_its_own() -> None:
    """Where rabbitmqctl works (as in CI), the session's broker URL names a vhost of its own."""
    if not os.environ.get("CI"):
        pytest.skip("the vhost is only required in CI, where rabbitmqctl is there")
    assert TEST_AMQP_URL == os.environ[AMQP_ENV]
    assert TEST_AMQP_URL.rsplit("/", 1)[1].startswith("cutover-test-")
