"""How a flag value reads to a person, the same in the terminal and on the HTML report."""

from __future__ import annotations

from typing import Any


def show_value(value: Any, list_separator: str = ",") -> str:
    """``-`` for nothing, ``yes``/``no`` for booleans, lists joined; anything else as text.

    The terminal joins lists with a bare comma (a table cell, copy-pasteable back into
    ``cutover flags set``); the HTML report with ", " (prose that wraps).
    """
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return list_separator.join(str(v) for v in value) or "-"
    return str(value)


__all__ = ["show_value"]
