"""One shadow comparison, as it is stored and reported.

Outcomes (one per record; the report counts each):

- ``match``: both returned, and the results compare equal;
- ``mismatch``: both returned and differ, *or* exactly one side raised while the other
  returned, *or* both raised with different exception types or messages;
- ``both_failed``: both raised the same exception type with the same message. The
  candidate reproduced the primary's behaviour, so it **counts as agreement** (like a match)
  in every rate, but is kept apart so the report shows how often it happens;
- ``candidate_error``: the primary returned, the candidate raised;
- ``candidate_timeout``: the candidate did not finish within ``shadow.timeout_s``
  (``candidate_latency_s`` is then ``None``).

``match`` and ``both_failed`` are :data:`AGREEMENTS`; the other three are
:data:`DISAGREEMENTS`, the numerator of the mismatch rate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Final

from ground.errors import InvalidArgumentError

MATCH: Final = "match"
MISMATCH: Final = "mismatch"
CANDIDATE_ERROR: Final = "candidate_error"
CANDIDATE_TIMEOUT: Final = "candidate_timeout"
BOTH_FAILED: Final = "both_failed"

OUTCOMES: Final = (MATCH, BOTH_FAILED, MISMATCH, CANDIDATE_ERROR, CANDIDATE_TIMEOUT)
"""Every outcome, in the order reports list them."""
AGREEMENTS: Final = frozenset({MATCH, BOTH_FAILED})
DISAGREEMENTS: Final = frozenset({MISMATCH, CANDIDATE_ERROR, CANDIDATE_TIMEOUT})

OPERATIONS: Final = ("batch", "pipeline", "task", "handler")
"""The routed calls of the shim: ``optimize_batch_processing``, ``Pipeline.process``,
``AsyncTaskScheduler.execute_next`` and the handler of ``AsyncBatchProcessor``."""


@dataclass(frozen=True)
class ItemMismatch:
    """One item of a batch whose results differ: its index in the call's input, that item's
    input (redacted, size-bounded, JSON-safe) and its own diff lines (redacted)."""

    index: int
    input: Any
    diffs: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "diffs", tuple(str(line) for line in self.diffs))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"index": self.index, "input": self.input, "diffs": list(self.diffs)}

    @classmethod
    def from_dict(cls, data: Any, field_name: str = "item_mismatches") -> ItemMismatch:
        """Rebuild one from :meth:`to_dict` output (malformed: ``InvalidArgumentError``
        naming ``field_name``, the record field it was read from)."""
        if not isinstance(data, Mapping):
            raise _bad(field_name, data, "a list of objects")
        try:
            return cls(_integer(data, "index"), data.get("input"), _texts(data, "diffs"))
        except KeyError as exc:
            raise InvalidArgumentError(
                f"item mismatch without {exc.args[0]!r} (shadow record field {field_name!r})"
            ) from None


@dataclass(frozen=True)
class ShadowRecord:
    """The result of one shadow experiment (already redacted: safe to store and show).

    ``diffs`` are the first differences, one readable line each
    (:mod:`compat.shadow.compare`); ``sample_input`` is a redacted, size-bounded, JSON-safe
    sample of the call's input; errors read ``"Type: message"``; ``noisy_paths`` are the
    paths that were ignored as learned noise; ``created_at`` is epoch seconds.

    ``skipped`` counts the calls of this worker, sampled for a shadow in this process since
    its previous record, whose shadow was skipped because too many were in flight: those
    are the calls made while candidates ran slow, so the verdict counts them as slow calls
    rather than letting their absence flatter the candidate. Records written before it
    existed read 0.

    For a batch (a batched map, a pipeline, a handler) whose results differ item by item,
    ``item_mismatches`` names the first differing items (index, redacted input, diff lines)
    and ``mismatched_items`` counts them all (both empty otherwise, and in older records).
    When a side raised, ``failed_items`` names the items its engine reported as raising
    (index, redacted input, one line per side: ``candidate raised ValueError: ...``): a
    remote engine names every item that had raised when its batch stopped, legacy the one
    whose exception propagated, in a batched map (empty for other operations' legacy
    failures, and in older records).

    The latency split (:mod:`adapters.timing`): ``*_queue_wait_s`` + ``*_execution_s`` is the
    side's latency, cut in the proportion its remote batches waited (publish -> start: the
    caller's total minus the worker's own execution time, no shared clock) and ran; legacy
    waits 0. ``*_batches`` counts the side's remote batches (0 on legacy). ``None`` when the
    engine did not report it (an older worker, a failed or timed-out side, older records).
    """

    worker: str
    call_id: str
    flag_version: int
    operation: str
    primary_route: str
    candidate_route: str
    outcome: str
    primary_latency_s: float
    candidate_latency_s: float | None
    diffs: tuple[str, ...]
    sample_input: Any
    primary_error: str | None
    candidate_error: str | None
    noisy_paths: tuple[str, ...]
    items: int
    created_at: float
    skipped: int = 0
    item_mismatches: tuple[ItemMismatch, ...] = ()
    mismatched_items: int = 0
    primary_queue_wait_s: float | None = None
    primary_execution_s: float | None = None
    candidate_queue_wait_s: float | None = None
    candidate_execution_s: float | None = None
    primary_batches: int = 0
    candidate_batches: int = 0
    failed_items: tuple[ItemMismatch, ...] = ()

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise InvalidArgumentError(
                f"shadow record outcome {self.outcome!r}: expected one of {', '.join(OUTCOMES)}"
            )
        # Stored as tuples of text whatever sequence was given (the redactor returns lists).
        object.__setattr__(self, "diffs", tuple(str(line) for line in self.diffs))
        object.__setattr__(self, "noisy_paths", tuple(str(path) for path in self.noisy_paths))
        object.__setattr__(self, "item_mismatches", tuple(self.item_mismatches))
        object.__setattr__(self, "failed_items", tuple(self.failed_items))

    @property
    def agreed(self) -> bool:
        """True for ``match`` and ``both_failed``: the candidate did what the primary did."""
        return self.outcome in AGREEMENTS

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``sample_input`` is JSON-safe by construction)."""
        return {
            "worker": self.worker,
            "call_id": self.call_id,
            "flag_version": self.flag_version,
            "operation": self.operation,
            "primary_route": self.primary_route,
            "candidate_route": self.candidate_route,
            "outcome": self.outcome,
            "primary_latency_s": self.primary_latency_s,
            "candidate_latency_s": self.candidate_latency_s,
            "diffs": list(self.diffs),
            "sample_input": self.sample_input,
            "primary_error": self.primary_error,
            "candidate_error": self.candidate_error,
            "noisy_paths": list(self.noisy_paths),
            "items": self.items,
            "created_at": self.created_at,
            "skipped": self.skipped,
            "item_mismatches": [item.to_dict() for item in self.item_mismatches],
            "mismatched_items": self.mismatched_items,
            "primary_queue_wait_s": self.primary_queue_wait_s,
            "primary_execution_s": self.primary_execution_s,
            "candidate_queue_wait_s": self.candidate_queue_wait_s,
            "candidate_execution_s": self.candidate_execution_s,
            "primary_batches": self.primary_batches,
            "candidate_batches": self.candidate_batches,
            "failed_items": [item.to_dict() for item in self.failed_items],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ShadowRecord:
        """Rebuild a record from :meth:`to_dict` output; unknown keys are ignored.

        Malformed data is an :class:`~ground.errors.InvalidArgumentError`.
        """
        if not isinstance(data, Mapping):
            raise InvalidArgumentError(f"a shadow record must be an object, not {data!r:.80}")
        try:
            return cls(
                worker=_text(data, "worker"),
                call_id=_text(data, "call_id"),
                flag_version=_integer(data, "flag_version"),
                operation=_text(data, "operation"),
                primary_route=_text(data, "primary_route"),
                candidate_route=_text(data, "candidate_route"),
                outcome=_text(data, "outcome"),
                primary_latency_s=_number(data, "primary_latency_s"),
                candidate_latency_s=_optional_number(data, "candidate_latency_s"),
                diffs=_texts(data, "diffs"),
                sample_input=data.get("sample_input"),
                primary_error=_optional_text(data, "primary_error"),
                candidate_error=_optional_text(data, "candidate_error"),
                noisy_paths=_texts(data, "noisy_paths"),
                items=_integer(data, "items"),
                created_at=_number(data, "created_at"),
                skipped=_optional_integer(data, "skipped"),
                item_mismatches=_item_mismatches(data, "item_mismatches"),
                mismatched_items=_optional_integer(data, "mismatched_items"),
                primary_queue_wait_s=_optional_number(data, "primary_queue_wait_s"),
                primary_execution_s=_optional_number(data, "primary_execution_s"),
                candidate_queue_wait_s=_optional_number(data, "candidate_queue_wait_s"),
                candidate_execution_s=_optional_number(data, "candidate_execution_s"),
                primary_batches=_optional_integer(data, "primary_batches"),
                candidate_batches=_optional_integer(data, "candidate_batches"),
                failed_items=_item_mismatches(data, "failed_items"),
            )
        except KeyError as exc:
            raise InvalidArgumentError(f"shadow record without {exc.args[0]!r}") from None


FIELDS: Final = tuple(f.name for f in fields(ShadowRecord))


def _item_mismatches(data: Mapping[str, Any], name: str) -> tuple[ItemMismatch, ...]:
    value = data.get(name) or ()
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise _bad(name, value, "a list of objects")
    return tuple(ItemMismatch.from_dict(item, name) for item in value)


def _bad(name: str, value: Any, expected: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"shadow record field {name!r}: {value!r:.80} is not {expected}")


def _text(data: Mapping[str, Any], name: str) -> str:
    value = data[name]
    if not isinstance(value, str):
        raise _bad(name, value, "a text")
    return value


def _optional_text(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    return None if value is None else _text(data, name)


def _integer(data: Mapping[str, Any], name: str) -> int:
    value = data[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(name, value, "an integer")
    return value


def _optional_integer(data: Mapping[str, Any], name: str) -> int:
    """A count added after the first records: absent or null (older records) reads 0."""
    return 0 if data.get(name) is None else _integer(data, name)


def _number(data: Mapping[str, Any], name: str) -> float:
    value = data[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise _bad(name, value, "a number")
    return float(value)


def _optional_number(data: Mapping[str, Any], name: str) -> float | None:
    return None if data.get(name) is None else _number(data, name)


def _texts(data: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = data.get(name) or ()
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise _bad(name, value, "a list of texts")
    if not all(isinstance(item, str) for item in value):
        raise _bad(name, value, "a list of texts")
    return tuple(value)


__all__ = [
    "AGREEMENTS",
    "BOTH_FAILED",
    "CANDIDATE_ERROR",
    "CANDIDATE_TIMEOUT",
    "DISAGREEMENTS",
    "FIELDS",
    "MATCH",
    "MISMATCH",
    "OPERATIONS",
    "OUTCOMES",
    "ItemMismatch",
    "ShadowRecord",
]
