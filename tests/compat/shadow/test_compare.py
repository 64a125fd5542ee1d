"""compare(): types matter, floats within tolerance, unordered lists, ignored paths, diff lines."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compat.shadow.compare import (
    MAX_DIFFS,
    Comparison,
    compare,
    compare_exceptions,
    diff_signature,
    differing_paths,
)
from compat.shadow.normalize import format_path, generalize, parse_pattern
from flags import ShadowConfig
from tests.compat.shadow.strategies import values

CONFIG = ShadowConfig(route="celery")


def config(**options: Any) -> ShadowConfig:
    """A shadow configuration with ``options``."""
    return ShadowConfig(route="celery", **options)


@given(values())
def test_compare_is_reflexive(value: Any) -> None:
    """Any value equals a deep copy of itself (NaN included), with no diff lines."""
    result = compare(value, copy.deepcopy(value), CONFIG)
    assert (True, ()) == (result.equal, result.diffs)


@given(st.lists(st.integers(), min_size=1, max_size=20), st.data())
def test_one_changed_leaf_is_named_by_its_path(items: list[int], data: st.DataObject) -> None:
    """Changing one element gives exactly one diff line naming its index and both values."""
    index = data.draw(st.integers(0, len(items) - 1))
    changed = list(items)
    changed[index] += 1
    expected = Comparison(
        False, (f"$[{index}]: {items[index]} != {changed[index]}",), 1 + len(items)
    )
    assert expected == compare(items, changed, CONFIG)


@given(st.lists(values(), max_size=6), st.randoms())
def test_unordered_lists_ignore_order(items: list[Any], random: Any) -> None:
    """With unordered_lists, a permutation of a list compares equal."""
    shuffled = copy.deepcopy(items)
    random.shuffle(shuffled)
    assert compare(items, shuffled, config(unordered_lists=True)).equal


def test_changed_leaf_diff_line() -> None:
    """A changed nested leaf reads `$[3].total: 10 != 11`."""
    primary = [{"total": n} for n in range(3)] + [{"total": 10}]
    candidate = [{"total": n} for n in range(3)] + [{"total": 11}]
    assert ("$[3].total: 10 != 11",) == compare(primary, candidate, CONFIG).diffs


def test_tuple_versus_list_is_a_type_difference() -> None:
    """The shim promises identical types: a tuple where the primary had a list differs."""
    assert ("$[2]: type tuple != list",) == compare([1, 2, (3, 4)], [1, 2, [3, 4]], CONFIG).diffs


@pytest.mark.parametrize(
    ("primary", "candidate", "line"),
    [
        (1, 1.0, "$: type int != float"),
        (1, True, "$: type int != bool"),
        ({"a": 1}, [1], "$: type dict != list"),
        ({1, 2}, frozenset({1, 2}), "$: type set != frozenset"),
    ],
)
def test_type_differences(primary: Any, candidate: Any, line: str) -> None:
    """Equal-looking values of different types are differences."""
    assert (line,) == compare(primary, candidate, CONFIG).diffs


def test_length_difference_then_the_common_prefix() -> None:
    """Lists of different lengths: one `length` line, then the common prefix is compared."""
    result = compare([1, 2, 3, 4, 5], [1, 2, 9, 4], CONFIG)
    assert ("$: length 5 != 4", "$[2]: 3 != 9") == result.diffs


def test_keys_on_one_side_only() -> None:
    """A key only one side has is named, with the value it had."""
    result = compare({"a": 1, "b": 2}, {"a": 1, "c": 3}, CONFIG)
    expected = ("$.b: only in primary (key): 2", "$.c: only in candidate (key): 3")
    assert expected == result.diffs


def test_odd_keys_are_shown_as_repr() -> None:
    """Keys that are not plain words appear in brackets, as their repr."""
    result = compare({"a b": {3: "x"}}, {"a b": {3: "y"}}, CONFIG)
    assert ("$['a b'][3]: 'x' != 'y'",) == result.diffs


def test_float_tolerance() -> None:
    """Floats within float_rel_tol are equal; outside, the line shows the relative difference."""
    loose = config(float_rel_tol=1e-3)
    assert compare({"x": 100.0}, {"x": 100.05}, loose).equal
    result = compare({"x": 100.0}, {"x": 101.0}, loose)
    assert ("$.x: 100.0 != 101.0 (relative difference 0.0099 > 0.001)",) == result.diffs


def test_nan_equals_nan_and_infinities_compare_by_sign() -> None:
    """NaN is equal to NaN; inf is not -inf."""
    nan = float("nan")
    assert compare([nan, float("inf")], [nan, float("inf")], CONFIG).equal
    assert not compare(float("inf"), float("-inf"), CONFIG).equal


def test_unordered_lists_report_unmatched_items() -> None:
    """With unordered_lists the unmatched elements of each side are listed."""
    result = compare([3, 1, 2], [1, 2, 4], config(unordered_lists=True))
    assert ("$: unordered; 1 only in primary: [3]; 1 only in candidate: [4]",) == result.diffs


def test_unordered_lists_use_tolerance_and_ignored_paths() -> None:
    """Elements match under the comparison's rules: float tolerance and ignored paths."""
    options = config(unordered_lists=True, float_rel_tol=1e-6, ignore_paths=("$[*].at",))
    primary = [{"v": 1.0, "at": 1}, {"v": 2.0, "at": 2}]
    candidate = [{"v": 2.0000001, "at": 9}, {"v": 1.0, "at": 8}]
    assert compare(primary, candidate, options).equal


def test_ordered_lists_by_default() -> None:
    """Without unordered_lists, order matters."""
    assert not compare([1, 2], [2, 1], CONFIG).equal


def test_tuples_keep_their_order_even_when_lists_do_not() -> None:
    """unordered_lists applies to lists only: a tuple's order is part of its meaning."""
    assert not compare((1, 2), (2, 1), config(unordered_lists=True)).equal


def test_sets_compare_as_sets() -> None:
    """Sets are equal regardless of insertion order; a difference lists both sides' extras."""
    assert compare({3, 1, 2}, {1, 2, 3}, CONFIG).equal
    expected = ("$: set differs; only in primary: [1]; only in candidate: [4]",)
    assert expected == compare({1, 2, 3}, {2, 3, 4}, CONFIG).diffs


@pytest.mark.parametrize(
    "ignored",
    ["$[*].timestamp", "timestamp", "*.timestamp", "$.*.timestamp", "$[1].timestamp"],
)
def test_ignore_paths_with_wildcards(ignored: str) -> None:
    """Ignored paths (wildcard index, bare name, any-depth, wildcard key) hide a difference."""
    primary = [{"id": 1, "timestamp": 1}, {"id": 2, "timestamp": 2}]
    candidate = [{"id": 1, "timestamp": 1}, {"id": 2, "timestamp": 99}]
    assert not compare(primary, candidate, CONFIG).equal
    assert compare(primary, candidate, config(ignore_paths=(ignored,))).equal


def test_ignore_paths_hide_only_what_they_name() -> None:
    """Ignoring `$[*].timestamp` leaves other differences visible."""
    options = config(ignore_paths=("$[*].timestamp",))
    primary = [{"total": 1, "timestamp": 1}]
    candidate = [{"total": 2, "timestamp": 2}]
    assert ("$[0].total: 1 != 2",) == compare(primary, candidate, options).diffs


def test_any_depth_pattern_and_missing_keys() -> None:
    """`*.request_id` hides that key anywhere, also when one side lacks it."""
    options = config(ignore_paths=("*.request_id",))
    primary = {"a": {"b": [{"request_id": 1, "v": 1}]}, "request_id": 7}
    candidate = {"a": {"b": [{"v": 1}]}, "request_id": 8}
    assert compare(primary, candidate, options).equal


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("$[*].timestamp", "$[3].timestamp", True),
        ("$[*].timestamp", "$.rows[3].timestamp", False),
        ("*.timestamp", "$.rows[3].timestamp", True),
        ("timestamp", "$.timestamp", True),
        ("user.token", "$.a.user.token", True),
        ("$.user", "$.user", True),
        ("$.user", "$.user.name", False),
        ("$.*.id", "$.user.id", True),
        ("$['a b'][*]", "$['a b'][0]", True),
        ("$['user']", "$.user", True),
        ("*[*].x", "$.rows[2].x", True),
    ],
)
def test_pattern_syntax(pattern: str, path: str, matches: bool) -> None:
    """The path pattern syntax of the module docstring, node by node."""
    parsed_path = parse_pattern(path)
    assert matches == parse_pattern(pattern).matches(parsed_path.segments)
    assert path == format_path(parsed_path.segments)


def test_at_most_max_diffs_lines() -> None:
    """Only the first MAX_DIFFS differences are kept."""
    result = compare(list(range(50)), list(range(1, 51)), CONFIG)
    assert (False, MAX_DIFFS) == (result.equal, len(result.diffs))


def test_long_values_are_truncated() -> None:
    """A long string is shown shortened, with the index of its first difference."""
    (line,) = compare("x" * 500 + "a", "x" * 500 + "b", CONFIG).diffs
    assert len(line) < 200
    assert line.endswith("(first difference at index 500)")


@dataclass
class Point:
    """A dataclass result."""

    x: int
    y: float


class Plain:
    """An object with identity equality: compared by its attributes."""

    def __init__(self, value: int) -> None:
        self.value = value


def test_objects_compare_by_fields() -> None:
    """Dataclasses, plain objects and exceptions are compared field by field."""
    assert ("$.y: 2.0 != 2.5 (relative difference 0.2 > 1e-09)",) == compare(
        Point(1, 2.0), Point(1, 2.5), CONFIG
    ).diffs
    assert compare(Plain(1), Plain(1), CONFIG).equal
    assert ("$.value: 1 != 2",) == compare(Plain(1), Plain(2), CONFIG).diffs
    assert ("$[0].args[0]: 'a' != 'b'",) == compare(
        [ValueError("a")], [ValueError("b")], CONFIG
    ).diffs


def test_recursive_structures_do_not_hang() -> None:
    """A self-referencing list ends in a `too deep` line instead of a RecursionError."""
    primary: list[Any] = []
    primary.append(primary)
    candidate: list[Any] = []
    candidate.append(candidate)
    (line,) = compare(primary, candidate, CONFIG).diffs
    assert line.endswith(": too deep to compare")


def test_compare_exceptions() -> None:
    """Exceptions agree when type name and message agree."""
    assert compare_exceptions(ValueError("boom"), ValueError("boom")).equal
    different = compare_exceptions(ValueError("boom"), KeyError("boom"))
    assert ("$: primary raised ValueError: boom; candidate raised KeyError: 'boom'",) == (
        different.diffs
    )
    assert not compare_exceptions(ValueError("a"), ValueError("b")).equal


@pytest.mark.parametrize(
    ("line", "signature"),
    [
        ("$[3].total: 10 != 11", "$[*].total: value differs"),
        ("$[7].total: 'a' != 'b'", "$[*].total: value differs"),
        ("$[2]: type tuple != list", "$[*]: type tuple != list"),
        ("$: length 5 != 4", "$: length differs"),
        ("$.b: only in primary (key): 2", "$.b: only in primary"),
        (
            "$: primary raised ValueError: x; candidate raised KeyError: 'y'",
            "$: primary raised ValueError; candidate raised KeyError",
        ),
        (
            "$: primary raised ValueError: x; candidate returned",
            "$: primary raised ValueError; candidate returned",
        ),
    ],
)
def test_diff_signature(line: str, signature: str) -> None:
    """Diff lines that differ only in values or indices share one signature."""
    assert signature == diff_signature(line)


def test_differing_paths_are_generalised() -> None:
    """differing_paths lists every differing path, list indices as [*]."""
    first = [{"ts": 1, "v": 1, "id": "a"}, {"ts": 2, "v": 2, "id": "b"}]
    second = [{"ts": 3, "v": 1, "id": "c"}, {"ts": 4, "v": 2, "id": "d"}]
    assert frozenset({"$[*].ts", "$[*].id"}) == differing_paths(first, second, CONFIG)
    assert "$[*].a[*]" == generalize("$[3].a[0]")


def test_describe_exception_is_type_and_message_cut_to_the_limit() -> None:
    """One formatter: ``Type: message``, the type alone without a message, cut with ``…``."""
    from compat.shadow.compare import describe_exception

    class BrokenStr(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert "ValueError: bad" == describe_exception(ValueError("bad"))
    assert "KeyError" == describe_exception(KeyError())
    assert "BrokenStr: <str failed>" == describe_exception(BrokenStr())
    long = describe_exception(ValueError("x" * 500))
    assert 120 == len(long)
    assert long.endswith("…")
    assert 2000 >= len(describe_exception(ValueError("x" * 5000), 2000))
