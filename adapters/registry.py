"""Engine names -> engines, created lazily and shared per process.

Importing this module imports neither Celery nor Ray: each engine's module is imported the
first time its name is asked for, so ``import compat`` stays cheap for a worker that never
leaves the legacy route.
"""

from __future__ import annotations

import importlib
import threading

from adapters.base import ExecutionEngine
from ground.errors import UnknownEngineError

ENGINE_NAMES = ("legacy", "celery", "ray")

# name -> "module:factory"; the factory takes no arguments and reads its configuration from
# the environment (one place per engine, see each module's docstring).
_FACTORIES: dict[str, str] = {
    "legacy": "adapters.legacy.engine:LegacyEngine",
    "celery": "adapters.celery.engine:CeleryEngine",
    "ray": "adapters.ray.engine:RayEngine",
}

_engines: dict[str, ExecutionEngine] = {}


def _check_known(name: str) -> None:
    if name not in _FACTORIES:
        raise UnknownEngineError(
            f"unknown engine {name!r}: choose one of {', '.join(ENGINE_NAMES)}"
        )


_lock = threading.Lock()


def get_engine(name: str) -> ExecutionEngine:
    """The process-wide engine called ``name`` (not started: engines start on first use)."""
    engine = _engines.get(name)
    if engine is not None:
        return engine
    _check_known(name)
    with _lock:
        engine = _engines.get(name)
        if engine is None:
            module_name, _, factory_name = _FACTORIES[name].partition(":")
            factory = getattr(importlib.import_module(module_name), factory_name)
            engine = factory()
            _engines[name] = engine
    return engine


def loaded_engines() -> dict[str, ExecutionEngine]:
    """The engines created so far in this process (for shutdown and health reports)."""
    return dict(_engines)


async def close_all() -> None:
    """Close every engine created in this process."""
    for engine in list(_engines.values()):
        await engine.close()


def set_engine(name: str, engine: ExecutionEngine | None) -> ExecutionEngine | None:
    """Install ``engine`` under ``name`` (``None`` forgets it); returns the previous one.

    For applications that build an engine with their own settings (and for tests that need
    an engine pointed at a dead broker).
    """
    _check_known(name)
    with _lock:
        previous = _engines.pop(name, None)
        if engine is not None:
            _engines[name] = engine
    return previous


__all__ = ["ENGINE_NAMES", "close_all", "get_engine", "loaded_engines", "set_engine"]
