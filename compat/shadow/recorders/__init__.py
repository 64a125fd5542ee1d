"""Where shadow records go: the flag store's backend, chosen by its URL in one place.

:func:`open_recorder` picks the implementation from the flag store URL
(``CUTOVER_FLAGS_URL``, see :func:`flags.stores.configured_flags_url`):

- ``redis://`` / ``rediss://`` -> :class:`RedisShadowRecorder`, a capped stream per worker
  in the same Redis database as the flags;
- ``file://`` -> :class:`JsonlShadowRecorder`, ``shadow-<worker>.jsonl`` files in the
  directory of the flags JSON file.

:func:`get_recorder` is the process-wide recorder the shadow runner writes to;
:func:`reset_recorder` closes it (tests, a changed ``CUTOVER_FLAGS_URL``).
:class:`MemoryShadowRecorder` keeps records in memory (tests, embedding applications).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from compat.shadow.recorders.base import (
    BATCH_SIZE,
    DEFAULT_READ_LIMIT,
    QUEUE_SIZE,
    BufferedRecorder,
    ShadowRecorder,
)
from compat.shadow.recorders.jsonl_recorder import JsonlShadowRecorder
from compat.shadow.recorders.memory_recorder import MemoryShadowRecorder
from flags.stores import FLAGS_URL_ENV, configured_flags_url
from ground.schemes import SchemeTable

if TYPE_CHECKING:
    from compat.shadow.recorders.redis_recorder import RedisShadowRecorder


def __getattr__(name: str) -> Any:
    # redis-py is imported only when Redis is used: importing the shim stays cheap.
    if name == "RedisShadowRecorder":
        from compat.shadow.recorders.redis_recorder import RedisShadowRecorder

        return RedisShadowRecorder
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_RECORDERS = SchemeTable(
    "shadow records' flag store URL",
    {
        "redis": "compat.shadow.recorders.redis_recorder:RedisShadowRecorder",
        "rediss": "compat.shadow.recorders.redis_recorder:RedisShadowRecorder",
        "file": "compat.shadow.recorders.jsonl_recorder:JsonlShadowRecorder.beside_flags_file",
    },
    setting=FLAGS_URL_ENV,
)


def open_recorder(flags_url: str | None = None) -> ShadowRecorder:
    """The recorder beside the flag store named by ``flags_url`` (default: the configured one).

    Opening connects to nothing; an unknown scheme is a
    :class:`~ground.errors.ConfigurationError`.
    """
    url = configured_flags_url(flags_url)
    recorder: ShadowRecorder = _RECORDERS.resolve(url)(url)
    return recorder


_lock = threading.Lock()
_recorder: ShadowRecorder | None = None


def get_recorder() -> ShadowRecorder:
    """The process-wide recorder (opened on first use from the configured flag store URL)."""
    global _recorder
    with _lock:
        if _recorder is None:
            _recorder = open_recorder()
        return _recorder


def reset_recorder(recorder: ShadowRecorder | None = None) -> None:
    """Close the process-wide recorder (flushing briefly); the next use opens ``recorder``.

    ``None`` (the default): the next :func:`get_recorder` opens one from the configuration.
    """
    global _recorder
    with _lock:
        previous, _recorder = _recorder, recorder
    if previous is not None and previous is not recorder:
        previous.close()


__all__ = [
    "BATCH_SIZE",
    "DEFAULT_READ_LIMIT",
    "QUEUE_SIZE",
    "BufferedRecorder",
    "JsonlShadowRecorder",
    "MemoryShadowRecorder",
    "RedisShadowRecorder",
    "ShadowRecorder",
    "get_recorder",
    "open_recorder",
    "reset_recorder",
]
