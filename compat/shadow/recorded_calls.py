"""A recorded call: what ``cutover replay`` runs again, offline, on any route.

One :class:`RecordedCall` per line of ``<directory>/calls-<worker>.jsonl``: the task
function by reference (``module:qualname``, resolved on replay through the task allow-list,
as a worker resolves it), the call's ``batch_size`` and ``max_concurrent``, and its items
encoded by the typed codec that crosses the broker (tuples, bytes, datetimes... come back as
they were), after redaction.

Redaction follows the shadow rules (:mod:`compat.shadow.redact`: the worker's
``shadow.redact`` paths, a bare name matching that key anywhere, secrets scrubbed out of
text) but keeps every item and every type, so a replay runs the task on the same shape of
input; only the named values become ``"***"``, on both sides of the replay alike.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote, unquote

from compat.shadow.normalize import (
    PatternSet,
    Segments,
    index_segment,
    key_segment,
    pattern_set,
)
from compat.shadow.redact import REDACTED, scrub_text
from ground.errors import InvalidArgumentError

FILE_PREFIX: Final = "calls-"
FILE_SUFFIX: Final = ".jsonl"
FORMAT: Final = 1


def calls_file(directory: Path, worker: str) -> Path:
    """The recorded calls of ``worker`` in ``directory``."""
    return directory / f"{FILE_PREFIX}{quote(worker, safe='@')}{FILE_SUFFIX}"


def worker_of_file(name: str) -> str | None:
    """The worker whose calls file is called ``name`` (``None`` if it is not one)."""
    if not (name.startswith(FILE_PREFIX) and name.endswith(FILE_SUFFIX)):
        return None
    return unquote(name[len(FILE_PREFIX) : -len(FILE_SUFFIX)]) or None


_Path = tuple[Any, Any, bool]
"""A node's path as a linked list ``(parent, key, is_index)`` (root ``None``): segments are
built only for a node whose key a pattern may name (:meth:`PatternSet.may_name`)."""


def _segments(path: _Path | None) -> Segments:
    parts: list[str] = []
    while path is not None:
        path, key, is_index = path
        parts.append(index_segment(key) if is_index else key_segment(key))
    return tuple(reversed(parts))


class _Redactor:
    def __init__(self, patterns: PatternSet) -> None:
        self.patterns = patterns
        self.names = tuple(
            {p.last_key.lower() for p in patterns.patterns if p.last_key is not None}
        )

    def named(self, path: _Path) -> bool:
        return self.patterns.may_name(path[1]) and self.patterns.matches(_segments(path))

    def text(self, value: str) -> str:
        lowered = value.lower()
        if any(name in lowered for name in self.names):  # else no ``name=value`` to scrub
            return scrub_text(value, self.patterns.patterns)
        return value

    def value(self, value: Any, path: _Path) -> Any:
        if self.named(path):
            return REDACTED
        kind = type(value)
        if kind is dict:
            return {key: self.value(item, (path, key, False)) for key, item in value.items()}
        if kind is list or kind is tuple:
            redacted = [self.value(item, (path, i, True)) for i, item in enumerate(value)]
            return redacted if kind is list else tuple(redacted)
        if kind is str:
            return self.text(value)
        return value


def redact_items(items: Sequence[Any], paths: Sequence[str]) -> list[Any]:
    """``items`` with the nodes named by ``paths`` replaced by ``"***"``; nothing else changes
    (no item, key or type is dropped: unlike a shadow record's sample, this is run again)."""
    patterns = pattern_set(paths)
    if not patterns:
        return list(items)
    redactor = _Redactor(patterns)
    return [redactor.value(item, (None, i, True)) for i, item in enumerate(items)]


@dataclass(frozen=True)
class RecordedCall:
    """One call of ``optimize_batch_processing`` as recorded (items already redacted and
    encoded by :mod:`adapters.codec`: a JSON-safe tree)."""

    call_id: str
    worker: str
    reference: str
    batch_size: int
    max_concurrent: int
    items: Any
    item_count: int
    shadow_safe: bool
    redacted: tuple[str, ...]
    recorded_at: float
    operation: str = "batch"

    def to_json(self) -> str:
        """One line of the calls file."""
        return json.dumps(
            {
                "format": FORMAT,
                "call_id": self.call_id,
                "worker": self.worker,
                "operation": self.operation,
                "reference": self.reference,
                "batch_size": self.batch_size,
                "max_concurrent": self.max_concurrent,
                "items": self.items,
                "item_count": self.item_count,
                "shadow_safe": self.shadow_safe,
                "redacted": list(self.redacted),
                "recorded_at": self.recorded_at,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, line: str, where: str) -> RecordedCall:
        """A line of a calls file; anything malformed is an ``InvalidArgumentError`` saying
        where (``where``: the file and line)."""
        try:
            data = json.loads(line)
            if not isinstance(data, Mapping) or data.get("format") != FORMAT:
                raise ValueError(f"not a recorded call of format {FORMAT}")
            call = cls(
                call_id=str(data["call_id"]),
                worker=str(data["worker"]),
                reference=str(data["reference"]),
                batch_size=int(data["batch_size"]),
                max_concurrent=int(data["max_concurrent"]),
                items=data["items"],
                item_count=int(data["item_count"]),
                shadow_safe=bool(data["shadow_safe"]),
                redacted=tuple(str(path) for path in data["redacted"]),
                recorded_at=float(data["recorded_at"]),
                operation=str(data.get("operation", "batch")),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidArgumentError(
                f"{where}: not a recorded call ({type(exc).__name__}: {exc}); the file holds "
                "one JSON object per line as compat.shadow.call_recorder writes them"
            ) from None
        if call.operation != "batch":
            raise InvalidArgumentError(
                f"{where}: operation {call.operation!r} cannot be replayed (only 'batch')"
            )
        return call


def read_calls(path: Path, start: int = 0) -> Iterator[tuple[int, RecordedCall]]:
    """``(line index, call)`` for each line of ``path`` from line ``start`` (0-based)."""
    with path.open(encoding="utf-8") as lines:
        for index, line in enumerate(lines):
            if index < start or not line.strip():
                continue
            yield index, RecordedCall.from_json(line, f"{path}:{index + 1}")


def count_lines(path: Path) -> int:
    """How many calls ``path`` holds (non-empty lines)."""
    with path.open(encoding="utf-8") as lines:
        return sum(1 for line in lines if line.strip())


__all__ = [
    "FILE_PREFIX",
    "FILE_SUFFIX",
    "RecordedCall",
    "calls_file",
    "count_lines",
    "read_calls",
    "redact_items",
    "worker_of_file",
]
