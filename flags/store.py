"""The interface every flag store implements, and what it shares.

A store keeps the flag record of every worker and the global kill switch, refuses a write
whose ``expected_version`` is not the current one (compare-and-set, so two operators cannot
silently overwrite each other), appends an :class:`AuditEntry` for every change, and tells
watchers about changes. One module per implementation lives in :mod:`flags.stores`;
:func:`flags.stores.open_store` picks one from a URL.

Validation and bookkeeping (version, time, actor, reason) happen here, once, before an
implementation is asked to write anything.
"""

from __future__ import annotations

import abc
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from flags.model import (
    DEFAULT_RECORD,
    MAX_TEXT,
    FlagRecord,
    ShadowConfig,
    utc_now,
    validate_worker_id,
)
from ground.errors import FlagConflictError, FlagError, FlagValidationError
from ground.logs import mask_url

Action: TypeAlias = Literal[
    "set", "kill", "unkill", "global-kill", "global-unkill", "promote", "rollback"
]
"""What a change was, as the audit trail shows it (``promote`` / ``rollback``: see
:mod:`cutover.ops.rollout`)."""

GLOBAL = "*"
"""The ``worker`` of audit entries about the global kill switch."""

UPDATE_ATTEMPTS = 5
"""How often :meth:`FlagStore.update` re-reads and retries after losing a race."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One change: who made it, when, why, and the value before and after.

    ``old`` / ``new`` are the records as dicts (``None`` before a worker's first write); for
    the global kill switch they are ``{"kill": bool}``.
    """

    worker: str
    action: str
    actor: str
    at: str
    reason: str
    version: int
    old: dict[str, Any] | None
    new: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of this entry."""
        return {
            "worker": self.worker,
            "action": self.action,
            "actor": self.actor,
            "at": self.at,
            "reason": self.reason,
            "version": self.version,
            "old": self.old,
            "new": self.new,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AuditEntry:
        """Rebuild an entry written by :meth:`to_dict` (``old``/``new`` may be JSON text)."""
        return cls(
            worker=str(data["worker"]),
            action=str(data["action"]),
            actor=str(data["actor"]),
            at=str(data["at"]),
            reason=str(data["reason"]),
            version=int(data["version"]),
            old=_json_field(data.get("old")),
            new=_json_field(data.get("new")),
        )

    def changes(self) -> dict[str, tuple[Any, Any]]:
        """The fields that differ between ``old`` and ``new`` (see :func:`diff`)."""
        return diff(self.old, self.new)


_BOOKKEEPING = frozenset({"version", "updated_at", "updated_by", "reason"})


def diff(
    old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
) -> dict[str, tuple[Any, Any]]:
    """The fields that differ between two record dicts: path -> (old, new).

    Nested fields are flattened to paths (``"shadow.sample"``); bookkeeping is left out.
    """
    before = _flatten(_comparable(old, new))
    after = _flatten(_comparable(new, old))
    names = sorted((before.keys() | after.keys()) - _BOOKKEEPING)
    return {n: (before.get(n), after.get(n)) for n in names if before.get(n) != after.get(n)}


def _json_field(value: Any) -> dict[str, Any] | None:
    if isinstance(value, str):
        value = json.loads(value)
    if value is None or isinstance(value, dict):
        return value
    raise ValueError(f"not an object: {value!r}")


def _comparable(
    record: Mapping[str, Any] | None, other: Mapping[str, Any] | None
) -> Mapping[str, Any]:
    """``record``, with what is absent compared as the defaults (a worker's first write shows
    only what differs from them; a new shadow only its route, sample and non-defaults)."""
    if record is None:
        if other is None or "route" not in other:
            return {}
        record = DEFAULT_RECORD.to_dict()  # a worker's first write: against the defaults
    other_shadow = (other or {}).get("shadow")
    if record.get("shadow") is None and isinstance(other_shadow, Mapping):
        # The side without a shadow: its defaults where the other side has them too (not a
        # change), nothing where the other side set a value (shown as "2.0 -> -", not as a
        # change back to the default the flags no longer have).
        defaults = {**ShadowConfig(route="legacy").to_dict(), "route": None, "sample": None}
        unset = {
            field: default if other_shadow.get(field) == default else None
            for field, default in defaults.items()
        }
        return {**record, "shadow": unset}
    return record


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


@dataclass(frozen=True, slots=True)
class FlagSnapshot:
    """Everything a store holds, read at once: what a :class:`~flags.table.FlagTable` loads.

    ``revision`` changes on every write to the store, so a reader can skip an unchanged one.
    ``problems`` names the workers whose stored record is invalid (they are left out, so those
    workers get the defaults) with the reason.
    """

    records: Mapping[str, FlagRecord]
    global_kill: bool
    revision: int
    problems: Mapping[str, str]


def check_change(actor: Any, reason: Any) -> tuple[str, str]:
    """Refuse a change without an actor or a reason (every change must be attributable)."""
    for name, value in (("actor", actor), ("reason", reason)):
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
            raise FlagValidationError(
                name, value, f"a non-empty text of at most {MAX_TEXT} characters"
            )
    return actor.strip(), reason.strip()


class FlagStore(abc.ABC):
    """Where flags live. Implementations: :mod:`flags.stores.redis_store`, ``file_store``.

    Every method may raise :class:`~ground.errors.FlagStoreError` when the store cannot be
    reached or read; the writing ones raise :class:`~ground.errors.FlagValidationError`
    before anything is written, and :meth:`put` raises
    :class:`~ground.errors.FlagConflictError` when ``expected_version`` is stale.
    """

    scheme: str = ""

    def __init__(self, url: str) -> None:
        self.url = url

    @property
    def display_url(self) -> str:
        """The URL with any password hidden: the only form that may be printed or logged."""
        return mask_url(self.url)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.display_url}>"

    # --- reading ----------------------------------------------------------------------------

    def get(self, worker_id: str) -> FlagRecord:
        """The record of ``worker_id``; the defaults (version 0) if it was never written."""
        return self._read_record(validate_worker_id(worker_id)) or DEFAULT_RECORD

    def list_workers(self) -> list[str]:
        """The ids of every worker that has a record, sorted."""
        return sorted(self.snapshot().records)

    def get_global_kill(self) -> bool:
        """True when the global kill switch forces ``legacy`` for every worker."""
        return self.snapshot().global_kill

    @abc.abstractmethod
    def snapshot(self) -> FlagSnapshot:
        """Every record and the global kill switch, read consistently."""

    @abc.abstractmethod
    def history(self, worker_id: str | None, limit: int = 100) -> list[AuditEntry]:
        """The last ``limit`` changes of ``worker_id`` (``None``: of everything), oldest first."""

    @abc.abstractmethod
    def watch(self, on_change: Callable[[], None], stop: threading.Event) -> None:
        """Call ``on_change()`` after every change until ``stop`` is set, then return.

        ``on_change`` is also called once as soon as the watch is established, so a caller
        that reloads there misses nothing between its last read and the watch. Raises
        :class:`~ground.errors.FlagStoreError` when the store is lost (the caller reconnects);
        an exception raised by ``on_change`` propagates.
        """

    # --- writing ----------------------------------------------------------------------------

    def put(
        self,
        worker_id: str,
        record: FlagRecord,
        *,
        expected_version: int,
        actor: str,
        reason: str,
        action: Action = "set",
    ) -> FlagRecord:
        """Write ``record`` if the stored version is still ``expected_version``.

        The stored record gets ``version = expected_version + 1`` and the bookkeeping of this
        change; it is returned. An audit entry (actor, time, reason, old, new) is appended and
        watchers are told, atomically with the write.
        """
        worker_id = validate_worker_id(worker_id)
        actor, reason = check_change(actor, reason)
        if not isinstance(record, FlagRecord):
            raise FlagValidationError("record", record, "a FlagRecord")
        if (
            isinstance(expected_version, bool)
            or not isinstance(expected_version, int)
            or expected_version < 0
        ):
            raise FlagValidationError("expected_version", expected_version, "an integer >= 0")
        at = utc_now()
        new = record.stamped(version=expected_version + 1, actor=actor, reason=reason, at=at)
        self._write_record(worker_id, new, expected_version, action)
        return new

    def update(
        self,
        worker_id: str,
        change: Callable[[FlagRecord], FlagRecord],
        *,
        actor: str,
        reason: str,
        action: Action = "set",
        expected_version: int | None = None,
    ) -> tuple[FlagRecord, FlagRecord]:
        """Read, apply ``change``, write with compare-and-set; return ``(old, new)``.

        With ``expected_version`` the write is refused (FlagConflictError) unless the stored
        version is that one; without it, a lost race is retried on a fresh read a few times.
        """
        check_change(actor, reason)
        last_error: FlagConflictError | None = None
        for _ in range(1 if expected_version is not None else UPDATE_ATTEMPTS):
            old = self.get(worker_id)
            if expected_version is not None and old.version != expected_version:
                raise conflict(worker_id, expected_version, old.version)
            new_flags = change(old)
            try:
                new = self.put(
                    worker_id,
                    new_flags,
                    expected_version=old.version,
                    actor=actor,
                    reason=reason,
                    action=action,
                )
            except FlagConflictError as exc:
                last_error = exc
                continue
            return old, new
        assert last_error is not None
        raise last_error

    def set_global_kill(self, kill: bool, *, actor: str, reason: str) -> None:
        """Turn the global kill switch on or off (audited like any change)."""
        actor, reason = check_change(actor, reason)
        if not isinstance(kill, bool):
            raise FlagValidationError("kill", kill, "true or false")
        entry = {"actor": actor, "reason": reason, "at": utc_now()}
        self._write_global_kill(kill, entry)

    def close(self) -> None:  # noqa: B027  (optional hook: most stores hold nothing to close)
        """Release connections; the store may not be used afterwards."""

    # --- what an implementation provides ---------------------------------------------------

    @abc.abstractmethod
    def _read_record(self, worker_id: str) -> FlagRecord | None:
        """The stored record, ``None`` if there is none; FlagStoreError if it is invalid."""

    @abc.abstractmethod
    def _write_record(
        self, worker_id: str, record: FlagRecord, expected_version: int, action: Action
    ) -> None:
        """Atomically: check the version, store, audit (both streams), notify watchers.

        Raises FlagConflictError, with the stored version, when it is not
        ``expected_version``.
        """

    @abc.abstractmethod
    def _write_global_kill(self, kill: bool, entry: dict[str, str]) -> None:
        """Atomically: store the switch, audit in the global history, notify watchers."""


def conflict(worker_id: str, expected: int, actual: int) -> FlagConflictError:
    """The error of a lost compare-and-set (one wording for every store)."""
    return FlagConflictError(
        f"flags of {worker_id!r} changed meanwhile: expected version {expected}, the store has "
        f"version {actual}; re-read them (cutover flags get {worker_id}) and retry"
    )


def parse_stored_record(raw: Any) -> FlagRecord:
    """Parse a record as stored (JSON text or dict); FlagError subclasses say what is wrong."""
    data = json.loads(raw) if isinstance(raw, str | bytes) else raw
    return FlagRecord.from_dict(data)


def parse_all(raw: Mapping[str, Any]) -> tuple[dict[str, FlagRecord], dict[str, str]]:
    """Parse every stored record; invalid ones are reported in ``problems``, not raised."""
    records: dict[str, FlagRecord] = {}
    problems: dict[str, str] = {}
    for worker_id, value in raw.items():
        try:
            records[worker_id] = parse_stored_record(value)
        except (FlagError, ValueError) as exc:
            problems[worker_id] = str(exc)
    return records, problems


__all__ = [
    "GLOBAL",
    "Action",
    "AuditEntry",
    "FlagSnapshot",
    "FlagStore",
    "check_change",
    "conflict",
    "diff",
    "parse_all",
    "parse_stored_record",
]
