"""Remote control (``celery inspect``, ``celery control``, Flower) over plain JSON.

Celery sends control commands and their replies with the app's *task* serializer and
accepts only the app's task content types. Ours is the strict typed JSON, which refuses
what a worker's ``stats`` reply holds (a ``collections.Counter``): the worker logged an
``EncodeError`` and ``celery inspect stats`` said "No nodes replied", so Flower had no worker
page either. Task messages must stay strict; control messages are Celery's own, built by
Celery from plain values, and carry no task data of ours (``inspect active`` shows the
summaries of :mod:`adapters.celery.summaries`). They go as kombu's JSON, which decodes to
plain values only (never a class named in the message), the serializer every stock Celery
tool speaks. Our typed JSON is still accepted on the control channel, so a caller of an
older version is understood.
"""

from __future__ import annotations

from typing import Any

from celery.app.control import Control

CONTROL_SERIALIZER = "json"
"""kombu's JSON: what control messages and replies are sent as."""


def control_accept() -> list[str]:
    """The content types the control channel accepts: kombu's JSON and our typed JSON."""
    from adapters.codec import CONTENT_TYPE

    return [CONTROL_SERIALIZER, CONTENT_TYPE]


class JsonControl(Control):  # type: ignore[misc]  # celery is untyped
    """Celery's :class:`~celery.app.control.Control` whose mailbox speaks plain JSON.

    The mailbox serves both ends: the worker's pidbox node (its replies) and the client of
    ``celery inspect`` / Flower (commands out, replies in), as long as both load our app.
    """

    def __init__(self, app: Any = None) -> None:
        super().__init__(app)
        self.mailbox.serializer = CONTROL_SERIALIZER
        self.mailbox.accept = control_accept()


__all__ = ["CONTROL_SERIALIZER", "JsonControl", "control_accept"]
