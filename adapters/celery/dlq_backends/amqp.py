"""Dead letters in RabbitMQ: the durable fanout exchange ``cutover.dlx`` and its queue.

With RabbitMQ as broker the dead letters stay in RabbitMQ: a worker publishes each one, with
publisher confirms, to ``cutover.dlx``, which routes it to the durable, length-capped queue
``cutover.dead``. The exchange is also a valid ``dead-letter-exchange`` for a RabbitMQ queue
policy, so messages the broker dead-letters by itself (rejected by a worker, expired) land in
the same queue; they are listed too, and replayed when their body is in the safe encoding.

A queue has no random access, so reading is a scan: ``basic_get`` without acknowledgement,
oldest first, until what was asked for is found or the queue is empty, then the channel is
closed, which puts every message that was not acknowledged back in its place. Listing
therefore changes nothing; removing one entry acknowledges that message alone; replay
publishes the payload first and acknowledges only when the publish succeeded. While a scan
runs, the messages it holds are invisible to another scan: one operator command at a time
sees the whole queue.

Listing pages, newest first: a page is the ``size`` messages just before its cursor (an
entry id) in queue order, so a scan keeps only ``size + 1`` messages in memory however long
the queue is, and a listing reaches the oldest entry of any queue, one page at a time.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import kombu as _kombu

from adapters import codec
from adapters.celery.dlq import (
    DLQ_EXCHANGE,
    DLQ_QUEUE,
    DeadLetter,
    DeadLetterPage,
    DeadLetterStore,
    check_page_size,
    cursor_not_found,
    not_found,
)
from ground.errors import SerializationError

MAX_ENTRIES = 10_000
"""``x-max-length`` of the queue: the oldest dead letters are dropped beyond it. Not the
Redis store's :data:`~adapters.celery.dlq.DLQ_MAX_ENTRIES`: a queue argument cannot change
once the queue exists (a redeclaration with another value is refused by RabbitMQ)."""
CONNECT_TIMEOUT_S = 5.0
MARKER_HEADER = "x-cutover-dead-letter"
kombu: Any = _kombu  # kombu has no type hints

"""Set on the entries cutover publishes itself (the others were dead-lettered by RabbitMQ)."""

EXCHANGE = kombu.Exchange(DLQ_EXCHANGE, type="fanout", durable=True)
QUEUE = kombu.Queue(
    DLQ_QUEUE,
    exchange=EXCHANGE,
    routing_key=DLQ_QUEUE,
    durable=True,
    queue_arguments={"x-max-length": MAX_ENTRIES},
)


class AmqpDeadLetterStore(DeadLetterStore):
    """Dead letters as messages of the queue ``cutover.dead`` (see the module docstring)."""

    def __init__(self, url: str, *, ssl: dict[str, Any] | bool | None = None) -> None:
        """``ssl``: py-amqp TLS options (``cert_reqs``, ``ca_certs``, ``server_hostname``)."""
        super().__init__(url)
        self._ssl = ssl

    def _connection(self) -> Any:
        options: dict[str, Any] = {
            "connect_timeout": CONNECT_TIMEOUT_S,
            "transport_options": {"confirm_publish": True},
        }
        if self._ssl:
            options["ssl"] = self._ssl
        return kombu.Connection(self.url, **options)

    def _client_errors(self) -> tuple[type[BaseException], ...]:
        from amqp.exceptions import AMQPError
        from kombu.exceptions import KombuError

        return (AMQPError, KombuError, OSError)

    # --- writing -------------------------------------------------------------------------

    def add(
        self,
        *,
        reason: str,
        task_name: str,
        reference: str,
        items: list[Any],
        options: dict[str, Any],
        queue: str,
        exc_type: str,
        exc_message: str,
        traceback: str,
        replayable: bool = True,
    ) -> str:
        """Publish one dead letter (confirmed by RabbitMQ before this returns); its id."""
        failed_at = time.time()
        entry_id = f"{int(failed_at * 1000)}-{uuid.uuid4().hex[:12]}"
        body = codec.dumps(
            {
                "reason": reason,
                "task_name": task_name,
                "reference": reference,
                "items": items,
                "options": options,
                "queue": queue,
                "exc_type": exc_type,
                "exc_message": exc_message,
                "traceback": traceback,
                "failed_at": failed_at,
                "replayable": replayable,
            }
        )
        with (
            self._errors("adding a dead letter"),
            self._connection() as connection,
            connection.Producer() as producer,
        ):
            producer.publish(
                body,
                exchange=EXCHANGE,
                routing_key=DLQ_QUEUE,
                content_type=codec.CONTENT_TYPE,
                content_encoding="utf-8",
                delivery_mode=2,
                message_id=entry_id,
                headers={MARKER_HEADER: 1},
                declare=[QUEUE],
                retry=True,
                retry_policy={"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5},
            )
        return entry_id

    # --- reading -------------------------------------------------------------------------

    def list(self, count: int = 100) -> list[DeadLetter]:
        """The newest ``count`` dead letters, newest first (nothing leaves the queue)."""
        if count <= 0:
            return []
        return self.page(count).entries

    def page(self, size: int = 100, cursor: str | None = None) -> DeadLetterPage:
        """``size`` dead letters older than the entry ``cursor``, newest first.

        One scan from the oldest message up to ``cursor`` (the whole queue without one),
        keeping the last ``size + 1`` messages seen: the page, and whether older ones exist.
        """
        check_page_size(size)
        with self._scanning() as messages:
            window: deque[Any] = deque(maxlen=size + 1)
            for message in messages:
                if cursor is not None and _entry_id(message) == cursor:
                    break
                window.append(message)
            else:
                if cursor is not None:
                    raise cursor_not_found(cursor, self)
            newest = [_decode(message) for message in reversed(window)]
        page = newest[:size]
        return DeadLetterPage(page, page[-1].entry_id if len(newest) > size else None)

    def get(self, entry_id: str) -> DeadLetter | None:
        """One dead letter by id, or ``None`` (nothing leaves the queue)."""
        with self._scanning() as messages:
            for message in messages:
                if _entry_id(message) == entry_id:
                    return _decode(message)
        return None

    def count(self) -> int:
        """How many dead letters wait in the queue."""
        with self._errors("counting dead letters"), self._connection() as connection:
            channel = connection.channel()
            try:
                bound = QUEUE(channel)
                bound.declare()
                return int(bound.queue_declare(passive=True).message_count)
            finally:
                channel.close()

    # --- removing ------------------------------------------------------------------------

    @contextmanager
    def claim(self, entry_id: str) -> Iterator[DeadLetter]:
        """Hold the message ``entry_id``; acknowledge it (remove it) if the block succeeds."""
        with self._scanning() as messages:
            for message in messages:
                if _entry_id(message) == entry_id:
                    yield _decode(message)
                    message.ack()
                    return
            raise not_found(entry_id, self)

    def remove(self, entry_id: str) -> bool:
        """Acknowledge (drop) the message ``entry_id``; False when there is none."""
        with self._scanning() as messages:
            for message in messages:
                if _entry_id(message) == entry_id:
                    message.ack()
                    return True
        return False

    def purge(self) -> int:
        """Empty the queue (``queue.purge``)."""
        with self._errors("purging dead letters"), self._connection() as connection:
            channel = connection.channel()
            try:
                bound = QUEUE(channel)
                bound.declare()
                return int(bound.purge() or 0)
            finally:
                channel.close()

    def close(self) -> None:
        """Nothing to release: every operation opens and closes its own connection."""

    @contextmanager
    def _scanning(self) -> Iterator[Iterator[Any]]:
        """The queue's messages, oldest first, fetched (unacknowledged) as the block reads
        them; every one not acknowledged is back in place when the block ends."""
        with self._errors("reading the dead-letter queue"):
            connection = self._connection()
            try:
                channel = connection.channel()
                bound = QUEUE(channel)
                bound.declare()
            except BaseException:
                connection.release()
                raise
        try:
            yield self._fetched(bound)
        finally:
            with self._errors("returning messages to the dead-letter queue"):
                try:
                    channel.close()  # what was not acknowledged is requeued, in place
                finally:
                    connection.release()

    def _fetched(self, bound: Any) -> Iterator[Any]:
        """``basic_get`` until the queue is empty: each message once (none is acknowledged
        here, so none comes back while the channel is open)."""
        while True:
            with self._errors("reading the dead-letter queue"):
                message = bound.get(no_ack=False)
            if message is None:
                return
            yield message


# --- decoding ------------------------------------------------------------------------------


def _entry_id(message: Any) -> str:
    """The id of a dead letter: ours, else the Celery task id, else a digest of the body."""
    properties = message.properties or {}
    headers = message.headers or {}
    found = properties.get("message_id") or headers.get("id") or properties.get("correlation_id")
    if found:
        return str(found)
    body = message.body if isinstance(message.body, bytes) else str(message.body).encode()
    return f"body-{hashlib.sha256(body).hexdigest()[:16]}"


def _decode(message: Any) -> DeadLetter:
    """A message of the queue as a :class:`DeadLetter`; never raises (an unreadable one is
    shown as such, and is not replayable)."""
    headers = message.headers or {}
    entry_id = _entry_id(message)
    try:
        if headers.get(MARKER_HEADER) and message.content_type == codec.CONTENT_TYPE:
            return _decode_ours(entry_id, message.body)
        return _decode_native(entry_id, message)
    except (KeyError, TypeError, ValueError, IndexError, SerializationError) as exc:
        return DeadLetter(
            entry_id=entry_id,
            reason="unreadable",
            task_name=str(headers.get("task", "")),
            reference="",
            items=[],
            options={},
            queue="",
            exc_type=type(exc).__name__,
            exc_message=f"the dead letter cannot be read: {exc}",
            traceback="",
            failed_at=0.0,
            replayable=False,
        )


def _decode_ours(entry_id: str, body: bytes) -> DeadLetter:
    data = codec.loads(body)
    return DeadLetter(
        entry_id=entry_id,
        reason=str(data["reason"]),
        task_name=str(data["task_name"]),
        reference=str(data["reference"]),
        items=list(data["items"]),
        options=dict(data["options"]),
        queue=str(data["queue"]),
        exc_type=str(data["exc_type"]),
        exc_message=str(data["exc_message"]),
        traceback=str(data["traceback"]),
        failed_at=float(data["failed_at"]),
        replayable=bool(data.get("replayable", True)),
    )


def _decode_native(entry_id: str, message: Any) -> DeadLetter:
    """A Celery task message that RabbitMQ dead-lettered (through a queue policy)."""
    headers = message.headers or {}
    deaths = headers.get("x-death") or [{}]
    death = deaths[0] if isinstance(deaths, list) and deaths else {}
    why = _text(headers.get("x-first-death-reason") or death.get("reason") or "unknown")
    queue = _text(headers.get("x-first-death-queue") or death.get("queue") or "")
    when = death.get("time")
    failed_at = when.timestamp() if isinstance(when, datetime) else 0.0
    reference, items, options, replayable = "", [], {}, False
    content_type = message.content_type or "(none)"
    if content_type == codec.CONTENT_TYPE:
        args = codec.loads(message.body)[0]
        reference, options = str(args[0]), dict(args[-1])
        items = list(args[1]) if len(args) > 2 else []
        replayable = True
    return DeadLetter(
        entry_id=entry_id,
        reason=f"broker-{why}",
        task_name=_text(headers.get("task", "")),
        reference=reference,
        items=items,
        options=options,
        queue=queue,
        exc_type="" if replayable else "ContentDisallowed",
        exc_message=(
            f"RabbitMQ dead-lettered it ({why}) from queue {queue!r}"
            if replayable
            else f"content type {content_type!r} is not accepted by workers: never decoded"
        ),
        traceback="",
        failed_at=failed_at,
        replayable=replayable,
    )


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


__all__ = ["EXCHANGE", "MARKER_HEADER", "MAX_ENTRIES", "QUEUE", "AmqpDeadLetterStore"]
