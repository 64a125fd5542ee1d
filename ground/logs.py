"""structlog, configured once, with the same keys everywhere.

Every log line about a call carries ``worker``, ``route``, ``call_id`` and ``flag_version``
(bind them with :func:`get_logger`). Output is JSON lines when stderr is not a terminal (for
log shippers) and a readable console rendering on a terminal, coloured unless ``NO_COLOR``
is set. The level comes from ``CUTOVER_LOG_LEVEL`` (default ``INFO``).

A JSON line costs about 8 µs (orjson, a cached-second timestamp, one write of bytes) where
structlog's defaults (stdlib ``json``, ``datetime`` ISO stamps, ``print``) cost about 25 µs:
still far more than a routed call, which is why the shim's per-call line is at debug
(:mod:`compat.calllog`, whose level is re-read after each configuration, see
:func:`on_configure`).

Secrets never reach a log line: :func:`mask_url` hides the password of any URL before it is
logged, and the ``_mask_secrets`` processor does the same for well-known keys.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
import structlog
from structlog.typing import EventDict, WrappedLogger

from ground.constants import LOG_LEVEL_ENV

_configured = False

_SECRET_KEYS = frozenset({"password", "token", "secret", "authorization"})
_URL_KEYS = frozenset({"url", "broker_url", "backend_url", "flags_url", "redis_url"})
_MASKED_KEYS = _SECRET_KEYS | _URL_KEYS


def mask_url(url: str) -> str:
    """Return ``url`` with its password replaced by ``***`` (user names are kept)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


_URL_WITH_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]*:)[^\s@/]*@")


def mask_text(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***``.

    For free text that may quote a URL: an exception message, a traceback, a dead letter.
    """
    if "@" not in text or "://" not in text:
        return text
    return _URL_WITH_PASSWORD.sub(r"\1***@", text)


def _mask_secrets(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Mask secrets by key (passwords, tokens, URLs) and URLs quoted in any other string.

    This runs on every line: the common case (no secret key, no ``@`` in a string value) is
    one set intersection and one pass of cheap ``in`` checks.
    """
    for key in _MASKED_KEYS.intersection(event_dict):
        value = event_dict[key]
        if key in _SECRET_KEYS:
            event_dict[key] = "***"
        elif isinstance(value, str):
            event_dict[key] = mask_url(value)
    for key, value in event_dict.items():
        if isinstance(value, str) and "@" in value and "://" in value:
            event_dict[key] = mask_text(value)
    return event_dict


_stamp_cache: tuple[int, str] = (0, "")


def _add_timestamp(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """``timestamp`` in UTC ISO 8601 with microseconds, as structlog's ``TimeStamper(fmt="iso",
    utc=True)`` writes it, formatting the date and time only once per second."""
    global _stamp_cache
    now = time.time()
    second = int(now)
    cached_second, prefix = _stamp_cache
    if second != cached_second:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _stamp_cache = (second, prefix)
    event_dict["timestamp"] = f"{prefix}.{int((now - second) * 1_000_000):06d}Z"
    return event_dict


def _json_fallback(value: Any) -> str:
    """What orjson cannot serialize natively is logged as its ``repr``, never raised."""
    return repr(value)


def use_colors() -> bool:
    """False when ``NO_COLOR`` is set to anything but the empty string (https://no-color.org):
    structlog's console renderer colours a terminal's lines whatever the environment says."""
    return not os.environ.get("NO_COLOR")


def configure_logging(*, force: bool = False) -> None:
    """Configure structlog once per process (idempotent unless ``force``)."""
    global _configured
    if _configured and not force:
        return
    level_name = os.environ.get(LOG_LEVEL_ENV, "INFO").upper()
    level = logging.getLevelNamesMapping().get(level_name, logging.INFO)
    renderer: Any
    logger_factory: Any
    if sys.stderr.isatty():
        renderer = structlog.dev.ConsoleRenderer(colors=use_colors())
        logger_factory = structlog.PrintLoggerFactory(file=sys.stderr)
    else:
        renderer = structlog.processors.JSONRenderer(
            serializer=orjson.dumps, option=orjson.OPT_SORT_KEYS, default=_json_fallback
        )
        logger_factory = _BytesLoggerFactory()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            _add_timestamp,
            _mask_secrets,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=logger_factory,
        cache_logger_on_first_use=False,
    )
    _configured = True
    for hook in list(_on_configure):
        hook()


_on_configure: list[Callable[[], None]] = []


def on_configure(hook: Callable[[], None]) -> None:
    """Call ``hook`` after every (re)configuration, e.g. to re-read a level from the
    environment (the call log of ``compat``); also now, if logging is configured already."""
    _on_configure.append(hook)
    if _configured:
        hook()


class _BytesLoggerFactory:
    """structlog's ``BytesLogger`` on the *current* ``sys.stderr`` (pytest and the CLI may
    swap it after configuration), falling back to text when it has no binary buffer."""

    def __call__(self, *args: Any) -> Any:
        stream = sys.stderr
        buffer = getattr(stream, "buffer", None)
        if buffer is None:
            return _TextFromBytesLogger(stream)
        return structlog.BytesLogger(buffer)


class _TextFromBytesLogger:
    """Writes rendered bytes to a text stream (one without a ``buffer``)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def msg(self, message: bytes) -> None:
        self._stream.write(message.decode("utf-8", "replace") + "\n")
        self._stream.flush()

    log = debug = info = warn = warning = error = critical = exception = fatal = failure = msg


def get_logger(name: str, **bound: Any) -> Any:
    """A structlog logger named ``name`` with ``bound`` keys attached to every line.

    It is a lazy proxy: every call reads the configuration in force *then*, so a module-level
    logger follows a later ``configure_logging(force=True)`` (a changed level, tests that
    capture logs) instead of keeping the configuration of the moment it was imported.
    """
    configure_logging()
    return structlog.get_logger(name, **bound)


__all__ = [
    "configure_logging",
    "get_logger",
    "mask_text",
    "mask_url",
    "on_configure",
    "use_colors",
]
