"""The automatic guard as a Celery task, and the Beat schedule that runs it.

``celery -A cutover.celery_app beat`` sends ``cutover.guard`` every
``CUTOVER_GUARD_INTERVAL_S`` seconds (default 30) to the default queue (``cutover.default``);
any worker consuming that queue runs one guard pass (:func:`cutover.ops.guard.run_guard_once`)
against the configured flag store (``CUTOVER_FLAGS_URL``) and returns what it found. A pass
that waited longer than one interval expires unrun: the next one is already on its way.

The guard's modules are imported when the task runs, not when the app loads, so the app's
start-up cost and imports are unchanged (and Ray is never imported here). This module lives in
the roof, not in ``adapters.celery``: the guard reads flags and shadow records and writes
rollbacks, which is operating the cutover, not running an engine. :mod:`cutover.celery_app`
registers it on the engine's app.
"""

from __future__ import annotations

from typing import Any

from adapters.celery.settings import DEFAULT_QUEUE
from cutover.ops.guard_settings import GUARD_TASK, GuardSettings

SCHEDULE_ENTRY = "cutover-guard"
"""The name of the guard's entry in ``app.conf.beat_schedule``."""


def run_guard_pass() -> list[dict[str, Any]]:
    """One guard pass over the configured flag store and its shadow records."""
    from compat.shadow.recorders import open_recorder
    from cutover.ops.guard import run_guard_once
    from flags.stores import open_store

    store = open_store()
    recorder = open_recorder()
    try:
        return [check.to_dict() for check in run_guard_once(store, recorder)]
    finally:
        recorder.close()
        store.close()


def beat_schedule(settings: GuardSettings | None = None) -> dict[str, dict[str, Any]]:
    """The Beat schedule shipped with the app: one guard pass per interval."""
    settings = settings or GuardSettings.from_env()
    return {
        SCHEDULE_ENTRY: {
            "task": GUARD_TASK,
            "schedule": settings.interval_s,
            "options": {"queue": DEFAULT_QUEUE, "expires": settings.interval_s},
        }
    }


def register(app: Any) -> None:
    """Register ``cutover.guard`` on ``app`` and set its Beat schedule."""

    @app.task(name=GUARD_TASK, shared=False)  # type: ignore[untyped-decorator]
    def guard() -> list[dict[str, Any]]:
        return run_guard_pass()

    app.conf.beat_schedule = {**(app.conf.beat_schedule or {}), **beat_schedule()}


__all__ = ["SCHEDULE_ENTRY", "beat_schedule", "register", "run_guard_pass"]
