"""Compare a primary's result with a candidate's, the way the shim promises them equal.

Rules (both values are walked together from the root ``$``; paths and patterns are those of
:mod:`compat.shadow.normalize`):

- **Types matter**: the shim promises identical types, so a ``tuple`` where the primary had
  a ``list`` is a difference (``$[2]: type tuple != list``), and so are ``1`` vs ``1.0`` and
  ``True`` vs ``1``.
- ``float``: equal within ``config.float_rel_tol`` (relative, ``math.isclose``); ``NaN``
  equals ``NaN``.
- ``dict`` (any mapping): by key, in any order; a key on one side only is a difference.
- ``list`` / ``tuple``: element by element; with ``config.unordered_lists`` a ``list`` is
  compared as a multiset (each element matched to an equal one, tolerance and ignored paths
  included). Tuples always keep their order. Different lengths: one ``length`` line, then
  the common prefix is compared.
- ``set`` / ``frozenset``: as sets (elements by their own ``==``).
- dataclasses, exceptions and plain objects whose class keeps the identity ``==``: by type,
  then field by field (:func:`~compat.shadow.normalize.fields_of`); anything else
  (``bytes``, ``datetime``, ``Decimal``, enums ...) by its own ``==``.
- Nodes named by ``config.ignore_paths`` or by learned noisy paths are skipped, with
  everything below them.

Each difference is one readable line, ``<path>: <what>``, values shown as short ``repr``
(nodes named by ``config.redact`` are shown as ``***``)::

    $[3].total: 10 != 11
    $[2]: type tuple != list
    $: length 5 != 4
    $.user.email: only in primary: 'a@example.com'
    $.ratio: 0.5 != 0.6 (relative difference 0.167 > 1e-09)

At most :data:`MAX_DIFFS` lines are kept; the walk stops there.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from compat.shadow.diff_text import (
    DIFF_EXCEPTION_CHARS,
    describe_exception,
    diff_signature,
    exception_message,
)
from compat.shadow.normalize import (
    PatternSet,
    Segments,
    fields_of,
    format_path,
    generalize,
    index_segment,
    key_segment,
    pattern_set,
    type_name,
)
from compat.shadow.redact import REDACTED, mask, safe_repr, scrub_text, truncate
from flags import ShadowConfig

MAX_DIFFS: Final = 5
"""Diff lines kept per comparison."""
MAX_DEPTH: Final = 100
"""Deeper nodes are compared with their own ``==`` (and recursive structures stop here)."""
MAX_VALUE_CHARS: Final = 80
"""Longest value shown in a diff line."""
MAX_PATH_CHARS: Final = 160
"""Longer paths are shown with their middle cut out."""
MAX_LEARNED_PATHS: Final = 100
"""Most differing paths :func:`differing_paths` returns for one pair of values."""

_LEAVES: Final = frozenset({type(None), bool, int, float, str, bytes})
"""Types compared by ``==`` right away (floats then with tolerance)."""

_Path = tuple[Any, Any, bool] | None
"""A node's path as a linked list ``(parent, key, is_index)``, root ``None``: cheap to
extend at every node; turned into segments only when a pattern or a diff line needs them."""


def _segments(path: _Path) -> Segments:
    parts: list[str] = []
    while path is not None:
        path, key, is_index = path
        parts.append(index_segment(key) if is_index else key_segment(key))
    return tuple(reversed(parts))


def _named(patterns: PatternSet, path: _Path) -> bool:
    """True when ``patterns`` name the node at ``path``."""
    if path is None:
        return patterns.matches(())
    return patterns.may_name(path[1]) and patterns.matches(_segments(path))


@dataclass(frozen=True, slots=True)
class Comparison:
    """The verdict on one pair of values.

    ``diffs``: the first differences, one readable line each (at most :data:`MAX_DIFFS`).
    ``compared_paths``: how many nodes were compared (the walk stops after ``MAX_DIFFS``).
    """

    equal: bool
    diffs: tuple[str, ...]
    compared_paths: int


_repr = reprlib.Repr()
_repr.maxlevel = 3
_repr.maxstring = 40
_repr.maxother = 40
_repr.maxlong = 40
for _name in ("maxlist", "maxtuple", "maxdict", "maxset", "maxfrozenset", "maxdeque"):
    setattr(_repr, _name, 6)


def short_repr(value: Any) -> str:
    """A ``repr`` of ``value`` short enough for a diff line."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return safe_repr(value)
    try:
        return truncate(_repr.repr(value), MAX_VALUE_CHARS)
    except Exception:  # noqa: BLE001 - a broken __repr__ must not break the comparison
        return truncate(safe_repr(value), MAX_VALUE_CHARS)


def _shown_path(path: _Path) -> str:
    text = format_path(_segments(path))
    if len(text) <= MAX_PATH_CHARS:
        return text
    half = MAX_PATH_CHARS // 2
    return f"{text[:half]}…{text[-half:]}"


def _kind_name(value: Any) -> str:
    return type_name(type(value))


class _Stop(Exception):
    """Enough differences were found: unwind the walk."""


class _Walk:
    """One comparison: walks both values, collecting diff lines (or just a yes/no)."""

    def __init__(
        self,
        config: ShadowConfig,
        ignored: PatternSet,
        hidden: PatternSet,
        *,
        max_diffs: int,
        quiet: bool = False,
        collect_paths: bool = False,
    ) -> None:
        self.config = config
        self.tolerance = config.float_rel_tol
        self.unordered = config.unordered_lists
        self.ignored = ignored
        self.ignore: PatternSet | None = ignored if ignored.patterns else None
        """``ignored``, or ``None`` when there is nothing to ignore (asked at every node)."""
        self.hidden = hidden
        self.max_diffs = max_diffs
        self.quiet = quiet
        self.collect_paths = collect_paths
        self.diffs: list[str] = []
        self.paths: set[str] = set()
        self.nodes = 0
        self.differences = 0

    # -- reporting --

    def is_hidden(self, path: _Path) -> bool:
        return bool(self.hidden) and self.hidden.matches_within(_segments(path))

    def show(self, value: Any, path: _Path) -> str:
        if not self.hidden:
            return short_repr(value)
        segments = _segments(path)
        if self.hidden.matches_within(segments):
            return REDACTED
        masked = mask(value, segments, self.hidden.patterns)
        return scrub_text(short_repr(masked), self.hidden.patterns)

    def differ(self, path: _Path, detail: str) -> bool:
        if self.quiet:
            raise _Stop
        self.differences += 1
        if self.collect_paths:
            self.paths.add(generalize(format_path(_segments(path))))
        if len(self.diffs) < MAX_DIFFS:
            self.diffs.append(f"{_shown_path(path)}: {detail}")
        if self.differences >= self.max_diffs:
            raise _Stop
        return False

    def values(self, a: Any, b: Any, path: _Path) -> str:
        detail = f"{self.show(a, path)} != {self.show(b, path)}"
        if isinstance(a, str) and len(a) + len(b) > MAX_VALUE_CHARS and not self.is_hidden(path):
            first = next(
                (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y),
                min(len(a), len(b)),
            )
            detail += f" (first difference at index {first})"
        return detail

    # -- the walk --

    def equal(self, a: Any, b: Any) -> bool:
        if self.ignore is not None and self.ignore.matches(()):
            return True
        try:
            return self.walk(a, b, None, 0)
        except _Stop:
            return False

    def walk(self, a: Any, b: Any, path: _Path, depth: int) -> bool:
        """Compare the nodes at ``path`` (the caller checked that it is not ignored)."""
        self.nodes += 1
        kind = type(a)
        if kind is not type(b):
            a_name, b_name = _kind_name(a), _kind_name(b)
            if a_name == b_name:
                a_name, b_name = f"{kind.__module__}.{a_name}", f"{type(b).__module__}.{b_name}"
            return self.differ(path, f"type {a_name} != {b_name}")
        if kind in _LEAVES:
            if a == b:
                return True
            if kind is float:
                return self.floats(a, b, path)
            return self.differ(path, self.values(a, b, path))
        if a is b:
            return True
        if depth >= MAX_DEPTH:
            return self.by_eq(a, b, path)
        if kind is dict:
            return self.mappings(a, b, path, depth)
        if kind is list:
            if self.unordered:
                return self.multisets(a, b, path, depth)
            return self.sequences(a, b, path, depth)
        if kind is tuple:
            return self.sequences(a, b, path, depth)
        if isinstance(a, Mapping):
            return self.mappings(a, b, path, depth)
        if isinstance(a, list | tuple):
            return self.sequences(a, b, path, depth)
        if isinstance(a, set | frozenset):
            return self.sets(a, b, path)
        fields_a = fields_of(a)
        if fields_a is not None:
            fields_b = fields_of(b)
            if fields_b is not None:
                return self.mappings(fields_a, fields_b, path, depth, fields=True)
        return self.by_eq(a, b, path)

    def by_eq(self, a: Any, b: Any, path: _Path) -> bool:
        try:
            same = bool(a == b)
        except RecursionError:
            return self.differ(path, "too deep to compare")
        except Exception as exc:  # noqa: BLE001 - a user's __eq__ may raise: that is a difference
            return self.differ(path, f"cannot compare: {type(exc).__name__}")
        return same or self.differ(path, self.values(a, b, path))

    def floats(self, a: float, b: float, path: _Path) -> bool:
        if (math.isnan(a) and math.isnan(b)) or math.isclose(
            a, b, rel_tol=self.tolerance, abs_tol=0.0
        ):
            return True
        detail = self.values(a, b, path)
        if math.isfinite(a) and math.isfinite(b) and not self.is_hidden(path):
            relative = abs(a - b) / max(abs(a), abs(b))
            detail += f" (relative difference {relative:.3g} > {self.tolerance:g})"
        return self.differ(path, detail)

    def mappings(
        self,
        a: Mapping[Any, Any],
        b: Mapping[Any, Any],
        path: _Path,
        depth: int,
        *,
        fields: bool = False,
    ) -> bool:
        equal = True
        ignored = self.ignore
        for key, value in a.items():
            child = (path, key, False)
            if ignored is not None and ignored.may_name(key) and ignored.matches(_segments(child)):
                continue
            if key in b:
                other = b[key]
                kind = type(value)
                if kind is type(other) and kind in _LEAVES and value == other:
                    self.nodes += 1  # the common case, without a call
                    continue
                if not self.walk(value, other, child, depth + 1):
                    equal = False
            else:
                what = "field" if fields else "key"
                equal = self.differ(child, f"only in primary ({what}): {self.show(value, child)}")
        for key, value in b.items():
            if key in a:
                continue
            child = (path, key, False)
            if ignored is not None and ignored.may_name(key) and ignored.matches(_segments(child)):
                continue
            what = "field" if fields else "key"
            equal = self.differ(child, f"only in candidate ({what}): {self.show(value, child)}")
        return equal

    def sequences(self, a: Sequence[Any], b: Sequence[Any], path: _Path, depth: int) -> bool:
        equal = True
        if len(a) != len(b):
            equal = self.differ(path, f"length {len(a)} != {len(b)}")
        ignored = self.ignore
        for index, (x, y) in enumerate(zip(a, b, strict=False)):
            kind = type(x)
            if kind is type(y) and kind in _LEAVES and x == y:
                self.nodes += 1
                continue
            child = (path, index, True)
            if (
                ignored is not None
                and ignored.may_name(index)
                and ignored.matches(_segments(child))
            ):
                continue
            if not self.walk(x, y, child, depth + 1):
                equal = False
        return equal

    def sets(self, a: Any, b: Any, path: _Path) -> bool:
        if a == b:
            return True
        only_a = sorted(a - b, key=safe_repr)
        only_b = sorted(b - a, key=safe_repr)
        return self.differ(
            path,
            f"set differs; only in primary: {self.show(only_a, path)}; "
            f"only in candidate: {self.show(only_b, path)}",
        )

    def same(self, a: Any, b: Any, path: _Path, depth: int) -> bool:
        """Quietly: are ``a`` and ``b`` equal under this comparison's rules?"""
        if self.ignore is not None and _named(self.ignore, path):
            return True
        probe = _Walk(self.config, self.ignored, _NO_PATTERNS, max_diffs=1, quiet=True)
        try:
            return probe.walk(a, b, path, depth)
        except _Stop:
            return False
        finally:
            self.nodes += probe.nodes

    def multisets(self, a: list[Any], b: list[Any], path: _Path, depth: int) -> bool:
        if len(a) == len(b) and all(
            self.same(x, y, (path, i, True), depth + 1)
            for i, (x, y) in enumerate(zip(a, b, strict=True))
        ):
            return True
        buckets: dict[Any, list[int]] = {}
        for j, y in enumerate(b):
            buckets.setdefault(self.freeze(y, (path, j, True)), []).append(j)
        unmatched_a: list[int] = []
        for i, x in enumerate(a):
            bucket = buckets.get(self.freeze(x, (path, i, True)))
            if bucket:
                bucket.pop()
            else:
                unmatched_a.append(i)
        left_b = sorted(j for bucket in buckets.values() for j in bucket)
        still_a: list[int] = []
        for i in unmatched_a:
            element = (path, i, True)
            match = next((j for j in left_b if self.same(a[i], b[j], element, depth + 1)), None)
            if match is None:
                still_a.append(i)
            else:
                left_b.remove(match)
        if not still_a and not left_b:
            return True
        equal = True
        if len(a) != len(b):
            equal = self.differ(path, f"length {len(a)} != {len(b)}")
        in_a = [a[i] for i in still_a]
        in_b = [b[j] for j in left_b]
        return (
            self.differ(
                path,
                f"unordered; {len(in_a)} only in primary: {self.show(in_a, path)}; "
                f"{len(in_b)} only in candidate: {self.show(in_b, path)}",
            )
            and equal
        )

    def freeze(self, value: Any, path: _Path) -> Any:
        """A hashable stand-in: equal values (ignored paths aside) freeze equal."""
        if self.ignore is not None and _named(self.ignore, path):
            return ("ignored",)
        kind = type(value)
        if kind is float and math.isnan(value):
            return (kind, "nan")
        if kind in _LEAVES:
            return (kind, value)
        if isinstance(value, Mapping):
            return (
                kind,
                frozenset(
                    (key_segment(k), self.freeze(v, (path, k, False))) for k, v in value.items()
                ),
            )
        if isinstance(value, list | tuple):
            items = [self.freeze(x, (path, i, True)) for i, x in enumerate(value)]
            if kind is list and self.unordered:
                return (kind, frozenset((item, items.count(item)) for item in items))
            return (kind, tuple(items))
        fields = fields_of(value)
        if fields is not None:
            return (kind, "fields", self.freeze(fields, path))
        try:
            hash(value)
        except TypeError:
            return (kind, "repr", safe_repr(value))
        return (kind, value)


_NO_PATTERNS: Final = pattern_set(())


def _ignored(config: ShadowConfig, noisy_paths: frozenset[str]) -> PatternSet:
    if not noisy_paths:
        return pattern_set(config.ignore_paths)
    return pattern_set((*config.ignore_paths, *sorted(noisy_paths)))


def compare(
    primary: Any,
    candidate: Any,
    config: ShadowConfig,
    noisy_paths: frozenset[str] = frozenset(),
) -> Comparison:
    """Compare the primary's result with the candidate's under the worker's shadow options.

    ``noisy_paths`` (learned by :class:`~compat.shadow.denoise.NoiseLearner`) are ignored like
    ``config.ignore_paths``.
    """
    walk = _Walk(
        config,
        _ignored(config, noisy_paths),
        pattern_set(config.redact),
        max_diffs=MAX_DIFFS,
    )
    equal = walk.equal(primary, candidate)
    return Comparison(equal=equal, diffs=tuple(walk.diffs), compared_paths=walk.nodes)


MAX_ITEM_DIFFERENCES: Final = 20
"""Differing items kept per comparison (all of them are counted)."""


@dataclass(frozen=True, slots=True)
class ItemDifference:
    """One item of a batch whose results differ: its index and its own diff lines."""

    index: int
    diffs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ItemComparison:
    """Which items of two batch results differ.

    ``differences``: the first :data:`MAX_ITEM_DIFFERENCES` differing items, in index order;
    ``count``: how many items differ in all (an item on one side only counts).
    """

    differences: tuple[ItemDifference, ...]
    count: int


NO_ITEMS: Final = ItemComparison((), 0)


def compare_items(
    primary: Any,
    candidate: Any,
    config: ShadowConfig,
    noisy_paths: frozenset[str] = frozenset(),
    limit: int = MAX_ITEM_DIFFERENCES,
) -> ItemComparison:
    """Compare two batch results item by item: which indices differ, and how.

    :func:`compare` stops at :data:`MAX_DIFFS` lines over the whole result, so a batch of a
    thousand items with two bad ones reads the same as one with a thousand. This walks every
    item (each with its own :data:`MAX_DIFFS` lines, paths from ``$[index]``), so a record can
    say *which* items differ. Both results must be lists (or both tuples) compared in order:
    with ``config.unordered_lists`` an item has no index to report, and :data:`NO_ITEMS` is
    returned, as for anything else. An item present on one side only differs.
    """
    kind = type(primary)
    if kind is not type(candidate) or kind not in (list, tuple):
        return NO_ITEMS
    if kind is list and config.unordered_lists:
        return NO_ITEMS
    ignored = _ignored(config, noisy_paths)
    hidden = pattern_set(config.redact)
    kept: list[ItemDifference] = []
    count = 0
    for index in range(max(len(primary), len(candidate))):
        path: _Path = (None, index, True)
        walk = _Walk(config, ignored, hidden, max_diffs=MAX_DIFFS)
        if walk.ignore is not None and _named(walk.ignore, path):
            continue
        if index >= len(candidate):
            walk.differ(path, f"only in primary: {walk.show(primary[index], path)}")
        elif index >= len(primary):
            walk.differ(path, f"only in candidate: {walk.show(candidate[index], path)}")
        else:
            a, b = primary[index], candidate[index]
            if type(a) is type(b) and type(a) in _LEAVES and a == b:
                continue
            try:
                if walk.walk(a, b, path, 1):
                    continue
            except _Stop:
                pass
        if not walk.diffs:
            continue
        count += 1
        if len(kept) < limit:
            kept.append(ItemDifference(index, tuple(walk.diffs)))
    return ItemComparison(tuple(kept), count)


def differing_paths(
    first: Any,
    second: Any,
    config: ShadowConfig,
    noisy_paths: frozenset[str] = frozenset(),
    limit: int = MAX_LEARNED_PATHS,
) -> frozenset[str]:
    """Every path (list indices generalised to ``[*]``) where ``first`` and ``second`` differ.

    At most ``limit`` differences are looked at. What the noise learner records.
    """
    walk = _Walk(
        config,
        _ignored(config, noisy_paths),
        _NO_PATTERNS,
        max_diffs=max(limit, 1),
        collect_paths=True,
    )
    walk.equal(first, second)
    return frozenset(walk.paths)


def compare_exceptions(primary_exc: BaseException, candidate_exc: BaseException) -> Comparison:
    """Both sides raised: equal when the exception type names and messages agree."""
    same_type = type(primary_exc).__name__ == type(candidate_exc).__name__
    equal = same_type and exception_message(primary_exc) == exception_message(candidate_exc)
    diffs = (
        ()
        if equal
        else (
            f"$: primary raised {describe_exception(primary_exc)}; "
            f"candidate raised {describe_exception(candidate_exc)}",
        )
    )
    return Comparison(equal=equal, diffs=diffs, compared_paths=1)


__all__ = [
    "DIFF_EXCEPTION_CHARS",
    "MAX_DIFFS",
    "MAX_ITEM_DIFFERENCES",
    "NO_ITEMS",
    "Comparison",
    "ItemComparison",
    "ItemDifference",
    "compare",
    "compare_exceptions",
    "compare_items",
    "describe_exception",
    "diff_signature",
    "differing_paths",
    "short_repr",
]
