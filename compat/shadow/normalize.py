"""How shadow mode names the parts of a value (paths) and which parts it looks into.

Paths
-----
A path names one node of a call's result, from the root ``$``:

- ``.key`` — a dict key that is a plain word (letters, digits, ``_``, ``-``): ``$.user.id``;
- ``[3]`` — a list or tuple index: ``$[3].total``;
- ``['a b']`` — any other dict key, as its ``repr`` (``$['Content-Type: x']``, ``$[(1, 2)]``;
  an ``int`` key ``3`` is ``[3]``, like an index).

Patterns (``ignore_paths``, ``redact``, learned noise) use the same syntax plus:

- ``*`` in place of one key or index matches any single one: ``$[*].timestamp``, ``$.*.id``;
- a pattern starting with ``*`` instead of ``$`` may start at any depth: ``*.request_id`` is
  every ``request_id`` key anywhere;
- a bare name (no ``$`` or ``*`` in front) is short for ``*.``-name: ``password`` is
  ``*.password``, ``user.token`` is ``*.user.token``.

A pattern matches a node and, with it, everything below that node.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import re
import types
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

ROOT = "$"
WILDCARD = "[*]"
"""The one wildcard segment (``.*`` parses to it too)."""

Segments = tuple[str, ...]
"""A path as its segments after ``$``: ``("[3]", ".total")``."""

_SIMPLE_KEY = re.compile(r"[\w-]+")
_INDEX = re.compile(r"\[(\d+)\]")
_TOKEN = re.compile(
    r"""\.(?P<key>[^.\[\]]+)|\[(?P<bracket>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^\]]*)\]"""
)
PATH_PREFIX = re.compile(
    r"""\$(?:\.[\w-]+|\.\*|\[(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^\]]*)\])*"""
)
"""The path at the start of a text (a diff line ``$[3].total: 10 != 11``)."""


def key_segment(key: Any) -> str:
    """The segment naming dict key ``key``: ``.name`` for a plain word, else ``[repr]``."""
    if isinstance(key, str) and _SIMPLE_KEY.fullmatch(key):
        return "." + key
    try:
        shown = repr(key)
    except Exception:  # noqa: BLE001 - a broken __repr__ must not break a shadow record
        shown = f"<{type(key).__name__}>"
    return f"[{shown}]"


def index_segment(index: int) -> str:
    """The segment naming list index ``index``."""
    return f"[{index}]"


def format_path(segments: Iterable[str]) -> str:
    """The text of a path: ``$`` followed by its segments."""
    return ROOT + "".join(segments)


def generalize(path: str) -> str:
    """``path`` with every list index replaced by ``[*]``: ``$[3].a[0]`` -> ``$[*].a[*]``."""
    return _INDEX.sub(WILDCARD, path)


@dataclass(frozen=True, slots=True)
class PathPattern:
    """A parsed pattern: its segments (``WILDCARD`` matches any one) and whether it is rooted."""

    text: str
    segments: Segments
    anchored: bool

    def matches(self, path: Segments) -> bool:
        """True when this pattern names the node at ``path`` (not its descendants)."""
        mine = self.segments
        if self.anchored:
            if len(path) != len(mine):
                return False
            offset = 0
        else:
            offset = len(path) - len(mine)
            if offset < 0:
                return False
        for index, wanted in enumerate(mine):
            if wanted != WILDCARD and wanted != path[offset + index]:
                return False
        return True

    def matches_within(self, path: Segments) -> bool:
        """True when this pattern names the node at ``path`` or one of its ancestors."""
        return any(self.matches(path[:end]) for end in range(len(path), -1, -1))

    @property
    def last_key(self) -> str | None:
        """The last plain key name of the pattern (what text redaction looks for)."""
        for seg in reversed(self.segments):
            if seg.startswith(".") and seg != ".*":
                return seg[1:]
        return None


def _normal_segment(token: re.Match[str]) -> str:
    key = token.group("key")
    if key is not None:
        return WILDCARD if key == "*" else key_segment(key)
    inner = token.group("bracket").strip()
    if inner == "*":
        return WILDCARD
    if inner.isdigit():
        return f"[{int(inner)}]"
    if len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "'\"":
        try:
            body = ast.literal_eval(inner)
        except (ValueError, SyntaxError):
            return f"[{inner}]"
        return key_segment(body)
    return f"[{inner}]"


@lru_cache(maxsize=4096)
def parse_pattern(text: str) -> PathPattern:
    """Parse one pattern (see the module docstring); text that does not parse is a key name."""
    raw = text.strip()
    anchored = raw.startswith(ROOT)
    if anchored or raw.startswith("*"):
        rest = raw[1:]
    else:
        rest = raw if raw.startswith(("[", ".")) else "." + raw
    segments: list[str] = []
    position = 0
    while position < len(rest):
        token = _TOKEN.match(rest, position)
        if token is None:
            return PathPattern(text, (key_segment(raw),), anchored=False)
        segments.append(_normal_segment(token))
        position = token.end()
    return PathPattern(text, tuple(segments), anchored)


@lru_cache(maxsize=1024)
def _compile(texts: tuple[str, ...]) -> tuple[PathPattern, ...]:
    return tuple(parse_pattern(text) for text in dict.fromkeys(texts) if text.strip())


def compile_patterns(texts: Iterable[str]) -> tuple[PathPattern, ...]:
    """Parse several patterns (cached: the same configuration parses once)."""
    return _compile(tuple(texts))


def matches_any(patterns: Sequence[PathPattern], path: Segments) -> bool:
    """True when one of ``patterns`` names the node at ``path``."""
    return any(pattern.matches(path) for pattern in patterns)


_ANY_KEY = object()


def _segment_key(segment: str) -> Any:
    """The dict key or list index a segment names (``_ANY_KEY``: any, or unknown)."""
    if segment == WILDCARD:
        return _ANY_KEY
    if segment.startswith("."):
        return segment[1:]
    inner = segment[1:-1]
    if inner.isdigit():
        return int(inner)
    try:
        key = ast.literal_eval(inner)
        hash(key)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return _ANY_KEY
    return key


@dataclass(frozen=True, slots=True)
class PatternSet:
    """Several patterns, with a quick test a walk can ask at every node before matching.

    A pattern can only name a node whose own key (or index) is the pattern's last segment,
    so :meth:`may_name` looks the node's key up in a set; only then are the node's segments
    built and matched.
    """

    patterns: tuple[PathPattern, ...]
    last_keys: frozenset[Any]
    any_last: bool

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def may_name(self, key: Any) -> bool:
        """False when no pattern can name a node whose own key or index is ``key``."""
        if self.any_last:
            return True
        try:
            return key in self.last_keys
        except TypeError:
            return True

    def matches(self, path: Segments) -> bool:
        """True when one of the patterns names the node at ``path``."""
        return matches_any(self.patterns, path)

    def matches_within(self, path: Segments) -> bool:
        """True when one of the patterns names the node at ``path`` or one of its ancestors."""
        return any(pattern.matches_within(path) for pattern in self.patterns)


@lru_cache(maxsize=1024)
def _pattern_set(texts: tuple[str, ...]) -> PatternSet:
    patterns = _compile(texts)
    lasts = [_segment_key(p.segments[-1]) if p.segments else _ANY_KEY for p in patterns]
    keys = frozenset(key for key in lasts if key is not _ANY_KEY)
    return PatternSet(patterns, keys, any(key is _ANY_KEY for key in lasts))


def pattern_set(texts: Iterable[str]) -> PatternSet:
    """:func:`compile_patterns` as a :class:`PatternSet` (cached)."""
    return _pattern_set(tuple(texts))


def parse_path(text: str) -> Segments | None:
    """The segments of a concrete path ``$...`` (``None`` when ``text`` is not one)."""
    if not text.startswith(ROOT):
        return None
    pattern = parse_pattern(text)
    return pattern.segments if pattern.anchored else None


# --- the value model ------------------------------------------------------------------------

_OPAQUE = (type, types.FunctionType, types.BuiltinFunctionType, types.MethodType, types.ModuleType)


def type_name(kind: type) -> str:
    """A short, readable name of a type (``tuple``, ``Point``, ``mymod.Point`` if ambiguous)."""
    return kind.__qualname__


def _identity_eq(kind: type) -> bool:
    """True when ``kind`` inherits ``==`` from ``object`` (equal only to itself)."""
    for klass in kind.__mro__:
        if "__eq__" in klass.__dict__:
            return klass is object
    return True


def fields_of(value: Any) -> dict[str, Any] | None:
    """The fields that make up ``value`` when ``==`` would only compare identity, else ``None``.

    Dataclass instances: their fields. Exceptions: their ``args``. Other objects whose class
    keeps the default identity ``==`` (two copies from two processes are never ``==``): their
    attributes (``__dict__`` and ``__slots__``). Everything else compares with its own ``==``.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name, None) for f in dataclasses.fields(value)}
    if isinstance(value, BaseException):
        return {"args": value.args}
    kind = type(value)
    if not _identity_eq(kind) or isinstance(value, (*_OPAQUE, enum.Enum)):
        return None
    found: dict[str, Any] = {}
    for klass in kind.__mro__:
        slots = klass.__dict__.get("__slots__", ())
        for name in (slots,) if isinstance(slots, str) else slots:
            if name not in ("__dict__", "__weakref__") and hasattr(value, name):
                found[name] = getattr(value, name)
    attributes = getattr(value, "__dict__", None)
    if isinstance(attributes, dict):
        found.update(attributes)
    if not found and attributes is None:
        return None
    return found


__all__ = [
    "PATH_PREFIX",
    "ROOT",
    "WILDCARD",
    "PathPattern",
    "PatternSet",
    "Segments",
    "compile_patterns",
    "fields_of",
    "format_path",
    "generalize",
    "index_segment",
    "key_segment",
    "matches_any",
    "parse_path",
    "parse_pattern",
    "pattern_set",
    "type_name",
]
