"""The flag stores, one module each, chosen by URL scheme in one place: :func:`open_store`.

``CUTOVER_FLAGS_URL`` names the store (``redis://``, ``rediss://``, ``file://``). When it is
unset, flags live in one JSON file, ``$CUTOVER_HOME/flags.json`` (``CUTOVER_HOME`` defaults to
``~/.cutover``), so a machine with nothing configured still works.
"""

from __future__ import annotations

import os
from pathlib import Path

from flags.store import FlagStore
from ground.constants import FLAGS_URL_ENV, HOME_ENV
from ground.schemes import SchemeTable

_STORES = SchemeTable(
    "flag store URL",
    {
        "redis": "flags.stores.redis_store:RedisFlagStore",
        "rediss": "flags.stores.redis_store:RedisFlagStore",
        "file": "flags.stores.file_store:FileFlagStore",
    },
    setting=FLAGS_URL_ENV,
)
SCHEMES = _STORES.schemes


def cutover_home() -> Path:
    """The directory of cutover's local state: ``$CUTOVER_HOME`` or ``~/.cutover``."""
    configured = os.environ.get(HOME_ENV)
    return Path(configured).expanduser() if configured else Path.home() / ".cutover"


def default_flags_url() -> str:
    """The file store used when ``CUTOVER_FLAGS_URL`` is unset."""
    return (cutover_home() / "flags.json").absolute().as_uri()


def configured_flags_url(url: str | None = None) -> str:
    """``url``, else ``$CUTOVER_FLAGS_URL``, else the default file store."""
    return url or os.environ.get(FLAGS_URL_ENV) or default_flags_url()


def open_store(url: str | None = None) -> FlagStore:
    """Open the store named by ``url`` (default: ``$CUTOVER_FLAGS_URL``, then the file store).

    Opening does not connect: an unreachable store is reported by the first read or write.
    An unknown scheme is a :class:`~ground.errors.ConfigurationError`.
    """
    url = configured_flags_url(url)
    store: FlagStore = _STORES.resolve(url)(url)
    return store


__all__ = [
    "FLAGS_URL_ENV",
    "HOME_ENV",
    "SCHEMES",
    "configured_flags_url",
    "cutover_home",
    "default_flags_url",
    "open_store",
]
