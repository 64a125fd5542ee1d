"""``MemoryOptimizer``: size analysis, the compact sequences, the pool, leak detection."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from legacy import MemoryOptimizer, MemoryPool
from legacy.memory import (
    HIGH_SEVERITY_GROWTH,
    LEAK_MIN_GROWTH,
    RepeatedStringSequence,
    SparseSequence,
)
from tests.legacy import strategies


class LeakyRecord:
    """Instances of this class are what the leak tests pile up."""


LEAKY_TYPE_NAME = f"{LeakyRecord.__module__}.{LeakyRecord.__qualname__}"


def assert_behaves_like(expected: list[Any], compact: Sequence[Any], data: st.DataObject) -> None:
    """Length, every index (negative too), out-of-range, a slice, iteration and equality."""
    assert len(expected) == len(compact)
    assert expected == list(compact)
    assert compact == expected
    assert expected == compact
    for index in range(-len(expected), len(expected)):
        assert expected[index] == compact[index]
    for index in (len(expected), -len(expected) - 1):
        with pytest.raises(IndexError):
            compact[index]
    window = data.draw(st.slices(len(expected)))
    assert expected[window] == compact[window]
    assert isinstance(compact[window], list)
    assert compact != [*expected, "extra"]
    same_items_as_tuple: object = tuple(expected)  # a list never equals a tuple
    assert compact != same_items_as_tuple


@given(value=strategies.repeated_strings, data=st.data())
def test_repeated_string_sequence_behaves_like_the_list(
    value: list[str], data: st.DataObject
) -> None:
    """A ``RepeatedStringSequence`` reads exactly like the list it replaces."""
    text = value[0] if value else "x"
    assert_behaves_like(value, RepeatedStringSequence(text, len(value)), data)


@given(value=strategies.sparse_lists, data=st.data())
def test_sparse_sequence_behaves_like_the_list(value: list[Any], data: st.DataObject) -> None:
    """A ``SparseSequence`` reads exactly like the list it replaces."""
    entries = {index: item for index, item in enumerate(value) if item is not None}
    assert_behaves_like(value, SparseSequence(len(value), entries), data)


def test_compact_sequences_are_sequences_and_unhashable() -> None:
    """They are ``collections.abc.Sequence``s (``index``, ``count``, ``in``) and unhashable."""
    repeated = RepeatedStringSequence("ab", 3)
    sparse = SparseSequence(4, {2: "z"})
    assert (True, 0, 3) == ("ab" in repeated, repeated.index("ab"), repeated.count("ab"))
    assert (2, 3, ["z", None]) == (sparse.index("z"), sparse.count(None), sparse[2:])
    with pytest.raises(TypeError):
        hash(repeated)


def test_compact_sequences_refuse_bad_shapes() -> None:
    """A negative length or a position outside the sequence is refused at construction."""
    with pytest.raises(ValueError, match="length"):
        RepeatedStringSequence("a", -1)
    with pytest.raises(ValueError, match="outside"):
        SparseSequence(2, {5: "x"})


def test_optimize_data_structures_compacts_the_two_shapes() -> None:
    """Repeated strings and a mostly-``None`` list become compact; other keys are kept."""
    other = {"k": "v"}
    data = {
        "duplicated_strings": ["same"] * 1_000,
        "sparse_list": [None] * 999 + [7],
        "other": other,
    }
    result = MemoryOptimizer().optimize_data_structures(data)
    optimized = result["optimized_data"]
    assert isinstance(optimized["duplicated_strings"], RepeatedStringSequence)
    assert isinstance(optimized["sparse_list"], SparseSequence)
    assert data["duplicated_strings"] == optimized["duplicated_strings"]
    assert data["sparse_list"] == optimized["sparse_list"]
    assert other is optimized["other"]
    assert result["memory_saved"] > 0


@pytest.mark.parametrize(
    "data",
    [
        {"duplicated_strings": ["a", "b"]},
        {"duplicated_strings": []},
        {"duplicated_strings": [1, 1]},
        {"sparse_list": [None, 1, 2, None]},
        {"sparse_list": []},
    ],
)
def test_optimize_data_structures_keeps_what_does_not_fit(data: dict[str, Any]) -> None:
    """Mixed strings, non-strings and lists with at least half values stay as they are."""
    result = MemoryOptimizer().optimize_data_structures(data)
    assert data == result["optimized_data"]
    assert all(value is result["optimized_data"][key] for key, value in data.items())
    assert 0 == result["memory_saved"]


@given(strings=strategies.repeated_strings, sparse=strategies.sparse_lists)
def test_memory_saved_is_never_negative(strings: list[str], sparse: list[Any]) -> None:
    """``memory_saved`` is at least 0, and the optimized values equal the originals."""
    data = {"duplicated_strings": strings, "sparse_list": sparse}
    result = MemoryOptimizer().optimize_data_structures(data)
    assert result["memory_saved"] >= 0
    assert data == {key: list(value) for key, value in result["optimized_data"].items()}


def test_analyze_memory_usage() -> None:
    """Shallow sizes per key and their total; suggestions for a long list and a huge string."""
    data = {"rows": list(range(10_001)), "blob": "x" * 1_000_001, "small": [1]}
    report = MemoryOptimizer().analyze_memory_usage(data)
    expected_breakdown = {key: sys.getsizeof(value) for key, value in data.items()}
    assert expected_breakdown == report["breakdown"]
    assert sum(expected_breakdown.values()) == report["total_size"]
    assert [
        "Consider using generator for 'rows'",
        "Consider streaming or chunking for 'blob'",
    ] == report["optimization_suggestions"]


def test_analyze_memory_usage_thresholds_are_strict() -> None:
    """Exactly 10,000 items or 1,000,000 characters gets no suggestion."""
    data = {"rows": [0] * 10_000, "blob": "x" * 1_000_000}
    assert [] == MemoryOptimizer().analyze_memory_usage(data)["optimization_suggestions"]


def test_memory_pool_allocates_zeroed_buffers() -> None:
    """``setup_memory_pool`` gives a pool whose ``allocate`` returns a zeroed bytearray."""
    pool = MemoryOptimizer().setup_memory_pool(1024)
    assert isinstance(pool, MemoryPool)
    assert 1024 == pool.size
    assert bytearray(16) == pool.allocate(16)


def test_leak_detection_off_until_started() -> None:
    """Without ``start_leak_detection`` nothing is reported, whatever was allocated."""
    hoard = [LeakyRecord() for _ in range(LEAK_MIN_GROWTH * 2)]
    assert [] == MemoryOptimizer().detect_memory_leaks()
    assert hoard


@pytest.mark.parametrize(
    ("count", "severity"),
    [(LEAK_MIN_GROWTH * 3, "medium"), (HIGH_SEVERITY_GROWTH + 500, "high")],
)
def test_leak_detection_reports_a_growing_type(count: int, severity: str) -> None:
    """A type that gained more objects than the threshold is reported with its severity."""
    optimizer = MemoryOptimizer()
    optimizer.start_leak_detection()
    hoard = [LeakyRecord() for _ in range(count)]
    leaks = {leak["location"]: leak for leak in optimizer.detect_memory_leaks()}
    assert LEAKY_TYPE_NAME in leaks
    leak = leaks[LEAKY_TYPE_NAME]
    assert ("object_growth", severity) == (leak["type"], leak["severity"])
    assert leak["size"] >= count * sys.getsizeof(hoard[0])
    assert {"location", "type", "size", "severity"} == set(leak)


def test_leak_detection_ignores_small_growth() -> None:
    """Growth under the threshold is normal churn and is not reported."""
    optimizer = MemoryOptimizer()
    optimizer.start_leak_detection()
    hoard = [LeakyRecord() for _ in range(LEAK_MIN_GROWTH - 1)]
    locations = [leak["location"] for leak in optimizer.detect_memory_leaks()]
    assert LEAKY_TYPE_NAME not in locations
    assert hoard


def test_leak_detection_needs_relative_growth_too() -> None:
    """A type already numerous must also grow by half of its starting count."""
    existing = [LeakyRecord() for _ in range(LEAK_MIN_GROWTH * 4)]
    optimizer = MemoryOptimizer()
    optimizer.start_leak_detection()
    more = [LeakyRecord() for _ in range(LEAK_MIN_GROWTH + 10)]  # +1,010 on 4,000: 25%
    assert LEAKY_TYPE_NAME not in [leak["location"] for leak in optimizer.detect_memory_leaks()]
    assert existing
    assert more
