"""The Celery application of cutover.

``celery -A adapters.celery.app worker`` (or ``cutover worker celery``) runs a worker for it,
so Flower and ``celery inspect`` work as usual; ``celery -A adapters.celery.app beat`` runs
the automatic guard on its schedule (:mod:`adapters.celery.guard_task`). Configuration comes
from the environment (:mod:`adapters.celery.settings`); only the typed JSON serializer is
accepted.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import worker_process_init, worker_process_shutdown

from adapters.celery import guard_task, tasks, worker_loop
from adapters.celery.control import JsonControl
from adapters.celery.settings import CelerySettings
from adapters.codec import register_with_kombu


def create_app(settings: CelerySettings | None = None) -> Celery:
    """Build a configured app with the worker tasks registered."""
    settings = settings or CelerySettings.from_env()
    register_with_kombu()
    # Control replies go as plain JSON (celery inspect / Flower), tasks stay strict.
    celery_app = Celery("cutover", set_as_current=False, control=JsonControl)
    celery_app.conf.update(settings.celery_config())
    tasks.register(celery_app)
    guard_task.register(celery_app)  # the automatic guard and its Beat schedule
    return celery_app


@worker_process_init.connect  # type: ignore[untyped-decorator]
def _fresh_loop_after_fork(**_: Any) -> None:
    worker_loop.reset_after_fork()


@worker_process_shutdown.connect  # type: ignore[untyped-decorator]
def _close_loop(**_: Any) -> None:
    worker_loop.close()


app = create_app()

__all__ = ["app", "create_app"]
