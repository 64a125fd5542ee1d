"""Real services the flag tests talk to, and a TCP proxy to make one disappear.

Redis: ``CUTOVER_TEST_REDIS_URL`` (default: database 5 of the session's own Redis, see
``tests/support/private_services.py``; a database only these tests use and flush). When it
is unreachable a test is skipped on a laptop but fails in CI
(``CI`` set), like dramatiq's conftest.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading

import pytest
import redis

from tests.support.services import redis_test_url

REDIS_URL = os.environ.get("CUTOVER_TEST_REDIS_URL", redis_test_url(5))


def require_redis(url: str = REDIS_URL) -> redis.Redis[bytes]:
    """A client of the test database, flushed; skip (or fail in CI) if Redis is down."""
    client: redis.Redis[bytes] = redis.Redis.from_url(url, socket_connect_timeout=1.0)
    try:
        client.ping()
    except redis.RedisError as exc:
        message = f"Redis is not reachable at {url}: {exc}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    client.flushdb()
    return client


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to a target; :meth:`cut` makes the target vanish.

    ``cut`` closes the listening socket and every forwarded connection (clients see the
    connection drop, then connection refused); :meth:`restore` listens again on the same port.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        """Listen (again) on the proxy's port."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.05)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Stop listening and drop every forwarded connection."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    close = cut

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=2.0)
            except OSError:
                client.close()
                continue
            client.settimeout(None)
            upstream.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
