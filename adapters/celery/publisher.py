"""Send Celery messages without blocking the caller's event loop.

Publishing is a synchronous socket write in kombu. One dedicated thread does it for the
whole process (so message order is kept and no thread is spent per message), and several
messages sent together cost one hop to that thread, over one pooled producer connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from adapters.celery.summaries import summarize_args
from ground.errors import SerializationError


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One task message, as ``send_task`` takes it."""

    task_name: str
    task_id: str
    args: tuple[Any, ...]
    queue: str
    priority: int
    shadow: str


def reuse_one_redis_client(channel: Any) -> None:
    """Make a kombu Redis channel publish through one ``redis.Redis`` client, not a new one
    per message.

    kombu's Redis transport builds a ``redis.Redis`` around its connection pool for every
    publish (``Channel._put`` -> ``conn_or_acquire()`` -> ``_create_client()``), and redis-py
    fills a table of ~170 response callbacks in each one: measured with yappi, 40 % of a
    ``send_task``. The client is safe to reuse (it takes a pooled connection per command);
    this channel's ``conn_or_acquire`` hands out one, created on first use. Channels of
    other transports are left as they are. Checked against kombu 5.7's ``conn_or_acquire``
    contract (a context manager yielding a client, or the client it was given).
    """
    if getattr(channel, "_cutover_client", None) is not None:
        return
    from kombu.transport import redis as kombu_redis

    if not isinstance(channel, kombu_redis.Channel):
        return
    redis_channel: Any = channel  # kombu's own types do not know the attributes set here
    client = redis_channel._create_client()

    @contextlib.contextmanager
    def conn_or_acquire(given: Any = None) -> Iterator[Any]:
        yield given if given else client

    redis_channel.conn_or_acquire = conn_or_acquire
    redis_channel._cutover_client = client


def check_encodable(messages: Sequence[OutgoingMessage]) -> None:
    """Encode every message's arguments and drop the bytes: raises the codec's
    :class:`~ground.errors.SerializationError` (or ``PayloadTooLargeError``) for the first
    message that cannot be carried, before anything is published.

    One message's encoding is held at a time, so memory stays that of the largest batch; the
    cost is a second encoding of these messages (kombu encodes them again to publish).
    """
    from adapters.codec import dumps

    for message in messages:
        dumps(message.args)


class PublishFailed(Exception):
    """The broker refused or lost a publish: ``sent`` of ``total`` messages were published
    before it (0 means none was, so the call may still safely run elsewhere)."""

    def __init__(self, sent: int, total: int) -> None:
        super().__init__(f"publishing failed after {sent} of {total} message(s)")
        self.sent = sent
        self.total = total


class Publisher:
    """Publishes batches of messages from one background thread."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cutover-publish")

    async def send(
        self, messages: Sequence[OutgoingMessage], *, all_or_nothing: bool = False
    ) -> None:
        """Publish ``messages`` in order; raises what kombu raised (translated by the caller).

        With ``all_or_nothing``, every message's arguments are encoded (and size-checked)
        before the first one is published, so a value the codec refuses in the last message
        leaves none of them sent (the first window of a call: nothing may run unobserved).
        """
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._send_sync, list(messages), all_or_nothing)

    def _send_sync(self, messages: list[OutgoingMessage], all_or_nothing: bool = False) -> None:
        if all_or_nothing and len(messages) > 1:
            check_encodable(messages)
        sent = 0
        try:
            with self._app.producer_or_acquire() as producer:
                reuse_one_redis_client(producer.channel)
                for message in messages:
                    self._send_one(producer, message)
                    sent += 1
        except SerializationError:
            raise
        except Exception as exc:
            raise PublishFailed(sent, len(messages)) from exc

    def _send_one(self, producer: Any, message: OutgoingMessage) -> None:
        """Publish one message; a value our serializer refuses is our SerializationError."""
        from kombu.exceptions import EncodeError

        try:
            self._app.send_task(
                message.task_name,
                args=message.args,
                task_id=message.task_id,
                queue=message.queue,
                routing_key=message.queue,
                priority=message.priority,
                shadow=message.shadow,
                producer=producer,
                # Items may be large or sensitive: Flower and the worker's log show a
                # summary, never the data (Celery would repr() every item).
                argsrepr=summarize_args(message.args),
                kwargsrepr="{}",
            )
        except EncodeError as exc:
            # kombu wraps the serializer's error; surface ours, which names the type.
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, SerializationError):
                raise cause from None
            raise SerializationError(str(exc)) from exc

    def check_connection(self, timeout_s: float) -> None:
        """Open a broker connection (blocking; run it in a thread)."""
        with self._app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=timeout_s)

    def close(self) -> None:
        """Stop the publishing thread."""
        self._executor.shutdown(wait=True)


__all__ = ["OutgoingMessage", "PublishFailed", "Publisher", "check_encodable"]
