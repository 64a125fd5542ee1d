"""The embedded flag store: one JSON file, for a machine with nothing configured.

``file:///path/flags.json`` (or ``file://`` alone: ``$CUTOVER_HOME/flags.json``). Writers take
an ``fcntl`` lock on a sibling ``.lock`` file, check the version, write a temporary file in
the same directory and ``os.replace`` it over the old one, so a reader never sees half a
file. Every change is appended as one JSON line to the sibling ``<name>.audit.jsonl``.
Other processes notice a change by the file's ``stat`` (a replace always gives a new inode).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from flags.model import FlagRecord
from flags.store import (
    GLOBAL,
    Action,
    AuditEntry,
    FlagSnapshot,
    FlagStore,
    conflict,
    parse_all,
    parse_stored_record,
)
from flags.stores import cutover_home
from ground.errors import ConfigurationError, FlagStoreError

FORMAT = 1
POLL_INTERVAL_S = 0.2
"""How often a watcher looks at the file's stat."""
LOCK_TIMEOUT_S = 10.0

_Signature = tuple[int, int, int] | None


def path_from_url(url: str) -> Path:
    """The file of a ``file://`` URL; ``file://`` alone is ``$CUTOVER_HOME/flags.json``."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "file":
        raise ConfigurationError(f"not a file:// URL: {url!r}")
    host = parts.netloc
    path = unquote(parts.path)
    if host in ("", "localhost"):
        if not path:
            return cutover_home() / "flags.json"
        return Path(path).expanduser()
    # file://~/x.json or file://relative/x.json: accepted, read as a path.
    return Path(unquote(host) + path).expanduser()


def _empty_document() -> dict[str, Any]:
    return {"format": FORMAT, "revision": 0, "global_kill": {"kill": False}, "workers": {}}


class FileFlagStore(FlagStore):
    """Flags in one JSON file on this machine (see the module docstring)."""

    scheme = "file"

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.path = path_from_url(url)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.audit_path = self.path.with_name(self.path.stem + ".audit.jsonl")

    # --- reading ----------------------------------------------------------------------------

    def snapshot(self) -> FlagSnapshot:
        document = self._load()
        records, problems = parse_all(document["workers"])
        return FlagSnapshot(
            records=records,
            global_kill=bool(document["global_kill"].get("kill", False)),
            revision=int(document["revision"]),
            problems=problems,
        )

    def _read_record(self, worker_id: str) -> FlagRecord | None:
        raw = self._load()["workers"].get(worker_id)
        if raw is None:
            return None
        try:
            return parse_stored_record(raw)
        except ValueError as exc:
            raise FlagStoreError(
                f"the stored flags of {worker_id!r} in {self.path} are invalid: {exc}"
            ) from exc

    def history(self, worker_id: str | None, limit: int = 100) -> list[AuditEntry]:
        entries: deque[AuditEntry] = deque(maxlen=max(limit, 0))
        try:
            with self.audit_path.open(encoding="utf-8") as lines:
                for line in lines:
                    try:
                        entry = AuditEntry.from_dict(json.loads(line))
                    except (ValueError, KeyError, TypeError):
                        continue  # a torn last line after a crash: the rest is still history
                    if worker_id is None or entry.worker == worker_id:
                        entries.append(entry)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise FlagStoreError(f"cannot read the flag audit {self.audit_path}: {exc}") from exc
        return list(entries)

    def watch(self, on_change: Callable[[], None], stop: threading.Event) -> None:
        last = self._signature()
        on_change()
        while not stop.wait(POLL_INTERVAL_S):
            current = self._signature()
            if current != last:
                last = current
                on_change()

    # --- writing ----------------------------------------------------------------------------

    def _write_record(
        self, worker_id: str, record: FlagRecord, expected_version: int, action: Action
    ) -> None:
        with self._locked():
            document = self._load()
            old = document["workers"].get(worker_id)
            current = _stored_version(old)
            if current != expected_version:
                raise conflict(worker_id, expected_version, current)
            new = record.to_dict()
            document["workers"][worker_id] = new
            document["revision"] = int(document["revision"]) + 1
            self._save(document)
            self._audit(
                AuditEntry(
                    worker=worker_id,
                    action=action,
                    actor=record.updated_by or "",
                    at=record.updated_at or "",
                    reason=record.reason or "",
                    version=record.version,
                    old=old,
                    new=new,
                )
            )

    def _write_global_kill(self, kill: bool, entry: dict[str, str]) -> None:
        with self._locked():
            document = self._load()
            old = document["global_kill"]
            new = {
                "kill": kill,
                "updated_at": entry["at"],
                "updated_by": entry["actor"],
                "reason": entry["reason"],
            }
            document["global_kill"] = new
            document["revision"] = int(document["revision"]) + 1
            self._save(document)
            self._audit(
                AuditEntry(
                    worker=GLOBAL,
                    action="global-kill" if kill else "global-unkill",
                    actor=entry["actor"],
                    at=entry["at"],
                    reason=entry["reason"],
                    version=int(document["revision"]),
                    old=old,
                    new=new,
                )
            )

    # --- the file ---------------------------------------------------------------------------

    def _signature(self) -> _Signature:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise FlagStoreError(f"cannot stat the flag file {self.path}: {exc}") from exc
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _load(self) -> dict[str, Any]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return _empty_document()
        except OSError as exc:
            raise FlagStoreError(f"cannot read the flag file {self.path}: {exc}") from exc
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise FlagStoreError(f"the flag file {self.path} is not valid JSON: {exc}") from exc
        if not (
            isinstance(document, dict)
            and isinstance(document.get("workers"), dict)
            and isinstance(document.get("global_kill"), dict)
            and isinstance(document.get("revision"), int)
        ):
            raise FlagStoreError(
                f"the flag file {self.path} is not a cutover flag file "
                "(expected an object with workers, global_kill and revision)"
            )
        return document

    def _save(self, document: dict[str, Any]) -> None:
        directory = self.path.parent
        text = json.dumps(document, indent=2, sort_keys=True) + "\n"
        try:
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{self.path.name}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    out.write(text)
                    out.flush()
                    os.fsync(out.fileno())
                os.chmod(tmp, 0o644)
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            _fsync_directory(directory)
        except OSError as exc:
            raise FlagStoreError(f"cannot write the flag file {self.path}: {exc}") from exc

    def _audit(self, entry: AuditEntry) -> None:
        line = json.dumps(entry.to_dict(), sort_keys=True) + "\n"
        try:
            with self.audit_path.open("a", encoding="utf-8") as out:
                out.write(line)
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            raise FlagStoreError(
                f"cannot append to the flag audit {self.audit_path}: {exc}"
            ) from exc

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise FlagStoreError(f"cannot open the flag lock {self.lock_path}: {exc}") from exc
        try:
            deadline = time.monotonic() + LOCK_TIMEOUT_S
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise FlagStoreError(f"cannot lock {self.lock_path}: {exc}") from exc
                    if time.monotonic() > deadline:
                        raise FlagStoreError(
                            f"{self.lock_path} stayed locked by another writer for "
                            f"{LOCK_TIMEOUT_S:g} s"
                        ) from exc
                    time.sleep(0.01)
            yield
        finally:
            os.close(fd)  # closing releases the lock


def _stored_version(raw: Any) -> int:
    if isinstance(raw, dict):
        version = raw.get("version", 0)
        if isinstance(version, int) and not isinstance(version, bool):
            return version
    return 0


def _fsync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


__all__ = ["POLL_INTERVAL_S", "FileFlagStore", "path_from_url"]
