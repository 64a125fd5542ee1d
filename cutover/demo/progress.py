"""A plain-text progress bar on stderr: no dependency, nothing on stdout.

On a terminal the bar is redrawn in place (``\\r``); otherwise (a log file, a pipe, a test
capturing stderr) one line is written each time the label changes and at the end, so the
output stays readable.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

WIDTH = 28


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class ProgressBar:
    """``total`` steps; :meth:`advance` after each, :meth:`close` at the end."""

    def __init__(self, total: int, title: str, stream: TextIO | None = None) -> None:
        self.total = max(total, 1)
        self.title = title
        self.done = 0
        self.label = ""
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self.started = time.monotonic()
        self._last_line = ""
        self._closed = False

    def render(self) -> str:
        """The bar as one line: ``title [#####-----]  40%  3/8  label  eta 12s``."""
        fraction = min(self.done / self.total, 1.0)
        filled = round(WIDTH * fraction)
        elapsed = time.monotonic() - self.started
        eta = ""
        if 0 < self.done < self.total:
            eta = f"  eta {_clock(elapsed / self.done * (self.total - self.done))}"
        return (
            f"{self.title} [{'#' * filled}{'-' * (WIDTH - filled)}] {fraction:4.0%}  "
            f"{self.done}/{self.total}  {self.label}{eta}"
        )

    def _write(self) -> None:
        line = self.render()
        if self.interactive:
            padding = " " * max(0, len(self._last_line) - len(line))
            self.stream.write(f"\r{line}{padding}")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
        self._last_line = line

    def set_label(self, label: str) -> None:
        """Say what runs now (a non-interactive stream gets a line per new label)."""
        if label != self.label:
            self.label = label
            self._write()

    def advance(self, steps: int = 1) -> None:
        """``steps`` more are done."""
        self.done = min(self.done + steps, self.total)
        if self.interactive:
            self._write()

    def close(self) -> None:
        """Finish the bar (full, with the elapsed time)."""
        if self._closed:
            return
        self._closed = True
        self.done = self.total
        self.label = f"done in {_clock(time.monotonic() - self.started)}"
        self._write()
        if self.interactive:
            self.stream.write("\n")
            self.stream.flush()


__all__ = ["ProgressBar"]
