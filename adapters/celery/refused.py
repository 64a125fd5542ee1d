"""Task messages a worker refuses to decode: dead-lettered with the reason, never lost.

Workers accept only cutover's typed JSON for tasks. ``celery call cutover.run_batch -a ...``
sends plain JSON (Celery's default ``--serializer json``); Celery's consumer logged the
refusal, with the first bytes of the body, and acknowledged the message: nothing reached the
dead-letter store, and ``celery result ID`` waited forever. Here, for a *task* message
(control messages are left to Celery):

- plain JSON (``application/json``) is read with the standard library's parser, which builds
  plain values only, and dead-lettered with reason ``refused-encoding``: the operator sees
  who sent what (``cutover dlq list``), and ``cutover dlq replay ID`` re-sends it in the
  typed JSON, through the same allow-list as any task;
- any other content type (pickle, YAML, msgpack, ...), and any refused message on a task
  queue that is not shaped as a task (a bare pickle), is dead-lettered *undecoded* with
  reason ``refused-content-type: <content type>``: its headers (task name, id), queue and
  size are recorded, its body is never parsed, unpickled nor logged, and the entry is not
  replayable (``cutover dlq purge`` removes it). kombu refuses the content type before any
  deserializer runs; this consumer only reads the raw byte count;
- either way the task's result becomes a failure that says why, so ``celery result`` and
  any caller waiting on the id get an answer instead of waiting forever.

Control messages (``celery inspect``, the pidbox) are left to Celery. A dead letter that
cannot be written (store down) leaves the message to Celery's handling (logged, discarded),
and the failure is logged.
"""

from __future__ import annotations

import json
from typing import Any

from celery.worker.consumer import Consumer

from adapters.celery.summaries import hide_argument_headers
from ground.errors import TaskRefusedError
from ground.logs import get_logger

REFUSED_ENCODING = "refused-encoding"
"""The dead-letter reason of a task message in an encoding workers do not accept."""
REFUSED_CONTENT_TYPE = "refused-content-type"
"""The dead-letter reason's prefix for a message kept undecoded: ``refused-content-type:
application/x-python-serialize``."""
PLAIN_JSON = "application/json"
CONTENT_TYPE_SHOWN = 100
"""A content type is the sender's text: at most this many characters reach the store."""

log = get_logger("cutover.celery.worker", engine="celery")


def refusal(content_type: str) -> TaskRefusedError:
    """The error a refused task message fails with: what was wrong and what to do."""
    from adapters.codec import CONTENT_TYPE

    return TaskRefusedError(
        f"a task message of content type {content_type!r} was refused: cutover's workers "
        f"accept only {CONTENT_TYPE} (no pickle, no plain JSON). Send work through cutover's "
        "Celery engine; a message sent with `celery call` is dead-lettered, and `cutover dlq "
        "replay ID` sends it again in the accepted encoding"
    )


def shown_content_type(message: Any) -> str:
    """The message's content type, printable and capped (it is whatever the sender wrote)."""
    raw = message.content_type or "(none)"
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    printable = "".join(char if char.isprintable() else "?" for char in text)
    return printable[:CONTENT_TYPE_SHOWN]


def refused_content_type_reason(content_type: str) -> str:
    """``refused-content-type: <content type>``, the reason of an undecoded dead letter."""
    return f"{REFUSED_CONTENT_TYPE}: {content_type}"


def task_name_of(headers: dict[str, Any]) -> str:
    """The task a message names, without the ``[worker]`` that Flower shows after it."""
    name = str(headers.get("task") or "")
    return name.split("[", 1)[0]


def parse_plain_json(body: bytes | str) -> tuple[str, list[Any], dict[str, Any]]:
    """``(reference, items, options)`` of a plain-JSON ``run_batch`` / ``run_task`` body.

    Celery's protocol 2 body is ``[args, kwargs, embed]``; protocol 1 a mapping with ``args``.
    What does not have the shape of our tasks' arguments keeps what it can (an empty reference
    is refused by the allow-list if it is ever replayed).
    """
    data = json.loads(body)
    args: Any = data[0] if isinstance(data, list) and data else data
    if isinstance(args, dict):
        args = args.get("args", [])
    if not isinstance(args, list) or not args:
        return "", [], {}
    reference = args[0] if isinstance(args[0], str) else ""
    options = args[-1] if len(args) > 1 and isinstance(args[-1], dict) else {}
    items = args[1] if len(args) > 2 and isinstance(args[1], list) else []
    return reference, list(items), dict(options)


class DeadLetteringConsumer(Consumer):  # type: ignore[misc]  # celery is untyped
    """Celery's worker consumer, which dead-letters refused task messages (``worker_consumer``).

    A protocol 2 task message in a refused encoding reaches :meth:`on_invalid_task` (Celery
    decodes the body when the task's strategy reads it); one without task headers (protocol
    1, or not a task at all) reaches :meth:`on_decode_error`, as do control messages.
    """

    def on_invalid_task(self, body: Any, message: Any, exc: Exception) -> None:
        """A task message Celery cannot accept: a refused encoding is handled here."""
        if not self._refused(message, exc):
            hide_argument_headers(message)
            super().on_invalid_task(body, message, exc)

    def on_decode_error(self, message: Any, exc: Exception) -> None:
        """A message whose body the worker may not or cannot decode."""
        if not self._refused(message, exc):
            hide_argument_headers(message)
            super().on_decode_error(message, exc)

    def on_unknown_task(self, body: Any, message: Any, exc: Exception) -> None:
        """A task name no worker registers (``celery call 'cutover.run_batch[billing]'``):
        Celery's handling (a ``NotRegistered`` failure as its result), logged without the
        items the sender put in the ``argsrepr`` header."""
        hide_argument_headers(message)
        super().on_unknown_task(body, message, exc)

    def _refused(self, message: Any, exc: Exception) -> bool:
        """Handle a message refused for its encoding; False leaves it to Celery.

        A task message in plain JSON is dead-lettered readable; any other refused message of
        a task queue is dead-lettered undecoded. Either is then acknowledged (True). A task id
        in the headers gets a failed result, dead letter or not.
        """
        from kombu.exceptions import ContentDisallowed

        if not isinstance(exc, ContentDisallowed):
            return False
        headers = dict(message.headers or {})
        task_id = headers.get("id")
        is_task = bool(headers.get("task") and task_id)
        if not is_task and not self._from_a_task_queue(message):
            return False  # a control (pidbox) or event message: Celery's handling
        content_type = shown_content_type(message)
        error = refusal(content_type)
        if is_task and content_type == PLAIN_JSON:
            handled = dead_letter_plain_json(self.app, message, headers, error)
        else:
            handled = dead_letter_undecoded(self.app, message, headers, content_type, error)
        if handled:
            message.ack()
        if task_id:
            fail_the_task(self.app, str(task_id), error)
        return handled

    def _from_a_task_queue(self, message: Any) -> bool:
        """Whether ``message`` came from one of the queues this worker takes tasks from."""
        delivery = dict(getattr(message, "delivery_info", None) or {})
        routing_key = delivery.get("routing_key")
        consumer = getattr(self, "task_consumer", None)
        queues = getattr(consumer, "queues", None) or []
        names = {queue.name for queue in queues} | {queue.routing_key for queue in queues}
        return bool(routing_key) and routing_key in names


def dead_letter_plain_json(
    app: Any, message: Any, headers: dict[str, Any], error: TaskRefusedError
) -> bool:
    """Record a plain-JSON task message in the dead-letter store; False if that failed."""
    from adapters.celery.dlq import open_dead_letter_store
    from adapters.celery.tasks import RUN_BATCH

    body = message.body
    delivery = dict(getattr(message, "delivery_info", None) or {})
    try:
        reference, items, options = parse_plain_json(body)
        store = open_dead_letter_store(app.conf)
        try:
            entry_id = store.add(
                reason=REFUSED_ENCODING,
                task_name=task_name_of(headers) or RUN_BATCH,
                reference=reference,
                items=items,
                options=options,
                queue=str(delivery.get("routing_key") or ""),
                exc_type=type(error).__qualname__,
                exc_message=str(error),
                traceback="",
            )
        finally:
            store.close()
    except Exception:
        log.exception(
            "dead_letter_failed",
            reason=REFUSED_ENCODING,
            task_id=headers.get("id"),
            content_type=PLAIN_JSON,
        )
        return False
    log.warning(
        "dead_lettered",
        reason=REFUSED_ENCODING,
        entry_id=entry_id,
        task_id=headers.get("id"),
        task=headers.get("task"),
        content_type=PLAIN_JSON,
        reference=reference,
        items=len(items),
        worker=options.get("worker"),
        call_id=options.get("call_id"),
        body_bytes=len(body),
    )
    return True


def dead_letter_undecoded(
    app: Any, message: Any, headers: dict[str, Any], content_type: str, error: TaskRefusedError
) -> bool:
    """Record a refused message without reading its body; False if that failed.

    Only the headers cutover sets on its own messages (task name, id) and the byte count are
    kept: the body is never decoded, so nothing of a pickle ever runs, and never logged.
    """
    from adapters.celery.dlq import open_dead_letter_store

    reason = refused_content_type_reason(content_type)
    body = message.body
    size = len(body) if isinstance(body, bytes | str) else 0
    delivery = dict(getattr(message, "delivery_info", None) or {})
    queue = str(delivery.get("routing_key") or "")
    task_id = str(headers.get("id") or "")
    task = task_name_of(headers)
    try:
        store = open_dead_letter_store(app.conf)
        try:
            entry_id = store.add(
                reason=reason,
                task_name=task,
                reference="",
                items=[],
                options={},
                queue=queue,
                exc_type=type(error).__qualname__,
                exc_message=(f"{error} (task id {task_id or 'none'}, {size} bytes, never decoded)"),
                traceback="",
                replayable=False,
            )
        finally:
            store.close()
    except Exception:
        log.exception(
            "dead_letter_failed", reason=reason, task_id=task_id, content_type=content_type
        )
        return False
    log.warning(
        "dead_lettered",
        reason=reason,
        entry_id=entry_id,
        task_id=task_id,
        task=task,
        content_type=content_type,
        queue=queue,
        body_bytes=size,
    )
    return True


def fail_the_task(app: Any, task_id: str, error: TaskRefusedError) -> None:
    """Store a failure as the task's result, so whoever waits on the id gets the reason."""
    from adapters.celery.tasks import BatchFailed
    from adapters.remote_exceptions import encode_exception

    try:
        app.backend.mark_as_failure(task_id, BatchFailed(encode_exception(error)))
    except Exception:
        log.exception("refused_result_not_stored", task_id=task_id)


__all__ = [
    "REFUSED_CONTENT_TYPE",
    "REFUSED_ENCODING",
    "DeadLetteringConsumer",
    "dead_letter_undecoded",
    "fail_the_task",
    "parse_plain_json",
    "refusal",
    "refused_content_type_reason",
    "shown_content_type",
    "task_name_of",
]
