"""The dead-letter store: work that was refused or ran out of retries, kept for replay.

Every entry holds the payload (task reference, items, options, queue), the exception (type,
message, traceback), the reason and the time. ``cutover dlq list`` shows them and
``cutover dlq replay ID`` publishes the payload again, then drops the entry.

One interface, :class:`DeadLetterStore`, and one module per implementation under
:mod:`adapters.celery.dlq_backends`, chosen by URL scheme (as kombu picks a transport):

- ``redis://`` / ``rediss://``: a capped Redis stream (``cutover:dlq``);
- ``amqp://`` / ``amqps://``: RabbitMQ's dead-letter exchange ``cutover.dlx`` and its durable
  queue ``cutover.dead``.

Which store a deployment uses is decided in one place, :func:`open_dead_letter_store`: with
RabbitMQ as broker the dead letters stay in RabbitMQ, beside the messages they came from
(an operator may also point a queue policy's ``dead-letter-exchange`` at ``cutover.dlx``, and
what RabbitMQ dead-letters by itself shows up in the same list); with a Redis broker they
live in the result backend's Redis.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol

from ground.constants import DLQ_STREAM_KEY
from ground.errors import DeadLetterError, InvalidArgumentError
from ground.logs import mask_text, mask_url
from ground.schemes import SchemeTable, scheme_of

DLQ_STREAM = DLQ_STREAM_KEY
"""The Redis stream of the Redis store."""
DLQ_EXCHANGE = "cutover.dlx"
"""The AMQP store's dead-letter exchange (fanout, durable)."""
DLQ_QUEUE = "cutover.dead"
"""The AMQP store's durable queue, bound to :data:`DLQ_EXCHANGE`."""
DLQ_MAX_ENTRIES = 100_000
"""The Redis store's cap (an approximate ``MAXLEN``), and the most entries any listing reads:
past it, the oldest entries are dropped. The AMQP store has its own, smaller cap
(:data:`adapters.celery.dlq_backends.amqp.MAX_ENTRIES`, the queue's ``x-max-length``),
fixed when the queue is first declared: RabbitMQ refuses to redeclare a queue with other
arguments, so changing it would break every deployment that has the queue already."""

_BACKENDS = SchemeTable(
    "dead-letter store",
    {
        "redis": "adapters.celery.dlq_backends.redis:RedisDeadLetterStore",
        "rediss": "adapters.celery.dlq_backends.redis:RedisDeadLetterStore",
        "amqp": "adapters.celery.dlq_backends.amqp:AmqpDeadLetterStore",
        "amqps": "adapters.celery.dlq_backends.amqp:AmqpDeadLetterStore",
        "pyamqp": "adapters.celery.dlq_backends.amqp:AmqpDeadLetterStore",
    },
)
_AMQP_SCHEMES = frozenset({"amqp", "amqps", "pyamqp"})


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One entry of the dead-letter store.

    ``replayable`` is false for an entry whose payload cannot be read back (a message the
    broker dead-lettered in an encoding the workers refuse, such as pickle): it can be shown
    and purged, never replayed.
    """

    entry_id: str
    reason: str
    task_name: str
    reference: str
    items: list[Any]
    options: dict[str, Any]
    queue: str
    exc_type: str
    exc_message: str
    traceback: str
    failed_at: float
    replayable: bool = True

    def summary(self) -> dict[str, Any]:
        """A printable view without the (possibly large) items."""
        return {
            "id": self.entry_id,
            "reason": self.reason,
            "task": self.task_name,
            "reference": self.reference,
            "items": len(self.items),
            "queue": self.queue,
            "worker": self.options.get("worker", ""),
            "call_id": self.options.get("call_id", ""),
            "exception": f"{self.exc_type}: {self.exc_message}",
            "failed_at": self.failed_at,
            "replayable": self.replayable,
        }


@dataclass(frozen=True, slots=True)
class DeadLetterPage:
    """One page of a listing, newest first.

    ``next_cursor`` is given back to :meth:`DeadLetterStore.page` for the page after this
    one (the next older entries); ``None`` when this page holds the oldest entry.
    """

    entries: list[DeadLetter]
    next_cursor: str | None


class DeadLetterStore:
    """Append, list, fetch, claim and remove dead letters.

    ``DeadLetterStore(url)`` returns the implementation for the URL's scheme, so code that
    only knows a URL (and code written when there was one store) needs no other import.
    Implementations override every method that raises ``NotImplementedError`` here.
    """

    url: str

    def __new__(cls, url: str, **options: Any) -> DeadLetterStore:
        if cls is DeadLetterStore:
            cls = backend_class(url)
        return super().__new__(cls)

    def __init__(self, url: str, **options: Any) -> None:
        """``options`` are the TLS settings of the connection (see ``CelerySettings``)."""
        self.url = url

    @property
    def display_url(self) -> str:
        """The store's URL with its password masked: what logs and the CLI show."""
        return mask_url(self.url)

    def _client_errors(self) -> tuple[type[BaseException], ...]:
        """The exceptions this backend's client library raises (imported by the subclass,
        lazily where the library is heavy)."""
        return (OSError,)

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """The client library's errors as :class:`DeadLetterError`, at this boundary: what
        failed, in which store (its URL masked, and any URL inside the message too)."""
        try:
            yield
        except self._client_errors() as exc:
            raise DeadLetterError(
                f"dead-letter store {self.display_url} failed while {doing}: {mask_text(str(exc))}"
            ) from exc

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
        """Record one dead letter; returns its id. Raises what the backend raised.

        ``replayable=False`` records an entry that can be shown and purged, never replayed
        (a message kept without its payload, such as a refused pickle, never decoded).
        """
        raise NotImplementedError

    def list(self, count: int = 100) -> list[DeadLetter]:
        """The newest ``count`` dead letters, newest first."""
        raise NotImplementedError

    def page(self, size: int = 100, cursor: str | None = None) -> DeadLetterPage:
        """``size`` dead letters, newest first, older than the entry ``cursor`` (``None``:
        from the newest). Raises :class:`DeadLetterError` for a cursor the store no longer
        holds, and ``InvalidArgumentError`` for a size below 1."""
        raise NotImplementedError

    def walk(self, page_size: int = 1000) -> Iterator[DeadLetter]:
        """Every dead letter, newest first, read one page at a time (never all at once)."""
        cursor: str | None = None
        while True:
            page = self.page(page_size, cursor)
            yield from page.entries
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def get(self, entry_id: str) -> DeadLetter | None:
        """One dead letter by id, or ``None``."""
        raise NotImplementedError

    def remove(self, entry_id: str) -> bool:
        """Delete one entry; False when there was none."""
        raise NotImplementedError

    def count(self) -> int:
        """How many dead letters are stored."""
        raise NotImplementedError

    def purge(self) -> int:
        """Delete every dead letter; returns how many there were."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the connections."""
        raise NotImplementedError

    @contextmanager
    def claim(self, entry_id: str) -> Iterator[DeadLetter]:
        """The entry ``entry_id``, removed only if the ``with`` block succeeds.

        Replay publishes inside the block, so a failed publish keeps the entry. Raises
        :class:`DeadLetterError` when there is no such entry.
        """
        letter = self.get(entry_id)
        if letter is None:
            raise not_found(entry_id, self)
        yield letter
        self.remove(entry_id)

    def __enter__(self) -> DeadLetterStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class DeadLetterConfig(Protocol):
    """What :func:`open_dead_letter_store` reads: ``CelerySettings`` or a Celery app's conf."""

    @property
    def broker_url(self) -> str:
        """The Celery broker."""
        ...

    @property
    def result_backend(self) -> str:
        """The Celery result backend (Redis)."""
        ...


def backend_class(url: str) -> type[DeadLetterStore]:
    """The implementation for ``url``'s scheme (imported on first use)."""
    cls: type[DeadLetterStore] = _BACKENDS.resolve(url)
    return cls


def dead_letter_url(config: DeadLetterConfig) -> str:
    """Where dead letters of this configuration live: an AMQP broker, else the backend."""
    broker = str(config.broker_url)
    if scheme_of(broker) in _AMQP_SCHEMES:
        return broker
    from adapters.celery.backend import redis_url

    # A Celery app's setting names our backend class in front of the Redis URL.
    return redis_url(str(config.result_backend))


def open_dead_letter_store(config: DeadLetterConfig) -> DeadLetterStore:
    """The dead-letter store of a deployment: the one place that chooses it.

    ``config`` is a :class:`~adapters.celery.settings.CelerySettings` (the CLI) or a Celery
    app's ``conf`` (a worker: ``open_dead_letter_store(task.app.conf)``). Its TLS settings
    (``broker_use_ssl`` / ``redis_backend_use_ssl``) apply to the store's connection.
    """
    url = dead_letter_url(config)
    if scheme_of(url) in _AMQP_SCHEMES:  # the broker itself
        ssl = getattr(config, "broker_use_ssl", None)
    else:
        ssl = getattr(config, "redis_backend_use_ssl", None)
    return backend_class(url)(url, ssl=ssl or None)


def check_page_size(size: int) -> None:
    """A page holds at least one entry: anything else is an ``InvalidArgumentError``."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise InvalidArgumentError(f"a page of dead letters holds at least 1 entry, got {size!r}")


def cursor_not_found(cursor: str, store: DeadLetterStore) -> DeadLetterError:
    """The error for a cursor that names no entry of ``store`` (any more)."""
    return DeadLetterError(
        f"the cursor {cursor!r} names no dead letter in {store.display_url} (it was replayed "
        "or purged since, or is not an id of this store): list again from the newest, "
        "without a cursor"
    )


def not_found(entry_id: str, store: DeadLetterStore) -> DeadLetterError:
    """The error for an id that is not in ``store`` (the same words for every backend)."""
    return DeadLetterError(
        f"no dead letter {entry_id!r} in {store.display_url}: `cutover dlq list` shows the "
        "ids that exist"
    )


__all__ = [
    "DLQ_EXCHANGE",
    "DLQ_MAX_ENTRIES",
    "DLQ_QUEUE",
    "DLQ_STREAM",
    "DeadLetter",
    "DeadLetterConfig",
    "DeadLetterPage",
    "DeadLetterStore",
    "backend_class",
    "check_page_size",
    "cursor_not_found",
    "dead_letter_url",
    "not_found",
    "open_dead_letter_store",
]
