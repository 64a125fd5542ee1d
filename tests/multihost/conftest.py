"""Fixtures of the multihost suite: hosts (network namespaces), their Redis and workers.

Everything a test starts is stopped at its end, even when it fails: processes by PID and
process group, then namespaces and links (:class:`tests.support.netns.Hosts`). Time limits
are scaled down (a batch's hard limit :data:`TIME_LIMIT_S`, the Redis broker's visibility
timeout :data:`VISIBILITY_S`) so that a lost batch comes back within seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from adapters.base import CallOptions
from adapters.celery.engine import CeleryEngine
from adapters.celery.settings import CelerySettings, queue_for_worker
from adapters.celery.worker_process import CeleryWorkerProcess
from tests.multihost import tasks
from tests.multihost.remote_call import BATCH_SIZE, WINDOW, RemoteCall, items_for, started
from tests.support.netns import Host, Hosts, hosts_for_test
from tests.support.redis_server import RedisServer
from tests.support.services import REPO_ROOT, TEST_TASK_MODULES
from tests.support.waiting import until

TIME_LIMIT_S = 6.0
VISIBILITY_S = 8.0
DEADLINE_S = 40.0
"""The callers' deadline: longer than a lost batch's way back (visibility + time limit)."""


class RemoteWorker(CeleryWorkerProcess):
    """The project's ``celery worker``, run on another host (``ip netns exec``)."""

    host: Host

    def argv(self) -> list[str]:
        """The worker's command line, inside the host's namespace."""
        return self.host.command(super().argv())


def worker_env(
    coordination_url: str, time_limit_s: float = TIME_LIMIT_S, visibility_s: float = VISIBILITY_S
) -> dict[str, str]:
    """The scaled limits and the coordination Redis, for a worker on another host."""
    return {
        "CUTOVER_TASK_TIME_LIMIT": f"{time_limit_s:g}",
        "CUTOVER_VISIBILITY_TIMEOUT": f"{visibility_s:g}",
        tasks.COORDINATION_ENV: coordination_url,
        "CUTOVER_LOG_LEVEL": "INFO",
    }


@pytest.fixture
def hosts(worker_logs: Path, request: pytest.FixtureRequest) -> Iterator[Hosts]:
    """The test's hosts; everything on them is gone after the test."""
    with hosts_for_test(worker_logs / f"multihost-{request.node.name[:80]}") as made:
        yield made


@pytest.fixture
def host_redis(hosts: Hosts, tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    """Start a redis-server on the test host's address of a host's link (AOF if asked)."""
    servers: list[RedisServer] = []

    def start(host: Host, *, persistent: bool = False) -> RedisServer:
        workdir = tmp_path / f"redis-{len(servers)}"
        server = RedisServer(workdir, persistent=persistent, host=host.test_host_address)
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop()


StartWorker = Callable[..., RemoteWorker]


@pytest.fixture
def remote_worker(hosts: Hosts) -> StartWorker:
    """Start a prefork worker on ``host`` consuming ``worker_id``'s queue on ``redis``
    (with other limits than the suite's if given)."""

    def start(
        host: Host,
        redis_server: RedisServer,
        worker_id: str,
        time_limit_s: float = TIME_LIMIT_S,
        visibility_s: float = VISIBILITY_S,
    ) -> RemoteWorker:
        worker = RemoteWorker(
            broker_url=redis_server.url(0),
            backend_url=redis_server.url(1),
            queues=(queue_for_worker(worker_id),),
            task_modules=TEST_TASK_MODULES,
            concurrency=2,
            name=f"{worker_id}-{host.label}-{len(hosts.processes)}",
            cwd=REPO_ROOT,
            extra_env=worker_env(redis_server.url(3), time_limit_s, visibility_s),
        )
        worker.host = host
        try:
            worker.start(hosts.log_dir, timeout_s=90)
        finally:
            if worker.process is not None:
                hosts.track(worker.process)
        return worker

    return start


def settings_for(redis_server: RedisServer, **overrides: float) -> CelerySettings:
    """The caller's settings, matching the remote workers' (scaled) limits."""
    values = {
        "task_time_limit": TIME_LIMIT_S,
        "visibility_timeout": VISIBILITY_S,
        "result_timeout": DEADLINE_S,
    }
    values.update(overrides)
    settings = CelerySettings(
        broker_url=redis_server.url(0), result_backend=redis_server.url(1), **values
    )
    settings.check()
    return settings


@pytest.fixture
async def make_engine() -> AsyncIterator[Callable[..., CeleryEngine]]:
    """Celery engines of the caller (the test host), closed at the end of the test."""
    engines: list[CeleryEngine] = []

    def make(redis_server: RedisServer, **overrides: float) -> CeleryEngine:
        engine = CeleryEngine(settings_for(redis_server, **overrides))
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        await engine.close()


@pytest.fixture
def coordination_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[RedisServer], None]]:
    """Point this process's task functions (the legacy runs) at a host's coordination db."""

    def point(redis_server: RedisServer) -> None:
        monkeypatch.setenv(tasks.COORDINATION_ENV, redis_server.url(3))
        tasks._client = None

    yield point
    tasks._client = None


StartRemoteCall = Callable[..., Awaitable[RemoteCall]]


@pytest.fixture
def start_remote_call(
    hosts: Hosts,
    host_redis: Callable[..., RedisServer],
    remote_worker: StartWorker,
    make_engine: Callable[..., CeleryEngine],
    coordination_env: Callable[[RedisServer], None],
) -> StartRemoteCall:
    """Start the call ``key`` of ``worker_id`` on a new host (:mod:`tests.multihost.remote_call`)
    and, unless ``running=False``, return once one of its batches runs there.

    ``persistent``: the host's Redis keeps an append-only file. ``time_limit_s`` and
    ``visibility_s``: the worker's and the caller's batch limits. ``deadline_s``: the call's
    deadline; ``result_timeout_s``: the engine's (the suite's :data:`DEADLINE_S` unless given).
    """

    async def start(
        key: str,
        worker_id: str,
        *,
        host_name: str = "worker",
        persistent: bool = False,
        time_limit_s: float = TIME_LIMIT_S,
        visibility_s: float = VISIBILITY_S,
        deadline_s: float = DEADLINE_S,
        result_timeout_s: float = DEADLINE_S,
        running: bool = True,
    ) -> RemoteCall:
        host = hosts.add(host_name)
        redis_server = host_redis(host, persistent=persistent)
        coordination_env(redis_server)
        await asyncio.to_thread(
            remote_worker, host, redis_server, worker_id, time_limit_s, visibility_s
        )
        engine = make_engine(
            redis_server,
            task_time_limit=time_limit_s,
            visibility_timeout=visibility_s,
            result_timeout=result_timeout_s,
        )
        options = CallOptions(worker_id=worker_id, call_id=key, timeout_s=deadline_s)
        call = asyncio.create_task(
            engine.map_batches(items_for(key), tasks.slow_triple, BATCH_SIZE, WINDOW, options)
        )
        if running:
            await until(lambda: started(key) >= 1, 30, "a running batch")
        return RemoteCall(host, redis_server, engine, call)

    return start
