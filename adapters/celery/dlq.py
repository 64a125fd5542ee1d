"""The dead-letter store: work that was refused or ran out of retries, kept for replay.

Entries live in one capped Redis stream (``cutover:dlq``) on the result backend's Redis,
each with the payload (task reference, items, options, queue), the exception (type,
message, traceback), the reason and the time. ``cutover dlq list`` shows them and
``cutover dlq replay ID`` publishes the payload again and removes the entry.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, cast

import redis

from adapters import codec

DLQ_STREAM = "cutover:dlq"
DLQ_MAX_ENTRIES = 100_000


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One entry of the dead-letter store."""

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
        }


class DeadLetterStore:
    """Append, list, fetch and remove dead letters in a Redis stream."""

    def __init__(self, redis_url: str) -> None:
        self._client = redis.Redis.from_url(redis_url)

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
    ) -> str:
        """Record one dead letter; returns its id."""
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
        }
        entry_id = self._client.xadd(
            DLQ_STREAM, cast(Any, fields), maxlen=DLQ_MAX_ENTRIES, approximate=True
        )
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    def list(self, count: int = 100) -> list[DeadLetter]:
        """The newest ``count`` dead letters, newest first."""
        rows: list[Any] = cast(Any, self._client.xrevrange(DLQ_STREAM, count=count)) or []
        return [self._decode(entry_id, fields) for entry_id, fields in rows]

    def get(self, entry_id: str) -> DeadLetter | None:
        """One dead letter by id, or ``None``."""
        rows: list[Any] = cast(Any, self._client.xrange(DLQ_STREAM, min=entry_id, max=entry_id))
        return self._decode(*rows[0]) if rows else None

    def remove(self, entry_id: str) -> bool:
        """Delete one entry (after a successful replay)."""
        return bool(self._client.xdel(DLQ_STREAM, entry_id))

    def count(self) -> int:
        """How many dead letters are stored."""
        return int(self._client.xlen(DLQ_STREAM))

    def close(self) -> None:
        """Release the connection pool."""
        self._client.close()

    @staticmethod
    def _decode(entry_id: bytes | str, fields: dict[bytes, bytes]) -> DeadLetter:
        text = {key.decode(): value for key, value in fields.items()}
        payload = codec.loads(text["payload"])
        return DeadLetter(
            entry_id=entry_id.decode() if isinstance(entry_id, bytes) else entry_id,
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
        )


__all__ = ["DLQ_STREAM", "DeadLetter", "DeadLetterStore"]
