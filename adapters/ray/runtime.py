"""Ray settings, and the process-wide Ray runtime: a lazy ``ray.init`` on one long-lived thread.

Configuration, read from the environment in one place (:meth:`RaySettings.from_env`):

``RAY_ADDRESS``
    Connect to this cluster: its GCS address ``host:port`` (6379 by default), or ``auto`` on
    a node of the cluster. Unset (or ``local``): start a local instance sized to the machine.
    A ``ray://`` address (Ray Client) is refused with an error that says so unless the Ray
    Client is installed (``ray[client]``): cutover neither installs nor tests it.
``CUTOVER_RAY_NUM_CPUS``
    CPUs of a local instance (default ``os.cpu_count()``).
``CUTOVER_RAY_OBJECT_STORE_MB``
    Object store of a local instance, in MiB (default 512; Ray's own default is 30 % of RAM).
``CUTOVER_RAY_MAX_RETRIES``
    How many times Ray re-runs a task whose worker process died (default 3). Exceptions
    raised by the task are never retried by Ray: see ``CallOptions.retry``.
``CUTOVER_RAY_BATCH_CPUS``
    CPUs one batch task reserves (default 1). With 1, a node runs at most one batch per
    core; an I/O-bound fleet can set e.g. ``0.25`` to run four batches per core.
``CUTOVER_RAY_LOG_TO_DRIVER``
    ``1`` (default) streams the workers' stdout/stderr into this process's stderr, prefixed
    with the task and pid, so a worker's warnings and crashes are visible where the caller
    runs, as they were on the in-process legacy route; ``0`` leaves them in Ray's log files.
``CUTOVER_RAY_WORKER_NICENESS``
    Niceness of a local instance's worker processes (default 0). Ray's default is 15,
    which lets any other busy process on the host starve the workers; on the legacy route
    the same work ran at the caller's priority.
``CUTOVER_RAY_CONNECT_TIMEOUT_S``
    How long :func:`acquire` waits for ``ray.init`` (default 60). Ray itself keeps retrying
    an unreachable address for minutes.
``RAY_AUTH_MODE``, ``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH``
    Ray's own token authentication, read by Ray. A cluster that refuses our token is an
    :class:`~ground.errors.EngineAuthenticationError` naming the refusal and where this
    process looks for its token, never the token; it is asked once before ``ray.init``, so
    the refusal comes at once instead of after Ray's 20 s of retries.
``CUTOVER_RAY_RESULT_TIMEOUT_S``
    The caller's deadline for one remote task (a batch, a pipeline chunk, a task) when the
    call names none (``CallOptions.timeout_s``, ``$CUTOVER_CALL_TIMEOUT_S``): default 360.
    Without one, a call whose only CPU node died waited, silently, until a node came back.

``RAY_DISABLE_FAILURE_SIGNAL_HANDLER``
    Set to ``1`` here unless already set: Ray's native failure handler otherwise catches the
    host's SIGTERM (a normal shutdown of a production worker) and prints a fake crash report
    with a stack trace before passing it on. Set it to ``0`` to keep Ray's handler (it also
    dumps stacks on SIGSEGV).

Why one dedicated thread: ``ray.init`` blocks for seconds, so it must not run on the caller's
event loop; but a local instance's GCS and raylet are started with ``PR_SET_PDEATHSIG``, which
Linux fires when the *thread* that spawned them exits. Started from an executor thread that
later exits (``asyncio.to_thread``'s pool at loop shutdown, for example), the whole local
instance is SIGKILLed under the caller's feet. So ``ray.init`` and ``ray.shutdown`` always run
on one daemon thread that lives as long as the process.

Workers must import the task modules: for a local instance, the driver's ``sys.path`` (minus
the interpreter's own directories) is given to every worker as ``PYTHONPATH`` through the job's
``runtime_env``, so modules found through ``sys.path`` changes made at run time (pytest's
rootdir, a script's directory) import in the workers too. A cluster's workers must have the
task modules installed (or use a ``runtime_env`` ``working_dir`` of their own): local paths
mean nothing on other machines.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib.util
import os
import socket
import sys
import sysconfig
import threading
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from ground.errors import ConfigurationError, EngineAuthenticationError, EngineUnavailableError
from ground.logs import get_logger, mask_url

T = TypeVar("T")

ADDRESS_ENV = "RAY_ADDRESS"
NUM_CPUS_ENV = "CUTOVER_RAY_NUM_CPUS"
OBJECT_STORE_MB_ENV = "CUTOVER_RAY_OBJECT_STORE_MB"
MAX_RETRIES_ENV = "CUTOVER_RAY_MAX_RETRIES"
BATCH_CPUS_ENV = "CUTOVER_RAY_BATCH_CPUS"
LOG_TO_DRIVER_ENV = "CUTOVER_RAY_LOG_TO_DRIVER"
WORKER_NICENESS_ENV = "CUTOVER_RAY_WORKER_NICENESS"
CONNECT_TIMEOUT_ENV = "CUTOVER_RAY_CONNECT_TIMEOUT_S"
RESULT_TIMEOUT_ENV = "CUTOVER_RAY_RESULT_TIMEOUT_S"

_MIB = 1024 * 1024
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})

log = get_logger("cutover.ray.runtime", engine="ray")

FAILURE_HANDLER_ENV = "RAY_DISABLE_FAILURE_SIGNAL_HANDLER"
# Ray reads it once, when it is first imported; this module is imported before Ray is.
os.environ.setdefault(FAILURE_HANDLER_ENV, "1")


@dataclass(frozen=True, slots=True)
class RaySettings:
    """How to reach Ray and how to run tasks on it (defaults are the documented ones)."""

    address: str | None = None
    """A cluster to connect to; ``None`` starts a local instance."""
    num_cpus: int | None = None
    """CPUs of a local instance; ``None``: ``os.cpu_count()``."""
    object_store_mb: int = 512
    """Object store of a local instance, in MiB (Ray refuses less than about 75)."""
    max_retries: int = 3
    """Ray's re-runs of a task whose worker process died (system failures only)."""
    batch_cpus: float = 1.0
    log_to_driver: bool = True
    worker_niceness: int = 0
    """Niceness of a local instance's workers (Ray's own default is 15)."""
    connect_timeout_s: float = 60.0
    result_timeout_s: float = 360.0
    """How long a call waits for one remote task when its options name no deadline."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RaySettings:
        """Settings from the environment variables listed in the module docstring."""
        env = os.environ if environ is None else environ
        address = env.get(ADDRESS_ENV, "").strip() or None
        if address == "local":
            address = None
        defaults = cls()
        object_store_mb = _int_setting(env, OBJECT_STORE_MB_ENV, minimum=80)
        max_retries = _int_setting(env, MAX_RETRIES_ENV, minimum=0)
        niceness = _int_setting(env, WORKER_NICENESS_ENV, minimum=0)
        return cls(
            address=address,
            num_cpus=_int_setting(env, NUM_CPUS_ENV, minimum=1),
            object_store_mb=(
                defaults.object_store_mb if object_store_mb is None else object_store_mb
            ),
            max_retries=defaults.max_retries if max_retries is None else max_retries,
            batch_cpus=_float_setting(env, BATCH_CPUS_ENV, defaults.batch_cpus),
            log_to_driver=_bool_setting(env, LOG_TO_DRIVER_ENV, defaults.log_to_driver),
            worker_niceness=defaults.worker_niceness if niceness is None else niceness,
            connect_timeout_s=_float_setting(env, CONNECT_TIMEOUT_ENV, defaults.connect_timeout_s),
            result_timeout_s=_float_setting(env, RESULT_TIMEOUT_ENV, defaults.result_timeout_s),
        )

    @property
    def masked_address(self) -> str:
        """The address, safe to log (a password in it is replaced by ``***``)."""
        return mask_url(self.address) if self.address else "a local instance"


def _int_setting(env: Mapping[str, str], name: str, minimum: int) -> int | None:
    """The integer in ``env[name]``, ``None`` when unset; below ``minimum`` is refused."""
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise ConfigurationError(f"{name}={raw!r}: expected an integer >= {minimum}")
    return value


def _float_setting(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise ConfigurationError(f"{name}={raw!r}: expected a positive number")
    return value


def _bool_setting(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ConfigurationError(f"{name}={raw!r}: expected 1/0, true/false, yes/no or on/off")


def worker_pythonpath() -> str:
    """The driver's ``sys.path`` as a ``PYTHONPATH``, without the interpreter's own directories.

    The standard library and site-packages are left out (a worker has its own, and putting
    them first on ``PYTHONPATH`` could shadow modules); ``""`` becomes the current directory;
    entries that do not exist are dropped; order is kept.
    """
    interpreter_dirs = {
        os.path.realpath(path)
        for key in ("stdlib", "platstdlib", "purelib", "platlib")
        if (path := sysconfig.get_paths().get(key))
    }
    entries: list[str] = []
    for entry in sys.path:
        path = os.path.realpath(entry or os.getcwd())
        inside_interpreter = any(
            path == root or path.startswith(root + os.sep) for root in interpreter_dirs
        )
        if inside_interpreter or not os.path.exists(path) or path in entries:
            continue
        entries.append(path)
    return os.pathsep.join(entries)


@dataclass(frozen=True, slots=True)
class RuntimeInfo:
    """What :func:`acquire` connected to."""

    mode: str
    """``local`` (we started it), ``cluster`` (we connected) or ``reused`` (someone else did)."""
    address: str
    """Safe to log."""
    cpus: float
    """CPUs of the whole cluster when it was reached."""

    @property
    def owned(self) -> bool:
        """True when this module called ``ray.init``, so it also calls ``ray.shutdown``."""
        return self.mode != "reused"


class _RuntimeThread:
    """One daemon thread that runs ``ray.init`` / ``ray.shutdown`` and other blocking calls.

    It never exits (see the module docstring: a local instance dies with the thread that
    started it); being a daemon, it does not keep the interpreter alive, and Ray's own
    ``atexit`` shutdown still finds its GCS running.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: Any = None  # queue.SimpleQueue, created with the thread

    def submit(self, func: Callable[[], T]) -> concurrent.futures.Future[T]:
        """Run ``func`` on the runtime thread; the future holds its result or exception."""
        import queue

        with self._lock:
            if self._calls is None:
                self._calls = queue.SimpleQueue()
                threading.Thread(
                    target=self._serve, args=(self._calls,), name="cutover-ray-runtime", daemon=True
                ).start()
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._calls.put((func, future))
        return future

    @staticmethod
    def _serve(calls: Any) -> None:
        while True:
            func, future = calls.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(func())
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller, never lost
                future.set_exception(exc)


_thread = _RuntimeThread()
_state_lock = threading.Lock()
_info: RuntimeInfo | None = None
_holders: weakref.WeakSet[object] = weakref.WeakSet()


def is_up() -> bool:
    """True when Ray is initialized in this process (cheap; imports nothing new)."""
    ray = sys.modules.get("ray")
    return ray is not None and bool(ray.is_initialized())


async def run_blocking(func: Callable[[], T]) -> T:
    """Await ``func()`` run on the runtime thread, without blocking the caller's loop."""
    return await asyncio.wrap_future(_thread.submit(func))


async def acquire(holder: object, settings: RaySettings) -> RuntimeInfo:
    """Make sure Ray is initialized in this process and count ``holder`` as a user of it.

    Reuses a Ray that is already initialized (by us or by anyone else). Raises
    :class:`~ground.errors.EngineUnavailableError` when Ray cannot be started or reached
    within ``settings.connect_timeout_s``; nothing was sent then.
    """
    with _state_lock:  # held only for these two lines: the loop never waits on ray.init
        _holders.add(holder)
        info = _info
    if info is not None and is_up():
        return info
    future = _thread.submit(lambda: _connect(settings))
    try:
        return await asyncio.wait_for(asyncio.wrap_future(future), settings.connect_timeout_s)
    except TimeoutError:
        _forget(holder)
        what = "start" if settings.address is None else "connect to"
        raise EngineUnavailableError(
            f"could not {what} Ray ({settings.masked_address}) within "
            f"{settings.connect_timeout_s:g}s ({CONNECT_TIMEOUT_ENV}); nothing was sent"
        ) from None
    except BaseException:
        _forget(holder)
        raise


async def release(holder: object) -> None:
    """``holder`` no longer uses Ray; the last one out shuts down a Ray this module started.

    A local instance is stopped; a cluster connection is only disconnected (the cluster keeps
    running); a Ray initialized by someone else is left alone.
    """
    if _forget(holder):
        await run_blocking(_shutdown_if_unused)


def _forget(holder: object) -> bool:
    """Drop ``holder``; True when no holder is left."""
    with _state_lock:
        _holders.discard(holder)
        return not _holders


def _connect(settings: RaySettings) -> RuntimeInfo:
    """On the runtime thread (so never twice at once): reuse an initialized Ray, else
    ``ray.init`` as configured.
    """
    global _info
    import ray

    if ray.is_initialized():
        info = _info
        if info is None:
            address = str(ray.get_runtime_context().gcs_address)
            info = _info = RuntimeInfo("reused", mask_url(address), _cluster_cpus(ray))
            log.info("ray_reused", address=info.address, cpus=info.cpus)
        return info
    _check_client_address(settings)
    _check_token_first(settings)
    common: dict[str, Any] = {
        "ignore_reinit_error": True,
        "log_to_driver": settings.log_to_driver,
    }
    try:
        if settings.address is None:
            ray.init(
                address="local",
                num_cpus=settings.num_cpus or os.cpu_count() or 1,
                object_store_memory=settings.object_store_mb * _MIB,
                include_dashboard=False,
                runtime_env={"env_vars": {"PYTHONPATH": worker_pythonpath()}},
                _system_config={"worker_niceness": settings.worker_niceness},
                **common,
            )
            mode = "local"
            address = str(ray.get_runtime_context().gcs_address)
        else:
            ray.init(address=settings.address, **common)
            mode = "cluster"
            address = settings.masked_address
        cpus = _cluster_cpus(ray)
    except Exception as exc:
        _shutdown_quietly(ray)
        raise _unavailable(settings, exc) from exc
    info = _info = RuntimeInfo(mode, address, cpus)
    log.info("ray_started", mode=mode, address=address, cpus=cpus)
    return info


CLIENT_SCHEME = "ray://"


def _check_client_address(settings: RaySettings) -> None:
    """Refuse a ``ray://`` address when the Ray Client is not installed, saying what to use.

    Plain ``ray`` has no Ray Client; ``ray.init("ray://...")`` then fails with "Ray Client
    requires ray[client]", and the call fell back to legacy with that as a warning only.
    """
    address = settings.address or ""
    if not address.startswith(CLIENT_SCHEME) or importlib.util.find_spec("grpc") is not None:
        return
    raise EngineUnavailableError(
        f"{ADDRESS_ENV}={settings.masked_address}: a ray:// address needs the Ray Client "
        "(pip install 'ray[client]'), which is not installed; cutover neither installs nor "
        f"tests it. Set {ADDRESS_ENV} to the cluster's GCS address instead (host:6379, from a "
        "machine that reaches every node of the cluster), or to auto on a node of the "
        "cluster; nothing was sent"
    )


AUTH_MODE_ENV = "RAY_AUTH_MODE"
AUTH_TOKEN_ENV = "RAY_AUTH_TOKEN"
AUTH_TOKEN_PATH_ENV = "RAY_AUTH_TOKEN_PATH"
_AUTH_MARKERS = ("InvalidAuthToken", "AuthenticationError", "Unauthenticated")


def auth_refusal(exc: BaseException) -> str | None:
    """Ray's words when ``exc``, or an exception it came from, is a refused token.

    ``ray.init`` reports a cluster that refuses our token as "Failed to connect to Ray
    cluster" (after about 20 s of retries); the ``AuthenticationError`` is only in the text
    of the exception it chains from, so the chain's messages are searched.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if type(current).__name__ == "AuthenticationError":
            return str(getattr(current, "message", "") or current).split(". ")[0]
        for line in str(current).splitlines():
            if any(marker in line for marker in _AUTH_MARKERS):
                words = line.split("AuthenticationError: ", 1)[-1].strip()
                return words.split(". ")[0]
        current = current.__cause__ or current.__context__
    return None


def token_source(environ: Mapping[str, str] | None = None) -> str:
    """Where this process's Ray token comes from, in words, without the token itself."""
    env = os.environ if environ is None else environ
    mode = env.get(AUTH_MODE_ENV, "").strip() or "unset"
    if env.get(AUTH_TOKEN_ENV):
        where = f"a token in {AUTH_TOKEN_ENV}"
    elif env.get(AUTH_TOKEN_PATH_ENV):
        where = f"the token file {AUTH_TOKEN_PATH_ENV}={env[AUTH_TOKEN_PATH_ENV]}"
    elif os.path.exists(os.path.expanduser("~/.ray/auth_token")):
        where = "the token file ~/.ray/auth_token"
    else:
        where = "no token"
    return f"{AUTH_MODE_ENV}={mode}, {where}"


def _check_token_first(settings: RaySettings) -> None:
    """Against a ``host:port`` cluster that answers, ask its GCS once before ``ray.init``:
    a refused token then fails in milliseconds, not after Ray's 20 s of retries.

    Anything else than a refusal (an old Ray without the client, a GCS that is not ready)
    is left to ``ray.init``, as is an address that does not even accept a TCP connection
    (Ray's own client would wait 40 s on it here). ``GcsClient`` is Ray's own (``ray
    status`` and the log monitor use it); checked against Ray 2.60.
    """
    address = settings.address or ""
    host, _, port = address.rpartition(":")
    if "://" in address or not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=2.0).close()
    except OSError:
        return
    try:
        from ray._raylet import GcsClient  # type: ignore[attr-defined]  # Cython, untyped

        GcsClient(address=address)
    except Exception as exc:  # noqa: BLE001 - only a refusal is ours to report here
        if auth_refusal(exc) is not None:
            raise _unavailable(settings, exc) from None
        log.debug("ray_token_check_inconclusive", error=f"{type(exc).__name__}: {exc}")


def _unavailable(settings: RaySettings, exc: Exception) -> EngineUnavailableError:
    detail = f"{type(exc).__name__}: {exc}"
    refusal = auth_refusal(exc)
    if refusal is not None:
        return EngineAuthenticationError(
            f"the Ray cluster at {settings.masked_address} ({ADDRESS_ENV}) refused this "
            f"process's authentication: {refusal} (Ray token authentication; this process "
            f"has {token_source()}). Give it the cluster's token: {AUTH_MODE_ENV}=token with "
            f"{AUTH_TOKEN_ENV}, {AUTH_TOKEN_PATH_ENV} or ~/.ray/auth_token (`ray "
            "get-auth-token` on the head node prints it); nothing was sent"
        )
    if settings.address:
        detail = detail.replace(settings.address, settings.masked_address)
        return EngineUnavailableError(
            f"could not connect to the Ray cluster at {settings.masked_address} "
            f"({ADDRESS_ENV}): {detail}; nothing was sent"
        )
    return EngineUnavailableError(f"could not start a local Ray instance: {detail}")


def _cluster_cpus(ray: Any) -> float:
    return float(ray.cluster_resources().get("CPU", 1.0)) or 1.0


def _shutdown_quietly(ray: Any) -> None:
    try:
        ray.shutdown()
    except Exception as exc:  # noqa: BLE001 - after a failed init, the init error matters more
        log.warning("ray_shutdown_failed", error=str(exc))


def _shutdown_if_unused() -> None:
    """On the runtime thread: ``ray.shutdown()`` if no holder is left and we initialized Ray.

    ``_info`` is cleared first, under the lock, so an :func:`acquire` that comes meanwhile
    queues a new ``ray.init`` behind this shutdown instead of using the Ray going away.
    """
    global _info
    import ray

    with _state_lock:
        if _holders or _info is None:
            return
        info, _info = _info, None
    if info.owned and ray.is_initialized():
        ray.shutdown()
        log.info("ray_stopped", mode=info.mode, address=info.address)


def cluster_summary() -> dict[str, Any]:
    """On the runtime thread: alive nodes and CPU / object store totals and availability."""
    ray: Any = sys.modules["ray"]  # imported by acquire(); parts of its API are untyped
    total = ray.cluster_resources()
    available = ray.available_resources()
    nodes = [node for node in ray.nodes() if node.get("Alive")]
    return {
        "nodes": len(nodes),
        "cpus": float(total.get("CPU", 0.0)),
        "cpus_available": float(available.get("CPU", 0.0)),
        "object_store_mb": float(total.get("object_store_memory", 0.0)) / _MIB,
        "object_store_available_mb": float(available.get("object_store_memory", 0.0)) / _MIB,
    }


def current_info() -> RuntimeInfo | None:
    """What :func:`acquire` last connected to, while Ray is up."""
    return _info if is_up() else None


__all__ = [
    "RaySettings",
    "RuntimeInfo",
    "acquire",
    "cluster_summary",
    "current_info",
    "is_up",
    "release",
    "run_blocking",
    "worker_pythonpath",
]
