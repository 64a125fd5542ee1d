"""Celery engine settings, read from the environment in one place.

=============================  =================================  ===========================
variable                       default                            meaning
=============================  =================================  ===========================
``CUTOVER_BROKER_URL``         ``redis://127.0.0.1:6379/0``       broker (``redis://``,
                                                                  ``rediss://``, ``amqp://``,
                                                                  ``amqps://``)
``CUTOVER_RESULT_BACKEND``     the broker's Redis, db 1           result backend (Redis only:
                                                                  results are awaited through
                                                                  its pub/sub)
``CUTOVER_TASK_TIME_LIMIT``    ``300``                            hard time limit of one batch
``CUTOVER_VISIBILITY_TIMEOUT`` ``2 * time limit + 60``            Redis broker redelivery
``CUTOVER_RESULT_TIMEOUT``     ``visibility + time limit + 60``   the caller's deadline: how
                                                                  long it waits for a batch
``CUTOVER_RESULT_EXPIRES``     ``3600``                           seconds results are kept
``CUTOVER_TLS_CA_FILE``        *(the system's CAs)*               CA bundle for ``rediss://``
                                                                  and ``amqps://`` peers
=============================  =================================  ===========================

TLS: a ``rediss://`` or ``amqps://`` URL turns TLS on with the peer's certificate *required*
(and, for AMQP, its host name checked). Left alone, kombu would connect to ``rediss://``
without verifying anything, and Celery would refuse a ``rediss://`` result backend outright.

The visibility timeout must be longer than the time limit plus the longest retry backoff:
otherwise the Redis broker redelivers a batch that is still running and it runs twice.
:meth:`CelerySettings.from_env` refuses such a configuration.

The caller's deadline must in turn outlast a lost batch's way back: a batch whose worker
host died is redelivered by a Redis broker only once its visibility timeout has passed (plus
one restore sweep), and then runs for up to the time limit. A deadline shorter than that
gave up on calls that were about to complete (measured: 7,936 of 8,000 results computed,
the call failed, the lost batches ran ~20 s later with nobody waiting), so
:meth:`CelerySettings.check` refuses a ``CUTOVER_RESULT_TIMEOUT`` below
:attr:`CelerySettings.redelivery_bound_s` on a Redis broker. A per-call deadline
(``CallOptions.timeout_s``, ``CUTOVER_CALL_TIMEOUT_S``) may be shorter on purpose; the
engine logs ``deadline_before_redelivery`` when it is.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ground.errors import ConfigurationError
from ground.logs import mask_url

DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"
REDIS_SCHEMES = ("redis", "rediss")
AMQP_SCHEMES = ("amqp", "amqps", "pyamqp")
QUEUE_PREFIX = "cutover."
DEFAULT_QUEUE = "cutover.default"
TLS_CA_FILE_ENV = "CUTOVER_TLS_CA_FILE"
MAX_PRIORITY = 9
"""Priorities are 0 (lowest) .. 9 (highest) as in AMQP; the Redis transport inverts them."""


def queue_for_worker(worker_id: str) -> str:
    """The Celery queue dedicated to one production worker: ``cutover.<worker_id>``."""
    return f"{QUEUE_PREFIX}{worker_id}"


def _default_backend(broker_url: str) -> str:
    parts = urlsplit(broker_url)
    if parts.scheme not in REDIS_SCHEMES:
        return "redis://127.0.0.1:6379/1"
    db = parts.path.lstrip("/") or "0"
    other_db = "1" if db != "1" else "2"
    return urlunsplit(parts._replace(path=f"/{other_db}"))


def _positive_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a number of seconds") from None
    if value <= 0:
        raise ConfigurationError(f"{name}={raw!r} must be > 0 seconds")
    return value


@dataclass(frozen=True, slots=True)
class CelerySettings:
    """Everything the Celery engine and its workers need to agree on."""

    broker_url: str = DEFAULT_BROKER_URL
    result_backend: str = "redis://127.0.0.1:6379/1"
    task_time_limit: float = 300.0
    visibility_timeout: float = 660.0
    result_timeout: float = 1020.0
    """The caller's deadline for each batch (``visibility + time limit + 60`` by default)."""
    result_expires: float = 3600.0
    tls_ca_file: str | None = None

    @classmethod
    def from_env(cls) -> CelerySettings:
        """Read and check the environment; refuses inconsistent settings with one message."""
        broker = os.environ.get("CUTOVER_BROKER_URL") or DEFAULT_BROKER_URL
        backend = os.environ.get("CUTOVER_RESULT_BACKEND") or _default_backend(broker)
        time_limit = _positive_float("CUTOVER_TASK_TIME_LIMIT", 300.0)
        visibility = _positive_float("CUTOVER_VISIBILITY_TIMEOUT", 2 * time_limit + 60)
        result_timeout = _positive_float("CUTOVER_RESULT_TIMEOUT", visibility + time_limit + 60)
        expires = _positive_float("CUTOVER_RESULT_EXPIRES", 3600.0)
        ca_file = os.environ.get(TLS_CA_FILE_ENV) or None
        settings = cls(broker, backend, time_limit, visibility, result_timeout, expires, ca_file)
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse URLs we cannot use and a visibility timeout that would duplicate work."""
        broker_scheme = urlsplit(self.broker_url).scheme
        if broker_scheme not in REDIS_SCHEMES + AMQP_SCHEMES:
            raise ConfigurationError(
                f"CUTOVER_BROKER_URL={mask_url(self.broker_url)!r}: the scheme must be one of "
                "redis, rediss, amqp, amqps"
            )
        if urlsplit(self.result_backend).scheme not in REDIS_SCHEMES:
            raise ConfigurationError(
                f"CUTOVER_RESULT_BACKEND={mask_url(self.result_backend)!r}: the result backend "
                "must be redis:// or rediss:// (callers await results through its pub/sub)"
            )
        if self.visibility_timeout <= self.task_time_limit:
            raise ConfigurationError(
                f"CUTOVER_VISIBILITY_TIMEOUT ({self.visibility_timeout:g}s) must be longer than "
                f"CUTOVER_TASK_TIME_LIMIT ({self.task_time_limit:g}s), or the Redis broker "
                "redelivers batches that are still running"
            )
        if self.broker_is_redis and self.result_timeout < self.redelivery_bound_s:
            raise ConfigurationError(
                f"CUTOVER_RESULT_TIMEOUT ({self.result_timeout:g}s) is shorter than a lost "
                f"batch's way back ({self.redelivery_bound_s:g}s: the visibility timeout "
                f"{self.visibility_timeout:g}s, one restore sweep "
                f"{self.restore_interval:g}s, the time limit {self.task_time_limit:g}s): a "
                "caller would give up on batches the Redis broker is about to redeliver. "
                f"Set CUTOVER_RESULT_TIMEOUT to at least {self.redelivery_bound_s:g}, or "
                "lower CUTOVER_VISIBILITY_TIMEOUT (it must stay above the time limit)"
            )

    @property
    def broker_is_redis(self) -> bool:
        """Redis brokers invert priorities and need a visibility timeout."""
        return urlsplit(self.broker_url).scheme in REDIS_SCHEMES

    @property
    def network_timeout_s(self) -> float:
        """Socket (read and connect) timeout of the broker and result backend connections:
        half the time limit, 2 to 10 s (above the Redis transport's 1 s blocking pop)."""
        return min(10.0, max(2.0, self.task_time_limit / 2))

    @property
    def redelivery_bound_s(self) -> float:
        """The longest a Redis broker takes to bring back and finish a batch whose worker
        died: visibility timeout + one restore sweep + the time limit (AMQP brokers
        redeliver when the dead worker's connection is closed or its heartbeat missed)."""
        return self.visibility_timeout + self.restore_interval + self.task_time_limit

    @property
    def restore_interval(self) -> float:
        """Seconds between sweeps that requeue batches of dead Redis consumers."""
        return min(10.0, max(1.0, self.visibility_timeout / 20))

    @property
    def broker_use_ssl(self) -> dict[str, Any] | None:
        """TLS options of the broker connection (``None`` for a plain URL)."""
        parts = urlsplit(self.broker_url)
        if parts.scheme == "rediss":
            return self._redis_tls()
        if parts.scheme == "amqps":
            options: dict[str, Any] = {"cert_reqs": ssl.CERT_REQUIRED}
            if parts.hostname:
                options["server_hostname"] = parts.hostname  # SNI, and the name is checked
            if self.tls_ca_file:
                options["ca_certs"] = self.tls_ca_file
            return options
        return None

    @property
    def redis_backend_use_ssl(self) -> dict[str, Any] | None:
        """TLS options of the result backend connection (``None`` for ``redis://``)."""
        if urlsplit(self.result_backend).scheme == "rediss":
            return self._redis_tls()
        return None

    def _redis_tls(self) -> dict[str, Any]:
        options: dict[str, Any] = {"ssl_cert_reqs": ssl.CERT_REQUIRED}
        if self.tls_ca_file:
            options["ssl_ca_certs"] = self.tls_ca_file
        return options

    def celery_config(self) -> dict[str, Any]:
        """The Celery configuration (``app.conf``) that production needs."""
        from adapters.celery.backend import backend_url
        from adapters.codec import CONTENT_TYPE, SERIALIZER_NAME

        transport_options: dict[str, Any] = {}
        if self.broker_is_redis:
            transport_options = {
                # A partition drops packets silently. Without a read timeout the worker's main
                # loop blocked in its restore sweep (a SET NX for kombu's mutex) for the whole
                # cut: nothing logged, no time limit enforced (a batch ran 53 s past a 20 s
                # limit), every overdue soft limit fired at the heal. (kombu's pub/sub health
                # check, tried as well, left the consumer idle for 40 s after the heal.)
                "socket_timeout": self.network_timeout_s,
                "socket_connect_timeout": self.network_timeout_s,
                "socket_keepalive": True,
                "visibility_timeout": self.visibility_timeout,
                "priority_steps": list(range(MAX_PRIORITY + 1)),
                "sep": ":",
                "queue_order_strategy": "priority",
                # A batch whose worker died outright (SIGKILL, lost machine) waits in the
                # unacked set until its visibility timeout passes; kombu's default sweep then
                # looks only every 100 s. Sweep every visibility/20 s (1..10 s) instead.
                "unacked_restore_interval": self.restore_interval,
                "unacked_restore_throttle": 1,
            }
        return {
            "broker_url": self.broker_url,
            "result_backend": backend_url(self.result_backend),
            # Safe by default: only our typed JSON crosses the broker, in both directions.
            "task_serializer": SERIALIZER_NAME,
            "result_serializer": SERIALIZER_NAME,
            "event_serializer": "json",
            "accept_content": [SERIALIZER_NAME, CONTENT_TYPE],
            "result_accept_content": [SERIALIZER_NAME, CONTENT_TYPE],
            # Reliability: a batch is acknowledged only when done; a dead child requeues it.
            "task_acks_late": True,
            "task_reject_on_worker_lost": True,
            "task_acks_on_failure_or_timeout": True,
            "worker_prefetch_multiplier": 1,
            "task_time_limit": self.task_time_limit,
            "task_soft_time_limit": max(self.task_time_limit - 5, self.task_time_limit * 0.9),
            "broker_transport_options": transport_options,
            "result_backend_transport_options": {"visibility_timeout": self.visibility_timeout},
            # The same for storing a result: a child never hangs on a silent backend. The
            # store fails (logged), the batch stays unacknowledged and is redelivered after
            # the heal; retrying the store instead ran into the overdue soft limit at the
            # heal and stored a SoftTimeLimitExceeded failure (measured).
            "redis_socket_timeout": self.network_timeout_s,
            "redis_socket_connect_timeout": self.network_timeout_s,
            "redis_socket_keepalive": True,
            "redis_backend_health_check_interval": self.network_timeout_s,
            "result_expires": self.result_expires,
            # The stored result is the batch's output only: "extended" results would carry
            # every item back a second time (and into Redis), for nobody to read.
            "result_extended": False,
            # Queues: one per production worker, created on demand; priorities honoured.
            "task_default_queue": DEFAULT_QUEUE,
            "task_create_missing_queues": True,
            "task_queue_max_priority": MAX_PRIORITY,
            "task_default_priority": 5,
            "broker_connection_retry_on_startup": True,
            "worker_hijack_root_logger": False,
            # Task events cost the worker a broker publish per state change (measured: half of
            # the prefork parent's CPU per batch). Flower switches them on when it starts
            # (``enable_events``); ``cutover worker celery --events`` does so from the start.
            "worker_send_task_events": False,
            "task_send_sent_event": False,
            "task_track_started": False,
            "broker_use_ssl": self.broker_use_ssl,
            "redis_backend_use_ssl": self.redis_backend_use_ssl,
        }


__all__ = [
    "DEFAULT_BROKER_URL",
    "DEFAULT_QUEUE",
    "MAX_PRIORITY",
    "TLS_CA_FILE_ENV",
    "CelerySettings",
    "queue_for_worker",
]
