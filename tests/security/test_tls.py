"""TLS: ``rediss://`` and ``amqps://`` URLs are accepted, and the peer's certificate is checked.

The settings turn TLS on with ``CERT_REQUIRED`` (kombu alone would connect to ``rediss://``
without verifying anything, and Celery would refuse a ``rediss://`` backend). Then for real:
a private ``redis-server`` serving TLS only, with a throw-away CA, carries a Celery call, a
live flag table and the dead-letter store; without the CA the same engine is refused.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import redis

from adapters.base import CallOptions
from adapters.celery.dlq import open_dead_letter_store
from adapters.celery.engine import CeleryEngine
from adapters.celery.results import ResultListener
from adapters.celery.settings import CelerySettings, queue_for_worker
from adapters.celery.worker_process import CeleryWorkerProcess
from cutover.errors import EngineUnavailableError
from flags import FlagTable, open_store
from tests.adapters import equiv_tasks
from tests.support.redis_server import RedisServer, make_tls_files
from tests.support.services import celery_worker
from tests.support.waiting import until

pytestmark = pytest.mark.celery

WORKER = "tls"


def test_tls_urls_are_accepted_with_certificates_required(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``rediss://`` and ``amqps://`` from the environment: TLS on, certificate required."""
    monkeypatch.setenv("CUTOVER_BROKER_URL", "amqps://user:pw@rabbit.example:5671//")
    monkeypatch.setenv("CUTOVER_RESULT_BACKEND", "rediss://:pw@redis.example:6380/1")
    monkeypatch.setenv("CUTOVER_TLS_CA_FILE", "/etc/cutover/ca.pem")
    settings = CelerySettings.from_env()
    config = settings.celery_config()
    assert {
        "cert_reqs": ssl.CERT_REQUIRED,
        "server_hostname": "rabbit.example",
        "ca_certs": "/etc/cutover/ca.pem",
    } == config["broker_use_ssl"]
    assert {
        "ssl_cert_reqs": ssl.CERT_REQUIRED,
        "ssl_ca_certs": "/etc/cutover/ca.pem",
    } == config["redis_backend_use_ssl"]

    monkeypatch.setenv("CUTOVER_BROKER_URL", "rediss://:pw@redis.example:6380/0")
    monkeypatch.delenv("CUTOVER_TLS_CA_FILE")
    broker_tls = CelerySettings.from_env().celery_config()["broker_use_ssl"]
    assert {"ssl_cert_reqs": ssl.CERT_REQUIRED} == broker_tls


def test_plain_urls_have_no_tls_settings() -> None:
    """``redis://`` and ``amqp://``: no TLS options at all."""
    config = CelerySettings(broker_url="amqp://guest:guest@localhost//").celery_config()
    assert (None, None) == (config["broker_use_ssl"], config["redis_backend_use_ssl"])


def test_celery_app_builds_tls_connections_that_verify() -> None:
    """The Celery app accepts a ``rediss://`` backend and verifies both TLS peers."""
    from adapters.celery.app import create_app

    settings = CelerySettings(
        broker_url="amqps://user:pw@rabbit.example:5671//",
        result_backend="rediss://:pw@redis.example:6380/1",
    )
    app = create_app(settings)
    try:
        backend_params = app.backend.connparams
        assert ssl.CERT_REQUIRED == backend_params["ssl_cert_reqs"]
        assert issubclass(backend_params["connection_class"], redis.SSLConnection)
        broker = app.connection_for_write()
        assert ssl.CERT_REQUIRED == broker.ssl["cert_reqs"]
        assert "amqps" == broker.transport_cls
    finally:
        app.close()


def test_flag_store_and_result_listener_speak_tls_to_rediss() -> None:
    """A ``rediss://`` flag store or result backend opens TLS connections (nothing sent)."""
    store = open_store("rediss://:pw@redis.example:6380/0")
    try:
        pool = store._client.connection_pool  # type: ignore[attr-defined]
        assert issubclass(pool.connection_class, redis.SSLConnection)
        assert "rediss://:***@redis.example:6380/0" == store.display_url
    finally:
        store.close()
    listener = ResultListener("rediss://redis.example:6380/1", ssl={"ssl_cert_reqs": "required"})
    connection_class = listener._redis.connection_pool.connection_class  # type: ignore[attr-defined]
    assert "SSLConnection" == connection_class.__name__


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A private redis-server that speaks TLS only."""
    directory = tmp_path_factory.mktemp("tls-redis")
    server = RedisServer(directory / "data", tls=make_tls_files(directory / "certs")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def tls_worker(tls_redis: RedisServer, worker_logs: Path) -> Iterator[CeleryWorkerProcess]:
    """A prefork worker whose broker and backend are the TLS Redis, trusting the test CA."""
    assert tls_redis.tls is not None
    worker = celery_worker(
        tls_redis.url(0),
        tls_redis.url(1),
        (queue_for_worker(WORKER),),
        "tls",
        extra_env={"CUTOVER_TLS_CA_FILE": str(tls_redis.tls.ca_cert)},
    )
    worker.start(worker_logs)
    yield worker
    worker.stop()


def tls_settings(server: RedisServer, ca_file: str | None) -> CelerySettings:
    """Client settings for the TLS Redis."""
    return CelerySettings(
        broker_url=server.url(0), result_backend=server.url(1), tls_ca_file=ca_file
    )


async def test_a_call_crosses_a_verified_tls_redis(
    tls_redis: RedisServer, tls_worker: CeleryWorkerProcess
) -> None:
    """Broker and backend over TLS: a real call returns what legacy returns."""
    assert tls_redis.tls is not None
    engine = CeleryEngine(tls_settings(tls_redis, str(tls_redis.tls.ca_cert)))
    try:
        result = await engine.map_batches(
            list(range(10)), equiv_tasks.double, 3, 2, CallOptions(worker_id=WORKER, timeout_s=60)
        )
    finally:
        await engine.close()
    assert [2 * i for i in range(10)] == result


async def test_an_untrusted_certificate_is_refused(tls_redis: RedisServer) -> None:
    """Without the CA, the server's certificate fails verification: nothing is sent."""
    engine = CeleryEngine(tls_settings(tls_redis, None))
    try:
        with pytest.raises(EngineUnavailableError, match=r"(?i)certificate"):
            await engine.map_batches([1], equiv_tasks.double, 1, 1, CallOptions(worker_id=WORKER))
    finally:
        await engine.close()


async def test_flag_table_and_dead_letters_over_tls(tls_redis: RedisServer, tmp_path: Path) -> None:
    """A live flag table and the dead-letter store work over the verified TLS Redis."""
    assert tls_redis.tls is not None
    ca = quote(str(tls_redis.tls.ca_cert), safe="")
    flags_url = f"{tls_redis.url(2)}?ssl_ca_certs={ca}"
    store = open_store(flags_url)
    table = FlagTable(flags_url, snapshot_path=tmp_path / "snapshot.json")
    try:
        store.update(WORKER, lambda r: r.changed(route="celery"), actor="t@t", reason="tls")
        await until(lambda: table.record(WORKER).route == "celery", 10, "the TLS flag table")
        assert not table.stale
    finally:
        table.close()
        store.close()
    dead_letters = open_dead_letter_store(tls_settings(tls_redis, str(tls_redis.tls.ca_cert)))
    try:
        assert 0 == dead_letters.count()
    finally:
        dead_letters.close()
