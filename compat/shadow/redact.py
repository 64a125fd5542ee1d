"""Keep sensitive fields out of shadow records, and keep the records small.

:func:`redact` turns any value into a JSON-safe, size-bounded *sample* in which the nodes
named by the worker's ``shadow.redact`` patterns (path syntax of
:mod:`compat.shadow.normalize`; a bare name such as ``password`` matches that key anywhere)
are replaced by ``"***"``. Strings are scrubbed too, because secrets travel inside text:

- a diff line (``$.user.password: 'a' != 'b'``) whose path is redacted keeps only its path;
- ``name=value``, ``name: value``, ``'name': 'value'`` and ``"name": "value"`` occurrences,
  where ``name`` is the last key name of a redaction pattern, lose their value (error
  messages, ``repr`` of objects, diff lines showing a whole dict).

The runner applies it to a record's sample input, its diff lines and both error messages
before anything is stored. :func:`mask` is the type-preserving variant the comparison uses
to show values in diff lines.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from compat.shadow.normalize import (
    PATH_PREFIX,
    WILDCARD,
    PathPattern,
    Segments,
    compile_patterns,
    fields_of,
    index_segment,
    key_segment,
    matches_any,
    parse_path,
)

REDACTED = "***"
MAX_STRING = 300
"""Longest string kept in a sample (longer ones are cut and marked with ``…``)."""
MAX_ITEMS = 20
"""Most items kept of one list, tuple, set or dict."""
MAX_DEPTH = 6
"""Deeper nodes are shown as a (scrubbed, truncated) ``repr``."""
MAX_NODES = 400
"""Most nodes of one sample: the whole sample stays a few kilobytes at most."""
MAX_INT_BITS = 256


def truncate(text: str, limit: int = MAX_STRING) -> str:
    """``text`` cut to ``limit`` characters, ending in ``…`` when cut."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def safe_repr(value: Any) -> str:
    """``repr(value)``, never raising (a broken ``__repr__``, a 10,000-digit int)."""
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        return f"<int of {value.bit_length()} bits>"
    try:
        return repr(value)
    except Exception:  # noqa: BLE001 - whatever a user's __repr__ raises, show something
        return f"<{type(value).__name__} (repr failed)>"


def safe_str(value: Any) -> str:
    """``str(value)``, never raising."""
    try:
        return str(value)
    except Exception:  # noqa: BLE001 - whatever a user's __str__ raises, show something
        return safe_repr(value)


# --- text ----------------------------------------------------------------------------------


@lru_cache(maxsize=256)
def _key_value_regex(names: tuple[str, ...]) -> re.Pattern[str] | None:
    if not names:
        return None
    alternatives = "|".join(re.escape(name) for name in sorted(names, key=len, reverse=True))
    return re.compile(
        rf"""(?P<key>(?<![\w-])['"]?(?:{alternatives})['"]?\s*[:=]\s*)"""
        r"""(?P<value>'(?:[^'\\]|\\.)*'?|"(?:[^"\\]|\\.)*"?|[^\s,;&)\]}]+)""",
        re.IGNORECASE,
    )


def _names(patterns: Sequence[PathPattern]) -> tuple[str, ...]:
    return tuple(sorted({name for p in patterns if (name := p.last_key) is not None}))


def scrub_text(text: str, patterns: Sequence[PathPattern]) -> str:
    """``text`` without the values of redacted fields (see the module docstring)."""
    if not patterns:
        return text
    if text.startswith("$"):
        prefix = PATH_PREFIX.match(text)
        if prefix is not None and text[prefix.end() : prefix.end() + 2] == ": ":
            segments = parse_path(prefix.group())
            if segments is not None and any(p.matches_within(segments) for p in patterns):
                return f"{prefix.group()}: {REDACTED}"
    regex = _key_value_regex(_names(patterns))
    if regex is None:
        return text
    return regex.sub(lambda found: found.group("key") + REDACTED, text)


# --- samples -------------------------------------------------------------------------------


class _Sampler:
    def __init__(self, patterns: tuple[PathPattern, ...]) -> None:
        self.patterns = patterns
        self.nodes = 0

    def text(self, text: str) -> str:
        return truncate(scrub_text(text, self.patterns))

    def opaque(self, value: Any) -> str:
        # Scrub before cutting, so a cut cannot leave half a secret behind its key.
        return truncate(scrub_text(safe_repr(value), self.patterns))

    def sample(self, value: Any, path: Segments, depth: int) -> Any:
        if self.patterns and matches_any(self.patterns, path):
            return REDACTED
        self.nodes += 1
        if self.nodes > MAX_NODES:
            return "…"
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int):
            return value if value.bit_length() <= 53 else self.opaque(value)
        if isinstance(value, float):
            return value if math.isfinite(value) else repr(value)
        if isinstance(value, str):
            return self.text(value)
        if depth >= MAX_DEPTH or isinstance(value, bytes | bytearray | memoryview):
            return self.opaque(value)
        if isinstance(value, Mapping):
            return self.mapping(value, path, depth)
        if isinstance(value, list | tuple):
            return self.sequence(list(value), path, depth, index_names=True)
        if isinstance(value, set | frozenset):
            return self.sequence(sorted(value, key=safe_repr), path, depth, index_names=False)
        if isinstance(value, BaseException):
            return self.text(f"{type(value).__name__}: {safe_str(value)}")
        fields = fields_of(value)
        if fields is not None:
            return self.mapping(fields, path, depth)
        return self.opaque(value)

    def mapping(self, value: Mapping[Any, Any], path: Segments, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for count, (key, item) in enumerate(value.items()):
            if count >= MAX_ITEMS:
                result["…"] = f"{len(value) - MAX_ITEMS} more keys"
                break
            name = key if isinstance(key, str) else safe_repr(key)
            result[truncate(name, 100)] = self.sample(item, (*path, key_segment(key)), depth + 1)
        return result

    def sequence(self, items: list[Any], path: Segments, depth: int, *, index_names: bool) -> Any:
        result = [
            self.sample(item, (*path, index_segment(i) if index_names else WILDCARD), depth + 1)
            for i, item in enumerate(items[:MAX_ITEMS])
        ]
        if len(items) > MAX_ITEMS:
            result.append(f"… {len(items) - MAX_ITEMS} more items")
        return result


def redact(value: Any, paths: Sequence[str]) -> Any:
    """A JSON-safe, size-bounded sample of ``value`` with the nodes named by ``paths`` hidden.

    Dicts stay dicts (non-string keys become their ``repr``), lists, tuples and sets become
    lists, dataclasses and plain objects become dicts of their fields, anything else its
    ``repr``; at most :data:`MAX_ITEMS` items per container, :data:`MAX_STRING` characters
    per string, :data:`MAX_DEPTH` levels and :data:`MAX_NODES` nodes. A string stays a string
    (scrubbed, see :func:`scrub_text`), so this also redacts error messages and diff lines.
    """
    return _Sampler(compile_patterns(paths)).sample(value, (), 0)


def redact_item(value: Any, index: int, paths: Sequence[str]) -> Any:
    """:func:`redact` of item ``index`` of a call's input (the list at ``$``): its paths are
    those of ``$[index]``, so a pattern anchored at the input (``$[*].card``) hides its field
    as it would in the whole input's sample."""
    return _Sampler(compile_patterns(paths)).sample(value, (index_segment(index),), 1)


def mask(value: Any, path: Segments, patterns: Sequence[PathPattern], depth: int = 0) -> Any:
    """``value`` (found at ``path``) with redacted nodes replaced, container types kept.

    What a diff line shows: a tuple stays a tuple so ``type tuple != list`` still reads right.
    Only what a short ``repr`` can show is kept (:data:`MAX_ITEMS` items, :data:`MAX_DEPTH`
    levels); objects are left as they are (their ``repr`` is scrubbed by the caller).
    """
    if not patterns:
        return value
    if matches_any(patterns, path):
        return REDACTED
    if depth >= MAX_DEPTH:
        return value
    kind = type(value)
    if kind is dict:
        return {
            key: mask(item, (*path, key_segment(key)), patterns, depth + 1)
            for key, item in list(value.items())[:MAX_ITEMS]
        }
    if kind is list or kind is tuple:
        masked = [
            mask(item, (*path, index_segment(i)), patterns, depth + 1)
            for i, item in enumerate(value[:MAX_ITEMS])
        ]
        return masked if kind is list else tuple(masked)
    return value


__all__ = [
    "MAX_DEPTH",
    "MAX_ITEMS",
    "MAX_NODES",
    "MAX_STRING",
    "REDACTED",
    "mask",
    "redact",
    "redact_item",
    "safe_repr",
    "safe_str",
    "scrub_text",
    "truncate",
]
