"""Hypothesis strategies of the shadow tests: result-like values and shadow records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from compat.shadow.records import OPERATIONS, OUTCOMES, ItemMismatch, ShadowRecord

KEYS = st.one_of(st.text(max_size=8), st.integers(-5, 5))


def leaves() -> st.SearchStrategy[Any]:
    """Scalars a task may return: NaN and infinities included."""
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=20),
        st.binary(max_size=8),
        st.decimals(allow_nan=False, places=3),
        st.datetimes(timezones=st.just(UTC)),
        st.timedeltas(max_value=timedelta(days=9999)),
    )


def values() -> st.SearchStrategy[Any]:
    """Nested results: lists, tuples, dicts, sets and frozensets of leaves."""
    hashable = st.one_of(st.integers(), st.text(max_size=8), st.booleans())
    return st.recursive(
        leaves(),
        lambda children: st.one_of(
            st.lists(children, max_size=5),
            st.lists(children, max_size=5).map(tuple),
            st.dictionaries(KEYS, children, max_size=5),
            st.sets(hashable, max_size=5),
            st.frozensets(hashable, max_size=5),
        ),
        max_leaves=25,
    )


def json_samples() -> st.SearchStrategy[Any]:
    """What :func:`~compat.shadow.redact.redact` produces: JSON values."""
    return st.recursive(
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(-(2**53), 2**53),
            st.floats(allow_nan=False, allow_infinity=False),
            st.text(max_size=20),
        ),
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(st.text(max_size=8), children, max_size=4),
        ),
        max_leaves=10,
    )


def records(**fixed: Any) -> st.SearchStrategy[ShadowRecord]:
    """Shadow records; ``fixed`` pins fields."""
    latency = st.floats(min_value=0.0, max_value=100.0)
    text = st.text(min_size=1, max_size=20)
    fields: dict[str, Any] = {
        "worker": st.from_regex(r"[a-z][a-z0-9_.:@/-]{0,15}", fullmatch=True),
        "call_id": text,
        "flag_version": st.integers(0, 2**40),
        "operation": st.sampled_from(OPERATIONS),
        "primary_route": st.sampled_from(("legacy", "celery", "ray")),
        "candidate_route": st.sampled_from(("legacy", "celery", "ray")),
        "outcome": st.sampled_from(OUTCOMES),
        "primary_latency_s": latency,
        "candidate_latency_s": st.none() | latency,
        "diffs": st.lists(text, max_size=5).map(tuple),
        "sample_input": json_samples(),
        "primary_error": st.none() | text,
        "candidate_error": st.none() | text,
        "noisy_paths": st.lists(text, max_size=3).map(tuple),
        "items": st.integers(0, 10_000),
        "created_at": st.floats(min_value=0.0, max_value=4e9),
        "item_mismatches": st.lists(
            st.builds(
                ItemMismatch,
                index=st.integers(0, 10_000),
                input=json_samples(),
                diffs=st.lists(text, max_size=5).map(tuple),
            ),
            max_size=3,
        ).map(tuple),
        "mismatched_items": st.integers(0, 10_000),
        "failed_items": st.lists(
            st.builds(
                ItemMismatch,
                index=st.integers(0, 10_000),
                input=json_samples(),
                diffs=st.lists(text, max_size=2).map(tuple),
            ),
            max_size=2,
        ).map(tuple),
    }
    fields.update({name: st.just(value) for name, value in fixed.items()})
    return st.builds(ShadowRecord, **fields)


def make_record(**changes: Any) -> ShadowRecord:
    """One plausible record (a match of worker ``w``, legacy -> celery); ``changes`` override."""
    base: dict[str, Any] = {
        "worker": "w",
        "call_id": "call-1",
        "flag_version": 3,
        "operation": "batch",
        "primary_route": "legacy",
        "candidate_route": "celery",
        "outcome": "match",
        "primary_latency_s": 0.010,
        "candidate_latency_s": 0.012,
        "diffs": (),
        "sample_input": [1, 2, 3],
        "primary_error": None,
        "candidate_error": None,
        "noisy_paths": (),
        "items": 3,
        "created_at": datetime(2025, 1, 1, tzinfo=UTC).timestamp(),
    }
    base.update(changes)
    return ShadowRecord(**base)


__all__ = ["json_samples", "leaves", "make_record", "records", "values"]
