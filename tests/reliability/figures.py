"""Measure what the load and soak tests report: peak RSS, and the resources a process holds.

Figures are printed (``pytest -s`` shows them) and, when ``CUTOVER_RELIABILITY_OUT`` names a
file, appended to it as JSON lines; ``benchmarks/RELIABILITY.md`` quotes a run of them.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psutil

OUT_ENV = "CUTOVER_RELIABILITY_OUT"
SAMPLE_S = 0.005


@dataclass
class PeakRss:
    """The highest resident set size seen while sampling, and where it started."""

    start: int
    peak: int = 0
    samples: int = 0

    @property
    def growth(self) -> int:
        """Peak minus start, in bytes."""
        return max(0, self.peak - self.start)


@contextmanager
def peak_rss() -> Iterator[PeakRss]:
    """Sample this process's RSS every few milliseconds on a thread while the block runs."""
    process = psutil.Process()
    result = PeakRss(start=process.memory_info().rss)
    result.peak = result.start
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            result.peak = max(result.peak, process.memory_info().rss)
            result.samples += 1
            stop.wait(SAMPLE_S)

    sampler = threading.Thread(target=sample, name="rss-sampler", daemon=True)
    sampler.start()
    try:
        yield result
    finally:
        stop.set()
        sampler.join()
        result.peak = max(result.peak, process.memory_info().rss)


def deep_size(values: list[Any]) -> int:
    """The bytes a flat list of results occupies: the list and each element object."""
    return sys.getsizeof(values) + sum(sys.getsizeof(value) for value in values)


@dataclass(frozen=True)
class Holdings:
    """What this process holds that a leak would grow."""

    threads: int
    children: int
    connections: dict[int, int] = field(default_factory=dict)
    """Established TCP connections by remote port."""

    @classmethod
    def now(cls, ports: tuple[int, ...]) -> Holdings:
        """Count threads, direct child processes and connections to ``ports``."""
        process = psutil.Process()
        counts = dict.fromkeys(ports, 0)
        for conn in process.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_ESTABLISHED and conn.raddr and conn.raddr.port in counts:
                counts[conn.raddr.port] += 1
        return cls(threading.active_count(), len(process.children()), counts)


def report(name: str, **figures: Any) -> None:
    """Print ``figures`` and append them to ``$CUTOVER_RELIABILITY_OUT`` if set."""
    line = {"test": name, "at": time.strftime("%Y-%m-%dT%H:%M:%S"), **figures}
    print(f"\n[reliability] {json.dumps(line, sort_keys=True, default=str)}")
    path = os.environ.get(OUT_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(line, sort_keys=True, default=str) + "\n")


__all__ = ["Holdings", "PeakRss", "deep_size", "peak_rss", "report"]
