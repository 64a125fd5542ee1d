"""The recorder interface, and the buffered writer every real recorder is built on.

Recording must never slow down or break the call it describes: :meth:`ShadowRecorder.record`
only puts the record on a bounded, thread-safe queue and returns. A daemon writer thread
takes records off in batches and hands each batch to the backend (:meth:`BufferedRecorder.
_write_batch`). When the queue is full the record is dropped and counted (``dropped``); when
a batch cannot be written it is counted (``failed``) and the outage is logged once, with one
more line when writing works again. At process exit the queue is flushed for a moment.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import queue
import threading
import time
from collections.abc import Sequence
from typing import Final, Protocol, runtime_checkable

from compat.shadow.records import ShadowRecord
from ground.logs import get_logger

QUEUE_SIZE: Final = 10_000
"""Records waiting to be written before new ones are dropped."""
BATCH_SIZE: Final = 500
"""Most records written in one round trip."""
RETRY_DELAY_S: Final = 0.5
"""Pause of the writer after a failed batch (records keep queueing, then drop)."""
EXIT_FLUSH_S: Final = 2.0
"""How long process exit waits for queued records."""
DEFAULT_READ_LIMIT: Final = 10_000


@runtime_checkable
class ShadowRecorder(Protocol):
    """Where shadow records go, and where the report reads them back."""

    @property
    def dropped(self) -> int:
        """Records dropped before being written (queue full, recorder closed)."""
        ...

    def record(self, record: ShadowRecord) -> None:
        """Store ``record`` later; returns at once and never raises."""
        ...

    def read(
        self, worker: str | None = None, limit: int = DEFAULT_READ_LIMIT
    ) -> list[ShadowRecord]:
        """The newest ``limit`` records of ``worker`` (each worker if ``None``), oldest first."""
        ...

    def workers(self) -> list[str]:
        """Every worker with stored records, sorted."""
        ...

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until every record given so far was handled; True if all of them were written."""
        ...

    def close(self) -> None:
        """Flush briefly, stop the writer and release connections (idempotent)."""
        ...


class BufferedRecorder:
    """A queue and a daemon writer thread in front of a backend (subclasses write and read)."""

    description = "shadow records"
    """Where the records go, for log lines (never with a password)."""

    def __init__(self, *, queue_size: int = QUEUE_SIZE, batch_size: int = BATCH_SIZE) -> None:
        self.queue_size = queue_size
        self.batch_size = batch_size
        self.dropped = 0
        self.failed = 0
        self.written = 0
        self._closed = False
        self._init_process_state()

    def _init_process_state(self) -> None:
        self._pid = os.getpid()
        self._queue: queue.Queue[ShadowRecord] = queue.Queue(self.queue_size)
        self._cond = threading.Condition()
        self._pending = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._outage = False

    # --- the writer's side (subclasses) -----------------------------------------------------

    def _write_batch(self, records: Sequence[ShadowRecord]) -> None:
        """Write ``records`` (one round trip if the backend allows); raise on failure."""
        raise NotImplementedError

    def _release(self) -> None:
        """Release the backend's resources (connections, files)."""

    # --- recording --------------------------------------------------------------------------

    def record(self, record: ShadowRecord) -> None:
        """Queue ``record`` for the writer; never blocks, never raises."""
        try:
            if self._closed:
                self._count_drop()
                return
            if self._pid != os.getpid():  # forked: the parent's thread and queue are not ours
                self._init_process_state()
            with self._cond:
                self._pending += 1
            try:
                self._queue.put_nowait(record)
            except queue.Full:
                with self._cond:
                    self._pending -= 1
                    self.dropped += 1
                    self._cond.notify_all()
                return
            if self._thread is None or not self._thread.is_alive():
                self._start_writer()
        except Exception:  # noqa: BLE001 - recording must never break the call it describes
            self._count_drop()

    def _count_drop(self) -> None:
        with contextlib.suppress(Exception), self._cond:
            self.dropped += 1

    def _start_writer(self) -> None:
        with self._cond:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name="cutover-shadow-recorder", daemon=True
            )
            self._thread.start()
        atexit.register(self._at_exit)

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=0.2)
            except queue.Empty:
                if self._stop.is_set():
                    return
                continue
            batch = [first]
            while len(batch) < self.batch_size:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            ok = self._write(batch)
            with self._cond:
                self._pending -= len(batch)
                self._cond.notify_all()
            if not ok:
                self._stop.wait(RETRY_DELAY_S)

    def _write(self, batch: list[ShadowRecord]) -> bool:
        try:
            self._write_batch(batch)
        except Exception as exc:  # noqa: BLE001 - a storage outage is logged, never raised
            self.failed += len(batch)
            if not self._outage:
                self._outage = True
                get_logger("cutover.shadow").warning(
                    "shadow_recorder_unavailable",
                    target=self.description,
                    error=f"{type(exc).__name__}: {exc}",
                    lost=len(batch),
                )
            return False
        self.written += len(batch)
        if self._outage:
            self._outage = False
            get_logger("cutover.shadow").info(
                "shadow_recorder_recovered",
                target=self.description,
                failed=self.failed,
                dropped=self.dropped,
            )
        return True

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until every queued record was handled; True when none failed meanwhile."""
        failed_before = self.failed
        deadline = time.monotonic() + max(timeout_s, 0.0)
        with self._cond:
            while self._pending > 0:
                if self._thread is None or not self._thread.is_alive():
                    return False
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.2))
        return self.failed == failed_before

    def close(self) -> None:
        """Flush for up to a few seconds, stop the writer, release the backend."""
        if self._closed:
            return
        self.flush(EXIT_FLUSH_S)
        self._closed = True
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=1.0)
        with contextlib.suppress(Exception):
            atexit.unregister(self._at_exit)
        with contextlib.suppress(Exception):
            self._release()

    def _at_exit(self) -> None:
        with contextlib.suppress(Exception):
            self.flush(EXIT_FLUSH_S)


__all__ = [
    "BATCH_SIZE",
    "DEFAULT_READ_LIMIT",
    "QUEUE_SIZE",
    "BufferedRecorder",
    "ShadowRecorder",
]
