"""How every ``cutover`` sub-command prints: one table renderer and one JSON writer.

Two commands that print tables print them the same way (columns padded to the widest cell,
two spaces apart, no trailing blanks), so a person or ``awk`` reads every one alike.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def format_table(headers: list[str], rows: list[list[str]]) -> list[str]:
    """The lines of a plain-text table: the header row, then one line per row."""
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [headers, *rows]
    ]


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    """Print :func:`format_table`'s lines on stdout."""
    for line in format_table(headers, rows):
        print(line)


def print_json(data: Any) -> None:
    """``data`` as indented JSON with sorted keys, one document on stdout."""
    json.dump(data, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


__all__ = ["format_table", "print_json", "print_table"]
