"""The Celery application of the engine: its configuration and the worker tasks.

The engine's client builds one with :func:`create_app` to publish; ``celery -A
adapters.celery.app worker`` runs a worker that executes the engine's tasks. The app a
deployment runs, with the automatic guard and its Beat schedule registered too, is the roof's
:mod:`cutover.celery_app` (``cutover worker celery`` starts that one). Configuration comes from
the environment (:mod:`adapters.celery.settings`); only the typed JSON serializer is accepted.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import worker_process_init, worker_process_shutdown

from adapters.celery import tasks, worker_loop
from adapters.celery.settings import CelerySettings
from adapters.codec import register_with_kombu


def create_app(settings: CelerySettings | None = None) -> Celery:
    """Build a configured app with the worker tasks registered."""
    settings = settings or CelerySettings.from_env()
    register_with_kombu()
    celery_app = Celery("cutover", set_as_current=False)
    celery_app.conf.update(settings.celery_config())
    tasks.register(celery_app)
    return celery_app


@worker_process_init.connect  # type: ignore[untyped-decorator]
def _fresh_loop_after_fork(**_: Any) -> None:
    worker_loop.reset_after_fork()


@worker_process_shutdown.connect  # type: ignore[untyped-decorator]
def _close_loop(**_: Any) -> None:
    worker_loop.close()


app = create_app()

__all__ = ["app", "create_app"]
