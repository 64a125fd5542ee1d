"""Shadow records as JSON lines beside the file flag store: one file per worker.

``<directory>/shadow-<worker>.jsonl`` (the worker id percent-encoded where a file name could
not hold it), one :meth:`ShadowRecord.to_dict` per line. Writers take an ``fcntl`` lock on a
sibling ``.lock`` file, so several processes on one machine append without interleaving.
A file is capped like a Redis stream: once it holds about 10% more than ``max_records``
lines it is rewritten (temporary file, ``os.replace``) with the newest ``max_records``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote, unquote

from compat.shadow.recorders.base import DEFAULT_READ_LIMIT, BufferedRecorder
from compat.shadow.records import ShadowRecord
from ground.errors import CutoverError, FlagStoreError

FILE_PREFIX: Final = "shadow-"
FILE_SUFFIX: Final = ".jsonl"
MAX_RECORDS: Final = 100_000
"""Approximate number of records kept per worker file."""
TRIM_SLACK: Final = 0.1
"""How far past ``max_records`` a file may grow before it is trimmed."""


def file_name(worker: str) -> str:
    """The file name of ``worker``'s records."""
    return f"{FILE_PREFIX}{quote(worker, safe='@')}{FILE_SUFFIX}"


def worker_of(name: str) -> str | None:
    """The worker whose records file is called ``name`` (``None`` if it is not one)."""
    if not (name.startswith(FILE_PREFIX) and name.endswith(FILE_SUFFIX)):
        return None
    return unquote(name[len(FILE_PREFIX) : -len(FILE_SUFFIX)]) or None


class JsonlShadowRecorder(BufferedRecorder):
    """Records in capped JSON-lines files, one per worker, in ``directory``."""

    def __init__(
        self, directory: str | os.PathLike[str], *, max_records: int = MAX_RECORDS, **options: Any
    ) -> None:
        super().__init__(**options)
        self.directory = Path(directory)
        self.max_records = max_records
        self.description = f"shadow records in {self.directory}"
        self._lines: dict[str, int] = {}
        """Lines per worker file as this process last knew them (others append too)."""

    @classmethod
    def beside_flags_file(cls, flags_url: str) -> JsonlShadowRecorder:
        """The recorder of a ``file://`` flag store: files in the flags file's directory."""
        from flags.stores.file_store import path_from_url

        return cls(path_from_url(flags_url).absolute().parent)

    def path(self, worker: str) -> Path:
        """The records file of ``worker``."""
        return self.directory / file_name(worker)

    @contextlib.contextmanager
    def _locked(self, worker: str) -> Iterator[Path]:
        path = self.path(worker)
        with open(path.with_name(f".{path.name}.lock"), "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield path
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _write_batch(self, records: Sequence[ShadowRecord]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        by_worker: dict[str, list[str]] = {}
        for record in records:
            line = json.dumps(record.to_dict(), separators=(",", ":"), default=repr)
            by_worker.setdefault(record.worker, []).append(line + "\n")
        for worker, lines in by_worker.items():
            with self._locked(worker) as path:
                if worker not in self._lines:
                    self._lines[worker] = _count_lines(path)
                with open(path, "a", encoding="utf-8") as handle:
                    handle.write("".join(lines))
                self._lines[worker] += len(lines)
                if self._lines[worker] > self.max_records * (1 + TRIM_SLACK):
                    self._lines[worker] = _trim(path, self.max_records)

    def workers(self) -> list[str]:
        """Every worker with a records file, sorted."""
        try:
            names = [entry.name for entry in os.scandir(self.directory) if entry.is_file()]
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise FlagStoreError(f"{self.description}: cannot list: {exc}") from exc
        return sorted(worker for name in names if (worker := worker_of(name)) is not None)

    def read(
        self, worker: str | None = None, limit: int = DEFAULT_READ_LIMIT
    ) -> list[ShadowRecord]:
        """The newest ``limit`` records of ``worker`` (each worker if ``None``), oldest first.

        Lines that do not parse (a write in progress, a damaged file) are skipped.
        """
        if limit <= 0:
            return []
        records: list[ShadowRecord] = []
        for name in [worker] if worker is not None else self.workers():
            try:
                with open(self.path(name), encoding="utf-8") as handle:
                    lines = deque(handle, maxlen=limit)
            except FileNotFoundError:
                continue
            except (OSError, UnicodeDecodeError) as exc:
                raise FlagStoreError(f"{self.description}: cannot read {name!r}: {exc}") from exc
            for line in lines:
                with contextlib.suppress(ValueError, TypeError, CutoverError):
                    records.append(ShadowRecord.from_dict(json.loads(line)))
        return records

    def line_count(self, worker: str) -> int:
        """How many lines ``worker``'s file holds right now."""
        return _count_lines(self.path(worker))


def _count_lines(path: Path) -> int:
    try:
        with open(path, "rb") as handle:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    except FileNotFoundError:
        return 0


def _trim(path: Path, keep: int) -> int:
    """Rewrite ``path`` with its newest ``keep`` lines (the caller holds the lock)."""
    with open(path, "rb") as handle:
        lines = deque(handle, maxlen=keep)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.writelines(lines)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return len(lines)


__all__ = [
    "FILE_PREFIX",
    "FILE_SUFFIX",
    "MAX_RECORDS",
    "JsonlShadowRecorder",
    "file_name",
    "worker_of",
]
