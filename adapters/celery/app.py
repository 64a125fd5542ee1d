"""The Celery application of the engine: its configuration and the worker tasks.

The engine's client builds one with :func:`create_app` to publish; ``celery -A
adapters.celery.app worker`` runs a worker that executes the engine's tasks. The app a
deployment runs, with the automatic guard and its Beat schedule registered too, is the roof's
:mod:`cutover.celery_app` (``cutover worker celery`` starts that one). Configuration comes from
the environment (:mod:`adapters.celery.settings`); only the typed JSON serializer is accepted
for tasks, while remote control (``celery inspect``, Flower) speaks Celery's plain JSON
(:mod:`adapters.celery.control`). Loaded by Celery's own command line (``celery -A ...
flower``, either module), the app becomes Celery's current one there.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from celery import Celery
from celery.signals import worker_init, worker_process_init, worker_process_shutdown

from adapters.celery import tasks, worker_loop
from adapters.celery.control import JsonControl
from adapters.celery.settings import CelerySettings
from adapters.celery.summaries import install_result_summaries
from adapters.codec import register_with_kombu


def create_app(settings: CelerySettings | None = None) -> Celery:
    """Build a configured app with the worker tasks registered."""
    settings = settings or CelerySettings.from_env()
    register_with_kombu()
    # Control replies go as plain JSON (celery inspect / Flower), tasks stay strict.
    celery_app = Celery("cutover", set_as_current=False, control=JsonControl)
    celery_app.conf.update(settings.celery_config())
    # Task messages in a refused encoding (`celery call`'s plain JSON) are dead-lettered.
    celery_app.conf.worker_consumer = "adapters.celery.refused:DeadLetteringConsumer"
    tasks.register(celery_app)

    def _summaries_in_our_workers(sender: Any = None, **_: Any) -> None:
        # Celery's log line and task-succeeded event show a result summary, not the data,
        # in a worker of this app (all its tasks are ours); a host's own worker is left alone.
        if getattr(sender, "app", None) is celery_app:
            install_result_summaries()

    worker_init.connect(_summaries_in_our_workers, weak=False)
    return celery_app


@worker_process_init.connect  # type: ignore[untyped-decorator]
def _fresh_loop_after_fork(**_: Any) -> None:
    worker_loop.reset_after_fork()


@worker_process_shutdown.connect  # type: ignore[untyped-decorator]
def _close_loop(**_: Any) -> None:
    worker_loop.close()


def is_celery_command() -> bool:
    """True when this process is Celery's own command line (``celery ...`` or
    ``python -m celery ...``): ``celery -A adapters.celery.app worker|flower|inspect ...``."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name == "celery.__main__":
        return True
    return Path(sys.argv[0]).name == "celery"


def become_current_for_the_command_line(celery_app: Celery) -> bool:
    """Make ``celery_app`` Celery's current and default app when Celery's command line loaded
    it and no other app is current; return whether it did.

    The app is built with ``set_as_current=False`` so that importing it (the Celery route of a
    production worker) never takes over the host's own Celery app. But tools that Celery's
    command line runs look some things up on the current app: Flower's
    ``/api/task/result/<id>`` builds ``AsyncResult(id)`` without an app, and found Celery's
    fallback app with no result backend (HTTP 503). In ``celery -A adapters.celery.app ...``
    ours is the only app there is.
    """
    from celery import _state

    if not is_celery_command() or _state._tls.current_app is not None:
        return False
    celery_app.set_current()
    celery_app.set_default()
    return True


app = create_app()
become_current_for_the_command_line(app)

__all__ = ["app", "become_current_for_the_command_line", "create_app", "is_celery_command"]
