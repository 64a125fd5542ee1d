"""Memory analysis: size breakdowns, two compact sequences, a buffer pool, leak detection.

The compact sequences replace two wasteful list shapes workers produced (one string repeated
many times; a list that is mostly ``None``) while still behaving like the list they replace:
length, indexing (negative too), slicing (to a list), iteration and equality with the list.
"""

from __future__ import annotations

import gc
import operator
import sys
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, SupportsIndex, TypeVar, overload

T = TypeVar("T")

#: Suggestions of :meth:`MemoryOptimizer.analyze_memory_usage` start above these lengths.
LARGE_LIST_LENGTH = 10_000
LARGE_STRING_LENGTH = 1_000_000

#: A type is reported as leaking when, since ``start_leak_detection()``, its number of live
#: gc-tracked objects grew by at least ``LEAK_MIN_GROWTH`` objects *and* by at least
#: ``LEAK_MIN_GROWTH_RATIO`` of its starting count. The absolute floor ignores the churn of
#: a running interpreter (a few hundred dicts and frames come and go); the ratio ignores
#: normal growth of types that already have hundreds of thousands of objects.
LEAK_MIN_GROWTH = 1_000
LEAK_MIN_GROWTH_RATIO = 0.5
#: Growth from which a leak is ``"high"`` severity rather than ``"medium"``.
HIGH_SEVERITY_GROWTH = 10_000


class _CompactSequence(Sequence[T]):
    """List-like read-only behaviour on top of ``_item(index)`` for a non-negative index.

    Equal to a list (or another compact sequence) with the same items, like a list is; not
    equal to a tuple, like a list is not. Unhashable, like a list.
    """

    __slots__ = ()

    def _item(self, index: int) -> T:
        """The item at ``0 <= index < len(self)``."""
        raise NotImplementedError

    @overload
    def __getitem__(self, index: SupportsIndex) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> list[T]: ...

    def __getitem__(self, index: SupportsIndex | slice) -> T | list[T]:
        """An item (negative indexes count from the end) or, for a slice, a list."""
        if isinstance(index, slice):
            return [self._item(position) for position in range(len(self))[index]]
        position = operator.index(index)
        if position < 0:
            position += len(self)
        if not 0 <= position < len(self):
            raise IndexError(f"{type(self).__name__} index out of range")
        return self._item(position)

    def __iter__(self) -> Iterator[T]:
        """The items in order, computed one at a time."""
        for position in range(len(self)):
            yield self._item(position)

    def __eq__(self, other: object) -> bool:
        """Equal to a list or compact sequence with the same items in the same order."""
        if not isinstance(other, list | _CompactSequence):
            return NotImplemented
        return len(self) == len(other) and all(
            mine == theirs for mine, theirs in zip(self, other, strict=True)
        )

    __hash__ = None  # type: ignore[assignment]  # mutable-list semantics: unhashable


class RepeatedStringSequence(_CompactSequence[str]):
    """One string repeated ``length`` times, stored once."""

    __slots__ = ("_length", "_value")

    def __init__(self, value: str, length: int) -> None:
        """``length`` copies of ``value``; a negative length is refused."""
        if length < 0:
            raise ValueError(f"length must be >= 0, got {length}")
        self._value = value
        self._length = length

    def __len__(self) -> int:
        """How many times the string repeats."""
        return self._length

    def _item(self, index: int) -> str:
        """Every position holds the same string."""
        return self._value

    def __repr__(self) -> str:
        """Shows the string and the count, not ``length`` copies."""
        return f"RepeatedStringSequence({self._value!r}, {self._length})"


class SparseSequence(_CompactSequence[Any]):
    """A mostly-``None`` list: its length plus a dict of the positions that are not ``None``."""

    __slots__ = ("_entries", "_length")

    def __init__(self, length: int, entries: Mapping[int, Any]) -> None:
        """``length`` items, ``None`` except ``entries`` (position -> value, in range)."""
        if length < 0:
            raise ValueError(f"length must be >= 0, got {length}")
        outside = [position for position in entries if not 0 <= position < length]
        if outside:
            raise ValueError(f"positions {outside} are outside a sequence of length {length}")
        self._length = length
        self._entries = dict(entries)

    def __len__(self) -> int:
        """The length of the list it replaces."""
        return self._length

    def _item(self, index: int) -> Any:
        """The stored value, or ``None``."""
        return self._entries.get(index)

    def __sizeof__(self) -> int:
        """Counts the position dict too, so ``sys.getsizeof`` compares fairly with a list."""
        return object.__sizeof__(self) + sys.getsizeof(self._entries)

    def __repr__(self) -> str:
        """Shows the length and the stored positions."""
        return f"SparseSequence({self._length}, {self._entries!r})"


class MemoryPool:
    """Hands out zeroed buffers; ``size`` is kept for callers that read it back."""

    def __init__(self, size: int) -> None:
        """Remember the nominal pool size."""
        self.size = size
        self._pool: list[bytearray] = []

    def allocate(self, size: int) -> bytearray:
        """A new zeroed ``bytearray`` of ``size`` bytes (no reuse, as in the original)."""
        return bytearray(size)


class MemoryOptimizer:
    """Size analysis, compact replacements and gc-based leak detection for worker data."""

    def __init__(self) -> None:
        """Leak detection off until :meth:`start_leak_detection`."""
        self._baseline: Counter[str] | None = None

    def analyze_memory_usage(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Shallow size per key (``sys.getsizeof``), their total, and suggestions.

        A list longer than 10,000 items gets "Consider using generator for '<key>'"; a string
        longer than 1,000,000 characters gets "Consider streaming or chunking for '<key>'".
        """
        breakdown: dict[str, int] = {}
        suggestions: list[str] = []
        for key, value in data.items():
            breakdown[key] = sys.getsizeof(value)
            if isinstance(value, list) and len(value) > LARGE_LIST_LENGTH:
                suggestions.append(f"Consider using generator for '{key}'")
            elif isinstance(value, str) and len(value) > LARGE_STRING_LENGTH:
                suggestions.append(f"Consider streaming or chunking for '{key}'")
        return {
            "total_size": sum(breakdown.values()),
            "breakdown": breakdown,
            "optimization_suggestions": suggestions,
        }

    def optimize_data_structures(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Replace the two known wasteful shapes; keep everything else as it is.

        ``data["duplicated_strings"]``, a non-empty list of one repeated string, becomes a
        :class:`RepeatedStringSequence`; ``data["sparse_list"]``, a list whose non-``None``
        items are fewer than half, becomes a :class:`SparseSequence`. ``memory_saved`` is the
        drop in summed ``sys.getsizeof`` of the values, never below 0.
        """
        optimized: dict[str, Any] = {}
        for key, value in data.items():
            if key == "duplicated_strings" and _is_one_repeated_string(value):
                optimized[key] = RepeatedStringSequence(value[0], len(value))
            elif key == "sparse_list" and isinstance(value, list):
                entries = {index: item for index, item in enumerate(value) if item is not None}
                is_sparse = len(entries) < len(value) / 2
                optimized[key] = SparseSequence(len(value), entries) if is_sparse else value
            else:
                optimized[key] = value
        before = sum(sys.getsizeof(value) for value in data.values())
        after = sum(sys.getsizeof(value) for value in optimized.values())
        return {"optimized_data": optimized, "memory_saved": max(0, before - after)}

    def setup_memory_pool(self, size: int) -> MemoryPool:
        """A new :class:`MemoryPool` of nominal ``size``."""
        return MemoryPool(size)

    def start_leak_detection(self) -> None:
        """Snapshot the number of live gc-tracked objects per type (after a collection)."""
        self._baseline = _count_live_objects()

    def detect_memory_leaks(self) -> list[dict[str, Any]]:
        """Types whose object count grew past the threshold since :meth:`start_leak_detection`.

        Each: ``{"location": type name, "type": "object_growth", "size": shallow bytes of the
        type's live objects now, "severity": "high" (growth >= 10,000) or "medium"}``, largest
        growth first; ``[]`` when detection was never started. The baseline is kept, so each
        call compares with the same start. The original looked for a variable named
        ``leak_storage`` in the caller's frames, which found nothing in real code.

        Only gc-tracked objects are counted (containers and instances): a leak of bare
        ``str``/``int`` objects shows through the lists or dicts holding them.
        """
        if self._baseline is None:
            return []
        current = _count_live_objects()
        growth = {
            name: count - self._baseline.get(name, 0)
            for name, count in current.items()
            if _is_leak(self._baseline.get(name, 0), count)
        }
        sizes = _shallow_bytes_by_type(set(growth))
        return [
            {
                "location": name,
                "type": "object_growth",
                "size": sizes.get(name, 0),
                "severity": "high" if grown >= HIGH_SEVERITY_GROWTH else "medium",
            }
            for name, grown in sorted(growth.items(), key=lambda row: row[1], reverse=True)
        ]


def _is_one_repeated_string(value: object) -> bool:
    """A non-empty list whose items are all the same ``str``."""
    if not isinstance(value, list) or not value or not isinstance(value[0], str):
        return False
    first = value[0]
    return all(isinstance(item, str) and item == first for item in value)


def _type_name(kind: type) -> str:
    """``list`` for builtins, ``package.module.Class`` for everything else."""
    qualname = getattr(kind, "__qualname__", kind.__name__)
    module = getattr(kind, "__module__", None)
    if not isinstance(module, str) or module == "builtins":
        return str(qualname)
    return f"{module}.{qualname}"


def _count_live_objects() -> Counter[str]:
    """Live gc-tracked objects per type name, after a full collection."""
    gc.collect()
    return Counter(_type_name(type(obj)) for obj in gc.get_objects())


def _is_leak(before: int, after: int) -> bool:
    """Growth of at least ``LEAK_MIN_GROWTH`` objects and ``LEAK_MIN_GROWTH_RATIO``."""
    grown = after - before
    return grown >= LEAK_MIN_GROWTH and grown >= LEAK_MIN_GROWTH_RATIO * before


def _shallow_bytes_by_type(names: set[str]) -> dict[str, int]:
    """Summed ``sys.getsizeof`` of the live objects of the named types."""
    sizes: dict[str, int] = {}
    if not names:
        return sizes
    for obj in gc.get_objects():
        name = _type_name(type(obj))
        if name in names:
            sizes[name] = sizes.get(name, 0) + sys.getsizeof(obj)
    return sizes


__all__ = [
    "HIGH_SEVERITY_GROWTH",
    "LARGE_LIST_LENGTH",
    "LARGE_STRING_LENGTH",
    "LEAK_MIN_GROWTH",
    "LEAK_MIN_GROWTH_RATIO",
    "MemoryOptimizer",
    "MemoryPool",
    "RepeatedStringSequence",
    "SparseSequence",
]
