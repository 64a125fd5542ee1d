"""Long-running commands stop cleanly on Ctrl-C and SIGTERM.

Not a command module: :func:`stop_on_signals` is shared by ``cutover guard`` and
``cutover metrics``, which finish what they are doing and exit 0 instead of dying with a
traceback.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """While inside, SIGINT and SIGTERM set ``stop`` instead of interrupting the process."""

    def handle(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


__all__ = ["stop_on_signals"]
