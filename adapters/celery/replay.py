"""Replay a dead letter: publish its payload again, on its queue, then drop the entry.

The entry is claimed while the message is published (:meth:`DeadLetterStore.claim`), so a
failed publish keeps it, and on RabbitMQ no other command sees it in between.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adapters.celery.dlq import DeadLetter, DeadLetterStore
from adapters.celery.summaries import summarize_args
from adapters.celery.tasks import RUN_BATCH, RUN_TASK
from ground.errors import DeadLetterError


@dataclass(frozen=True, slots=True)
class Replayed:
    """What one replay did: the dead letter and the id of the task that now runs it."""

    entry_id: str
    task_id: str
    queue: str
    result: Any
    """Celery's ``AsyncResult`` of the new task."""


def _args_of(letter: DeadLetter) -> tuple[str, tuple[Any, ...]]:
    if letter.task_name == RUN_TASK:
        return RUN_TASK, (letter.reference, letter.options)
    return RUN_BATCH, (letter.reference, letter.items, letter.options)


def replay_dead_letter(app: Any, store: DeadLetterStore, entry_id: str) -> Any:
    """Send the dead letter ``entry_id`` again; returns Celery's ``AsyncResult``.

    Raises :class:`DeadLetterError` when there is no such entry or it cannot be replayed
    (its payload was never readable); the entry then stays.
    """
    return replay(app, store, entry_id).result


def replay(app: Any, store: DeadLetterStore, entry_id: str) -> Replayed:
    """:func:`replay_dead_letter`, saying which task now runs the work."""
    with store.claim(entry_id) as letter:
        if not letter.replayable:
            raise DeadLetterError(
                f"dead letter {entry_id!r} cannot be replayed: {letter.exc_message} "
                "(`cutover dlq purge` removes it)"
            )
        task_name, args = _args_of(letter)
        queue = letter.queue or None
        result = app.send_task(
            task_name,
            args=args,
            queue=queue,
            routing_key=queue,
            argsrepr=summarize_args(args),  # Flower and events: a summary, never the items
            kwargsrepr="{}",
        )
    return Replayed(entry_id, str(result.id), letter.queue, result)


__all__ = ["Replayed", "replay", "replay_dead_letter"]
