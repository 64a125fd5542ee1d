"""Opt-in recording of real calls' inputs, for ``cutover replay`` (offline shadowing).

Off unless ``CUTOVER_RECORD_CALLS`` names workers (comma-separated, ``*`` for all); then a
``CUTOVER_RECORD_SAMPLE`` share (default 1) of those workers' ``optimize_batch_processing``
calls is appended to ``calls-<worker>.jsonl`` in ``CUTOVER_RECORD_DIR`` (default
``$CUTOVER_HOME/recordings``) by a background thread:

- redacted first, with the worker's ``shadow.redact`` paths plus ``CUTOVER_RECORD_REDACT``
  (:func:`~compat.shadow.recorded_calls.redact_items`);
- size-capped: a call whose line is over ``CUTOVER_RECORD_MAX_BYTES`` (default 64 KiB) is not
  recorded, and a worker's file stops growing at ``CUTOVER_RECORD_MAX_FILE_MB`` (default
  100);
- only what can be replayed: a task function another process can import by reference
  (``module:qualname`` in ``CUTOVER_TASK_MODULES``) and items the typed codec carries.

What is not recorded is counted (``skipped``, and the metric ``record_skipped_<why>``) and
logged once per reason, never raised: recording never changes what a call does. The cost on
a recorded call is the redaction and encoding of its items on the caller's thread; calls of
other workers pay one attribute read.
"""

from __future__ import annotations

import atexit
import os
import queue
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

from compat import metrics
from compat.shadow.recorded_calls import RecordedCall, calls_file, redact_items
from compat.shadow.safety import is_shadow_safe
from ground.errors import ConfigurationError
from ground.logs import get_logger

WORKERS_ENV: Final = "CUTOVER_RECORD_CALLS"
DIR_ENV: Final = "CUTOVER_RECORD_DIR"
SAMPLE_ENV: Final = "CUTOVER_RECORD_SAMPLE"
MAX_BYTES_ENV: Final = "CUTOVER_RECORD_MAX_BYTES"
MAX_FILE_MB_ENV: Final = "CUTOVER_RECORD_MAX_FILE_MB"
REDACT_ENV: Final = "CUTOVER_RECORD_REDACT"
DEFAULT_MAX_BYTES: Final = 64 * 1024
DEFAULT_MAX_FILE_MB: Final = 100.0
QUEUE_SIZE: Final = 10_000
WRITE_BATCH: Final = 500
"""Most calls the writer appends with one open of a file."""

log = get_logger("cutover.shadow.recording")


def _worker_patterns(worker: str) -> tuple[str, ...]:
    """The worker's ``shadow.redact`` paths, from the flags the router reads."""
    from compat.router import get_router

    record = get_router().table.state.records.get(worker)
    shadow = record.shadow if record is not None else None
    return tuple(shadow.redact) if shadow is not None else ()


class CallRecorder:
    """Records sampled calls of some workers to JSON-lines files (see the module docstring)."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        workers: frozenset[str] | None,
        *,
        sample: float = 1.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_file_bytes: int = int(DEFAULT_MAX_FILE_MB * 1024 * 1024),
        redact: Sequence[str] = (),
        random_fn: Callable[[], float] = random.random,
    ) -> None:
        """``workers``: the worker ids recorded, ``None`` for every worker."""
        self.directory = Path(directory)
        self.workers = workers
        self.sample = sample
        self.max_bytes = max_bytes
        self.max_file_bytes = max_file_bytes
        self.redact = tuple(redact)
        self._random = random_fn
        self.skipped: Counter[str] = Counter()
        self.written = 0
        self._queue: queue.Queue[tuple[str, str]] = queue.Queue(QUEUE_SIZE)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pending = 0
        self._idle = threading.Condition(self._lock)
        self._full: set[str] = set()

    # --- the caller's side -------------------------------------------------------------------

    def capture(
        self,
        worker: str,
        task_func: Callable[..., Any],
        items: Sequence[Any],
        batch_size: int,
        max_concurrent: int,
    ) -> None:
        """Record this call if its worker is recorded and it is sampled. Never raises."""
        if self.workers is not None and worker not in self.workers:
            return
        if self._random() >= self.sample:
            return
        try:
            line = self._line(worker, task_func, items, batch_size, max_concurrent)
        except Exception as exc:  # noqa: BLE001 - recording never breaks the call it records
            self._skip(worker, "failed", f"{type(exc).__name__}: {exc}")
            return
        if line is None:
            return
        try:
            with self._lock:
                self._pending += 1
            self._queue.put_nowait((worker, line))
        except queue.Full:
            with self._lock:
                self._pending -= 1
            self._skip(worker, "queue_full", f"more than {QUEUE_SIZE} calls waiting")
            return
        self._ensure_writer()

    def _line(
        self,
        worker: str,
        task_func: Callable[..., Any],
        items: Sequence[Any],
        batch_size: int,
        max_concurrent: int,
    ) -> str | None:
        from adapters import codec
        from adapters.task_refs import task_reference
        from compat.identity import next_call_id
        from ground.errors import NotPortableError, SerializationError

        try:
            reference = task_reference(task_func)
        except NotPortableError as exc:
            self._skip(worker, "not_portable", str(exc))
            return None
        patterns = (*_worker_patterns(worker), *self.redact)
        try:
            encoded = codec.encode(redact_items(items, patterns))
        except SerializationError as exc:
            self._skip(worker, "not_encodable", str(exc))
            return None
        line = RecordedCall(
            call_id=next_call_id(),
            worker=worker,
            reference=reference,
            batch_size=batch_size,
            max_concurrent=max_concurrent,
            items=encoded,
            item_count=len(items),
            shadow_safe=is_shadow_safe(task_func),
            redacted=patterns,
            recorded_at=time.time(),
        ).to_json()
        if len(line) > self.max_bytes:
            self._skip(worker, "too_large", f"{len(line)} bytes > {self.max_bytes}")
            return None
        return line

    def _skip(self, worker: str, why: str, detail: str) -> None:
        with self._lock:
            self.skipped[why] += 1
            first = self.skipped[why] == 1
        metrics.count(f"record_skipped_{why}", worker, "record")
        if first:
            log.warning("call_not_recorded", worker=worker, reason=why, detail=detail[:300])

    # --- the writer --------------------------------------------------------------------------

    def _ensure_writer(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(
                target=self._run, name="cutover-call-recorder", daemon=True
            )
            self._thread.start()
        atexit.register(self.flush)

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < WRITE_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            by_worker: dict[str, list[str]] = {}
            for worker, line in batch:
                by_worker.setdefault(worker, []).append(line)
            for worker, lines in by_worker.items():
                try:
                    self._append(worker, lines)
                except Exception as exc:  # noqa: BLE001 - a full disk must not kill the thread
                    self._skip(worker, "write_failed", f"{type(exc).__name__}: {exc}")
            with self._lock:
                self._pending -= len(batch)
                self._idle.notify_all()

    def _append(self, worker: str, lines: list[str]) -> None:
        """Append ``lines`` to the worker's file (one open per batch), up to its size cap."""
        path = calls_file(self.directory, worker)
        if worker in self._full:
            self._skip(worker, "file_full", str(path))
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            size = 0
        kept: list[str] = []
        for line in lines:
            if size + len(line) + 1 > self.max_file_bytes:
                self._full.add(worker)
                for _ in range(len(lines) - len(kept)):
                    self._skip(worker, "file_full", f"{path} reached {self.max_file_bytes} bytes")
                break
            kept.append(line + "\n")
            size += len(line) + 1
        if kept:
            with path.open("a", encoding="utf-8") as out:
                out.write("".join(kept))
            self.written += len(kept)

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until every captured call was written (or skipped); True if all were."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while self._pending > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(min(remaining, 0.2))
        return True


def _number(name: str, default: float, low: float, high: float) -> float:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:
        raise ConfigurationError(f"{name}={raw!r}: expected a number from {low:g} to {high:g}")
    return value


def from_env() -> CallRecorder | None:
    """The recorder ``CUTOVER_RECORD_*`` asks for, or ``None`` when recording is off.

    A malformed setting is a :class:`~ground.errors.ConfigurationError` naming it.
    """
    names = [name.strip() for name in os.environ.get(WORKERS_ENV, "").split(",") if name.strip()]
    if not names:
        return None
    from flags.stores import cutover_home

    directory = os.environ.get(DIR_ENV) or str(cutover_home() / "recordings")
    redact = [path.strip() for path in os.environ.get(REDACT_ENV, "").split(",") if path.strip()]
    return CallRecorder(
        Path(directory).expanduser(),
        None if "*" in names else frozenset(names),
        sample=_number(SAMPLE_ENV, 1.0, 0.0, 1.0),
        max_bytes=int(_number(MAX_BYTES_ENV, DEFAULT_MAX_BYTES, 1, 2**31)),
        max_file_bytes=int(_number(MAX_FILE_MB_ENV, DEFAULT_MAX_FILE_MB, 0.001, 1e6) * 2**20),
        redact=redact,
    )


active: CallRecorder | None = None
"""The process's recorder (``None``: off); what the optimizer reads on every call."""


def configure(recorder: CallRecorder | None) -> CallRecorder | None:
    """Install ``recorder`` (``None``: stop recording); returns the previous one."""
    global active
    previous, active = active, recorder
    return previous


def configure_from_env() -> CallRecorder | None:
    """Install the recorder the environment asks for (at import, and on demand)."""
    configure(from_env())
    return active


try:
    configure_from_env()
except ConfigurationError as _error:  # a bad setting must not stop the worker's imports
    log.error("call_recording_off", error=str(_error))


__all__ = [
    "DIR_ENV",
    "MAX_BYTES_ENV",
    "MAX_FILE_MB_ENV",
    "REDACT_ENV",
    "SAMPLE_ENV",
    "WORKERS_ENV",
    "CallRecorder",
    "active",
    "configure",
    "configure_from_env",
    "from_env",
]
