"""Shadow records in this process's memory: for tests and for embedding applications.

Synchronous (nothing to flush), bounded per worker like the real recorders, thread-safe.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Final

from compat.shadow.recorders.base import DEFAULT_READ_LIMIT
from compat.shadow.records import ShadowRecord

MAX_RECORDS: Final = 100_000


class MemoryShadowRecorder:
    """Keeps the newest ``max_records`` records of each worker in memory."""

    def __init__(self, max_records: int = MAX_RECORDS) -> None:
        self.max_records = max_records
        self.dropped = 0
        self._lock = threading.Lock()
        self._records: dict[str, deque[ShadowRecord]] = {}
        self._closed = False

    def record(self, record: ShadowRecord) -> None:
        """Keep ``record`` (dropped and counted once the recorder is closed)."""
        with self._lock:
            if self._closed:
                self.dropped += 1
                return
            kept = self._records.get(record.worker)
            if kept is None:
                kept = self._records[record.worker] = deque(maxlen=self.max_records)
            kept.append(record)

    def read(
        self, worker: str | None = None, limit: int = DEFAULT_READ_LIMIT
    ) -> list[ShadowRecord]:
        """The newest ``limit`` records of ``worker`` (each worker if ``None``), oldest first."""
        if limit <= 0:
            return []
        with self._lock:
            names = [worker] if worker is not None else sorted(self._records)
            return [
                record for name in names for record in list(self._records.get(name, ()))[-limit:]
            ]

    def workers(self) -> list[str]:
        """Every worker with records, sorted."""
        with self._lock:
            return sorted(self._records)

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Nothing is ever pending: True."""
        return True

    def close(self) -> None:
        """Refuse further records (those kept stay readable)."""
        with self._lock:
            self._closed = True


__all__ = ["MemoryShadowRecorder"]
