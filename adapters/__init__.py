"""One execution interface, three real engines.

``adapters.base`` defines :class:`ExecutionEngine`; each engine is a package of its own,
``adapters/<engine>/`` with its ``engine`` module (``adapters.legacy.engine``,
``adapters.celery.engine``, ``adapters.ray.engine``) and its helpers beside it;
:func:`get_engine` maps the names ``legacy``, ``celery`` and ``ray`` to process-wide instances.
Importing this package starts nothing and imports neither Celery nor Ray: an engine's module
is imported the first time it is asked for.
"""

from __future__ import annotations

from adapters.base import (
    DEFAULT_OPTIONS,
    CallOptions,
    EngineHealth,
    ExecutionEngine,
    RetryPolicy,
    TaskFunc,
    ZeroArgTask,
)
from adapters.registry import ENGINE_NAMES, close_all, get_engine, loaded_engines

__all__ = [
    "DEFAULT_OPTIONS",
    "ENGINE_NAMES",
    "CallOptions",
    "EngineHealth",
    "ExecutionEngine",
    "RetryPolicy",
    "TaskFunc",
    "ZeroArgTask",
    "close_all",
    "get_engine",
    "loaded_engines",
]
