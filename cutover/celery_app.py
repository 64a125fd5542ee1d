"""The Celery application a deployment runs: the engine's tasks plus the automatic guard.

``celery -A cutover.celery_app worker`` (or ``cutover worker celery``) runs a worker for it,
so Flower and ``celery inspect`` work as usual; ``celery -A cutover.celery_app beat`` sends the
guard's pass on its schedule (:mod:`cutover.ops.guard_task`). The engine's own app,
:mod:`adapters.celery.app`, knows nothing of the guard: the guard reads flags and shadow
records and writes rollbacks, which belongs to the roof, and the engine must not import it.

:data:`app` *is* the engine module's app with the guard registered on it, not a second app:
one process, one Celery app, whichever of the two modules Celery's command line was given.
"""

from __future__ import annotations

from celery import Celery

from adapters.celery import app as engine_app
from adapters.celery.settings import CelerySettings
from cutover.ops import guard_task


def create_app(settings: CelerySettings | None = None) -> Celery:
    """A new engine app (:func:`adapters.celery.app.create_app`) with the guard registered."""
    celery_app = engine_app.create_app(settings)
    guard_task.register(celery_app)
    return celery_app


app: Celery = engine_app.app
guard_task.register(app)

__all__ = ["app", "create_app"]
