"""Dead letters in one capped Redis stream (``cutover:dlq``), on the result backend's Redis.

A stream keeps entries in time order with ids that are their time, lists newest first in
one ``XREVRANGE`` and deletes one entry by id, which is everything the store needs.
"""

from __future__ import annotations

import re
import time
from typing import Any, cast

import redis

from adapters import codec
from adapters.celery.dlq import (
    DLQ_MAX_ENTRIES,
    DLQ_STREAM,
    DeadLetter,
    DeadLetterPage,
    DeadLetterStore,
    check_page_size,
    cursor_not_found,
)
from ground.errors import DeadLetterError, SerializationError

_ENTRY_ID = re.compile(r"\d{1,20}-\d{1,20}\Z")


class RedisDeadLetterStore(DeadLetterStore):
    """Append, list, fetch and remove dead letters in a Redis stream."""

    def __init__(self, url: str, *, ssl: dict[str, Any] | None = None) -> None:
        """``ssl``: redis-py TLS options (``ssl_cert_reqs``, ``ssl_ca_certs``) for rediss://."""
        super().__init__(url)
        self._client = redis.Redis.from_url(url, **(ssl or {}))

    def _client_errors(self) -> tuple[type[BaseException], ...]:
        return (redis.RedisError, OSError)

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
        """Record one dead letter; returns its stream id."""
        fields = {
            "reason": reason,
            "task_name": task_name,
            "reference": reference,
            "payload": codec.dumps({"items": items, "options": options}),
            "queue": queue,
            "exc_type": exc_type,
            "exc_message": exc_message,
            "traceback": traceback,
            "failed_at": repr(time.time()),
            "replayable": "1" if replayable else "0",
        }
        with self._errors("adding a dead letter"):
            entry_id = self._client.xadd(
                DLQ_STREAM, cast(Any, fields), maxlen=DLQ_MAX_ENTRIES, approximate=True
            )
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    def list(self, count: int = 100) -> list[DeadLetter]:
        """The newest ``count`` dead letters, newest first."""
        if count <= 0:
            return []
        with self._errors("listing dead letters"):
            rows: list[Any] = cast(Any, self._client.xrevrange(DLQ_STREAM, count=count)) or []
        return [self._decode(entry_id, fields) for entry_id, fields in rows]

    def page(self, size: int = 100, cursor: str | None = None) -> DeadLetterPage:
        """``size`` dead letters older than ``cursor``, newest first (one ``XREVRANGE``)."""
        check_page_size(size)
        if cursor is not None and not _ENTRY_ID.match(cursor):
            raise cursor_not_found(cursor, self)
        newest = "+" if cursor is None else f"({cursor}"
        with self._errors("listing dead letters"):
            rows: list[Any] = (
                cast(Any, self._client.xrevrange(DLQ_STREAM, max=newest, min="-", count=size + 1))
                or []
            )
        entries = [self._decode(entry_id, fields) for entry_id, fields in rows[:size]]
        return DeadLetterPage(entries, entries[-1].entry_id if len(rows) > size else None)

    def get(self, entry_id: str) -> DeadLetter | None:
        """One dead letter by id, or ``None`` (also for an id that is not a stream id)."""
        if not _ENTRY_ID.match(entry_id):
            return None
        with self._errors(f"reading dead letter {entry_id}"):
            rows: list[Any] = cast(Any, self._client.xrange(DLQ_STREAM, min=entry_id, max=entry_id))
        return self._decode(*rows[0]) if rows else None

    def remove(self, entry_id: str) -> bool:
        """Delete one entry (after a successful replay, or a purge)."""
        if not _ENTRY_ID.match(entry_id):
            return False
        with self._errors(f"removing dead letter {entry_id}"):
            return bool(self._client.xdel(DLQ_STREAM, entry_id))

    def count(self) -> int:
        """How many dead letters are stored."""
        with self._errors("counting dead letters"):
            return int(self._client.xlen(DLQ_STREAM))

    def purge(self) -> int:
        """Delete the whole stream."""
        with self._errors("purging dead letters"):
            pipe = self._client.pipeline(transaction=True)
            pipe.xlen(DLQ_STREAM)
            pipe.delete(DLQ_STREAM)
            count, _ = pipe.execute()
        return int(count)

    def close(self) -> None:
        """Release the connection pool."""
        self._client.close()

    @staticmethod
    def _decode(entry_id: bytes | str, fields: dict[bytes, bytes]) -> DeadLetter:
        text = {key.decode(): value for key, value in fields.items()}
        name = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
        try:
            payload = codec.loads(text["payload"])
            return DeadLetter(
                entry_id=name,
                reason=text["reason"].decode(),
                task_name=text["task_name"].decode(),
                reference=text["reference"].decode(),
                items=list(payload["items"]),
                options=dict(payload["options"]),
                queue=text["queue"].decode(),
                exc_type=text["exc_type"].decode(),
                exc_message=text["exc_message"].decode(),
                traceback=text["traceback"].decode(),
                failed_at=float(text["failed_at"]),
                # Entries written before the field existed were all replayable.
                replayable=text.get("replayable", b"1") != b"0",
            )
        except (KeyError, TypeError, ValueError, SerializationError) as exc:
            raise DeadLetterError(
                f"dead letter {name!r} in {DLQ_STREAM} is unreadable: {exc}"
            ) from exc


__all__ = ["RedisDeadLetterStore"]
