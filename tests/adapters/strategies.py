"""Hypothesis strategies for the adapters tests, and the exact-equality checker they need."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from enum import Enum
from typing import Any

from hypothesis import strategies as st

from tests.adapters.taskmods.sample_tasks import Color, Permission, Priority

ENUM_MEMBERS = [*Color, *Priority, *Permission, Permission.READ | Permission.WRITE]

_MAX_OFFSET = timedelta(hours=23, minutes=59, seconds=59, microseconds=999_999)


def fixed_offsets() -> st.SearchStrategy[timezone]:
    """``datetime.timezone`` objects: UTC, whole minutes, odd microseconds, with names."""
    offsets = st.timedeltas(min_value=-_MAX_OFFSET, max_value=_MAX_OFFSET)
    return st.one_of(
        st.just(UTC),
        st.builds(timezone, offsets),
        st.builds(timezone, offsets, st.text(max_size=8)),
    )


def tzinfos() -> st.SearchStrategy[Any]:
    """None (naive), fixed offsets and IANA zones."""
    return st.none() | fixed_offsets() | st.timezones()


def _huge_ints() -> st.SearchStrategy[int]:
    """Ints beyond what Python writes in decimal by default (4300 digits)."""
    return st.builds(
        lambda small, shift: small << shift, st.integers(), st.sampled_from([1999, 2000, 15000])
    )


def hashable_leaves() -> st.SearchStrategy[Any]:
    """Leaves that can be dict keys and set members (no NaN: it is not equal to itself)."""
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False),
        st.text(),
        st.binary(max_size=16),
        st.dates(),
        st.datetimes(timezones=tzinfos()),
        st.times(timezones=tzinfos()),
        st.timedeltas(),
        st.decimals(allow_nan=False),
        st.uuids(),
        st.complex_numbers(allow_nan=False),
        st.sampled_from(ENUM_MEMBERS),
    )


def hashable_values() -> st.SearchStrategy[Any]:
    """Hashable values, nested: tuples and frozensets of hashable values."""
    return st.recursive(
        hashable_leaves(),
        lambda inner: (
            st.tuples(inner, inner)
            | st.lists(inner, max_size=3).map(tuple)
            | st.frozensets(inner, max_size=3)
        ),
        max_leaves=6,
    )


def leaves() -> st.SearchStrategy[Any]:
    """Every supported scalar, NaN and infinities included."""
    return st.one_of(
        hashable_leaves(),
        st.floats(),
        st.sampled_from([math.nan, math.inf, -math.inf, -0.0]),
        _huge_ints(),
        st.decimals(),
        st.sampled_from([Decimal("NaN"), Decimal("-sNaN"), Decimal("-Infinity"), Decimal("-0")]),
        st.complex_numbers(),
        st.binary(max_size=16).map(bytearray),
        fixed_offsets(),
        st.timezones(),
    )


def carriable_values() -> st.SearchStrategy[Any]:
    """Any value the codec carries: all supported types, nested in each other.

    Includes dicts with non-string keys (ints, tuples, frozensets...), dicts that look like
    the codec's tags, and nested tuples / sets / frozensets.
    """
    keys = st.one_of(st.text(max_size=5), st.just("$t"), st.just("v"), hashable_values())
    return st.recursive(
        leaves(),
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.lists(inner, max_size=4).map(tuple),
            st.sets(hashable_values(), max_size=3),
            st.frozensets(hashable_values(), max_size=3),
            st.dictionaries(st.text(max_size=5), inner, max_size=4),
            st.dictionaries(keys, inner, max_size=4),
            st.fixed_dictionaries({"$t": st.sampled_from(["tuple", "bytes"]), "v": inner}),
        ),
        max_leaves=12,
    )


class Unsupported:
    """A value of a type the codec refuses."""

    def __repr__(self) -> str:
        return "Unsupported()"


class StrSubclass(str):
    """A str subclass: it must raise, not arrive as ``str``."""


class DictSubclass(dict[str, Any]):
    """A dict subclass: it must raise, not arrive as ``dict``."""


class ListSubclass(list[Any]):
    """A list subclass: it must raise, not arrive as ``list``."""


def unsupported_values() -> st.SearchStrategy[Any]:
    """Values of types the codec must refuse."""
    return st.one_of(
        st.builds(Unsupported),
        st.text().map(StrSubclass),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2).map(DictSubclass),
        st.lists(st.integers(), max_size=2).map(ListSubclass),
        st.just(object()),
        st.just(range(3)),
        st.just(len),
        st.just(memoryview(b"x")),
    )


def same_typed(a: object, b: object) -> bool:
    """True when ``a`` and ``b`` are equal *and* of the same types, recursively.

    Floats, decimals and complex numbers compare by ``repr`` (NaN equals NaN, ``-0.0`` differs
    from ``0.0``); dicts compare item by item in order; sets pair members by equality.
    """
    if type(a) is not type(b):
        return False
    if isinstance(a, list | tuple):
        assert isinstance(b, list | tuple)
        return len(a) == len(b) and all(same_typed(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        assert isinstance(b, dict)
        return len(a) == len(b) and all(
            same_typed(ka, kb) and same_typed(va, vb)
            for (ka, va), (kb, vb) in zip(a.items(), b.items(), strict=True)
        )
    if isinstance(a, set | frozenset):
        assert isinstance(b, set | frozenset)
        by_value = {member: member for member in b}
        return len(a) == len(b) and all(
            member in by_value and same_typed(member, by_value[member]) for member in a
        )
    if isinstance(a, datetime | time):
        assert isinstance(b, datetime | time)
        return (
            repr(a) == repr(b)
            and a.fold == b.fold
            and same_typed(a.tzinfo, b.tzinfo)
            and (a.tzinfo is None or a.tzname() == b.tzname())
        )
    if isinstance(a, timezone):
        return repr(a) == repr(b)
    if isinstance(a, Enum):
        return a is b
    if isinstance(a, float | complex | Decimal | date | timedelta):
        return repr(a) == repr(b)
    return a == b


__all__ = [
    "ENUM_MEMBERS",
    "carriable_values",
    "fixed_offsets",
    "hashable_values",
    "same_typed",
    "tzinfos",
    "unsupported_values",
]
