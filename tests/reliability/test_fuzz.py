"""Hypothesis against the two parsers that read what other processes wrote.

- The flag parser (``FlagRecord.from_dict`` / ``parse_stored_record``): any JSON at all, and
  valid records with one field swapped for arbitrary JSON, give a record that round-trips,
  or ``FlagValidationError``; never another exception.
- The typed serializer: values where carriable and uncarriable parts are mixed at any depth
  come back equal and of the same types, or raise ``SerializationError``; never a crash, never
  a changed value.
"""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from adapters import codec
from cutover.errors import FlagValidationError, SerializationError
from flags import FlagRecord
from flags.store import parse_stored_record
from tests.adapters.strategies import carriable_values, same_typed, unsupported_values
from tests.flags.strategies import flag_records

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["legacy", "celery", "ray", "hybrid", "fail", "threshold", "adaptive"]),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=20,
)
"""Any JSON document (NaN and infinities included: Python's json reads and writes them)."""

FIELDS = [
    "route",
    "percent",
    "base",
    "kill",
    "priority",
    "queue",
    "fallback",
    "version",
    "updated_at",
    "hybrid",
    "hybrid.threshold",
    "hybrid.mode",
    "shadow",
    "shadow.route",
    "shadow.sample",
    "shadow.timeout_s",
    "shadow.redact",
    "retries",
    "retries.max",
    "retries.retryable",
]


def record_or_refusal(data: Any) -> FlagRecord | None:
    """Parse ``data``; ``None`` when refused with ``FlagValidationError`` (anything else fails)."""
    try:
        record = FlagRecord.from_dict(data)
    except FlagValidationError:
        return None
    assert record == FlagRecord.from_dict(json.loads(json.dumps(record.to_dict())))
    return record


@given(json_values)
def test_any_json_is_a_record_or_a_flag_validation_error(data: Any) -> None:
    """Arbitrary JSON: never an exception other than ``FlagValidationError``."""
    record = record_or_refusal(data)
    assert record is None or isinstance(data, dict)


@given(flag_records, st.sampled_from(FIELDS), json_values)
def test_a_valid_record_with_one_field_mangled_parses_or_is_refused(
    record: FlagRecord, field: str, value: Any
) -> None:
    """One field of a valid record replaced by arbitrary JSON: a record, or a clear refusal."""
    data = record.to_dict()
    *parents, name = field.split(".")
    target = data
    for parent in parents:
        if not isinstance(target.get(parent), dict):
            target[parent] = {"route": "ray"} if parent == "shadow" else {}
        target = target[parent]
    target[name] = value
    parsed = record_or_refusal(data)
    if parsed is not None:
        assert isinstance(parsed.percent, float)
        assert math.isfinite(parsed.percent)


@given(st.text(max_size=200) | json_values.map(json.dumps))
def test_any_stored_text_is_a_record_or_a_value_error(raw: str) -> None:
    """Stored text of any kind: a record, or a ``ValueError`` the stores report per worker."""
    try:
        parse_stored_record(raw)
    except FlagValidationError:
        pass
    except json.JSONDecodeError:
        pass


def mixed_values() -> st.SearchStrategy[Any]:
    """Carriable containers with, sometimes, an uncarriable value at any depth."""
    leaves = carriable_values() | unsupported_values()
    return st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.lists(inner, max_size=3).map(tuple)
            | st.dictionaries(st.text(max_size=4), inner, max_size=3)
            | st.dictionaries(st.integers(), inner, max_size=2)
        ),
        max_leaves=10,
    )


@given(mixed_values())
def test_the_serializer_round_trips_exactly_or_refuses(value: Any) -> None:
    """Equal and same-typed after a round trip, or ``SerializationError``: nothing else."""
    try:
        data = codec.dumps(value)
    except SerializationError:
        return
    assert same_typed(value, codec.loads(data))
