"""Replay a dead letter: publish its payload again, on its queue, then drop the entry."""

from __future__ import annotations

from typing import Any

from adapters.celery.dlq import DeadLetterStore
from adapters.celery.tasks import RUN_BATCH, RUN_TASK
from cutover.errors import CutoverError


def replay_dead_letter(app: Any, store: DeadLetterStore, entry_id: str) -> Any:
    """Send the dead letter ``entry_id`` again; returns Celery's ``AsyncResult``.

    The entry is removed only after the message was published, so a failed replay keeps it.
    """
    letter = store.get(entry_id)
    if letter is None:
        raise CutoverError(
            f"no dead letter {entry_id!r}: `cutover dlq list` shows the ids that exist"
        )
    if letter.task_name == RUN_TASK:
        args: tuple[Any, ...] = (letter.reference, letter.options)
    else:
        args = (letter.reference, letter.items, letter.options)
    result = app.send_task(
        letter.task_name if letter.task_name in (RUN_BATCH, RUN_TASK) else RUN_BATCH,
        args=args,
        queue=letter.queue or None,
    )
    store.remove(entry_id)
    return result


__all__ = ["replay_dead_letter"]
