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
- any other content type (pickle, YAML, ...) is still never decoded: Celery's refusal line
  is logged and the message discarded, as before;
- either way the task's result becomes a failure that says why, so ``celery result`` and
  any caller waiting on the id get an answer instead of waiting forever.

A dead letter that cannot be written (store down) leaves the message to Celery's handling,
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
PLAIN_JSON = "application/json"

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
        """Handle a task message refused for its encoding; False leaves it to Celery.

        Plain JSON is dead-lettered and acknowledged (True). Any other encoding is left to
        Celery's own refusal (logged, discarded), undecoded. A task id in the headers gets a
        failed result either way.
        """
        from kombu.exceptions import ContentDisallowed

        headers = dict(message.headers or {})
        task_id = headers.get("id")
        if not isinstance(exc, ContentDisallowed) or not headers.get("task") or not task_id:
            return False
        content_type = str(message.content_type or "(none)")
        error = refusal(content_type)
        handled = content_type == PLAIN_JSON and dead_letter_plain_json(
            self.app, message, headers, error
        )
        if handled:
            message.ack()
        fail_the_task(self.app, str(task_id), error)
        return handled


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


def fail_the_task(app: Any, task_id: str, error: TaskRefusedError) -> None:
    """Store a failure as the task's result, so whoever waits on the id gets the reason."""
    from adapters.celery.tasks import BatchFailed
    from adapters.remote_exceptions import encode_exception

    try:
        app.backend.mark_as_failure(task_id, BatchFailed(encode_exception(error)))
    except Exception:
        log.exception("refused_result_not_stored", task_id=task_id)


__all__ = [
    "REFUSED_ENCODING",
    "DeadLetteringConsumer",
    "fail_the_task",
    "parse_plain_json",
    "refusal",
    "task_name_of",
]
