"""How a difference and an exception read as text in shadow records and reports.

The walk in :mod:`compat.shadow.compare` finds *where* two results differ; this module only
writes and reads the lines it produces: one formatter of exceptions for every record field
and diff line, and :func:`diff_signature`, the kind of difference a line names, which the
report groups by. Kept apart so the comparison itself stays one readable walk.
"""

from __future__ import annotations

from compat.shadow.normalize import PATH_PREFIX, generalize
from compat.shadow.redact import REDACTED, truncate


def exception_message(exc: BaseException) -> str:
    """``str(exc)``, or a placeholder when the exception's own ``__str__`` fails."""
    try:
        return str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ still leaves the type to show
        return "<str failed>"


DIFF_EXCEPTION_CHARS = 120
"""How much of an exception a diff line shows (diff lines stay one readable line)."""


def describe_exception(exc: BaseException, limit: int = DIFF_EXCEPTION_CHARS) -> str:
    """``Type: message`` (the type alone when the message is empty), cut to ``limit`` chars.

    The one formatter of exceptions in shadow records: diff lines use the short default,
    the records' ``primary_error`` / ``candidate_error`` fields a longer limit.
    """
    message, name = exception_message(exc), type(exc).__name__
    return truncate(f"{name}: {message}" if message else name, limit)


def diff_signature(line: str) -> str:
    """What kind of difference a diff line is, with list indices generalised.

    Lines that differ only in values or indices share a signature, so a report can group
    them: ``$[3].total: 10 != 11`` and ``$[7].total: 1 != 2`` are both
    ``$[*].total: value differs``.
    """
    prefix = PATH_PREFIX.match(line)
    if prefix is None or line[prefix.end() : prefix.end() + 2] != ": ":
        return generalize(line)
    path = generalize(prefix.group())
    detail = line[prefix.end() + 2 :]
    for start, kind in (
        ("type ", None),
        ("length ", "length differs"),
        ("only in primary", "only in primary"),
        ("only in candidate", "only in candidate"),
        ("set differs", "set differs"),
        ("unordered", "unordered items differ"),
        ("too deep", None),
        ("cannot compare", None),
    ):
        if detail.startswith(start):
            return f"{path}: {kind or detail}"
    if detail.startswith("primary raised"):
        return f"{path}: {_exception_kinds(detail)}"
    if detail == REDACTED:
        return f"{path}: value differs (redacted)"
    return f"{path}: value differs"


def _exception_kinds(detail: str) -> str:
    parts = []
    for part in detail.split("; "):
        side, _, rest = part.partition(" raised ")
        if rest:
            parts.append(f"{side} raised {rest.split(':', 1)[0]}")
        elif part.startswith("candidate"):
            parts.append(part)
    return "; ".join(parts)


__all__ = ["DIFF_EXCEPTION_CHARS", "describe_exception", "diff_signature", "exception_message"]
