"""structlog, configured once, with the same keys everywhere.

Every log line about a call carries ``worker``, ``route``, ``call_id`` and ``flag_version``
(bind them with :func:`get_logger`). Output is JSON lines when stderr is not a terminal (for
log shippers) and a readable console rendering on a terminal. The level comes from
``CUTOVER_LOG_LEVEL`` (default ``INFO``).

Secrets never reach a log line: :func:`mask_url` hides the password of any URL before it is
logged, and the ``_mask_secrets`` processor does the same for well-known keys.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import structlog
from structlog.typing import EventDict, WrappedLogger

_configured = False

_SECRET_KEYS = frozenset({"password", "token", "secret", "authorization"})
_URL_KEYS = frozenset({"url", "broker_url", "backend_url", "flags_url", "redis_url"})


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
    for key, value in event_dict.items():
        if key in _SECRET_KEYS:
            event_dict[key] = "***"
        elif key in _URL_KEYS and isinstance(value, str):
            event_dict[key] = mask_url(value)
        elif isinstance(value, str) and "://" in value:
            event_dict[key] = mask_text(value)
    return event_dict


def configure_logging(*, force: bool = False) -> None:
    """Configure structlog once per process (idempotent unless ``force``)."""
    global _configured
    if _configured and not force:
        return
    level_name = os.environ.get("CUTOVER_LOG_LEVEL", "INFO").upper()
    level = logging.getLevelNamesMapping().get(level_name, logging.INFO)
    renderer: Any
    if sys.stderr.isatty():
        renderer = structlog.dev.ConsoleRenderer()
    else:
        renderer = structlog.processors.JSONRenderer(sort_keys=True)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _mask_secrets,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    _configured = True


def get_logger(name: str, **bound: Any) -> Any:
    """A structlog logger named ``name`` with ``bound`` keys attached to every line.

    It is a lazy proxy: every call reads the configuration in force *then*, so a module-level
    logger follows a later ``configure_logging(force=True)`` (a changed level, tests that
    capture logs) instead of keeping the configuration of the moment it was imported.
    """
    configure_logging()
    return structlog.get_logger(name, **bound)


__all__ = ["configure_logging", "get_logger", "mask_text", "mask_url"]
