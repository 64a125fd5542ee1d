"""What every benchmark script shares: repeats with medians, a table, machine details."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Timing:
    """Median and spread of repeated runs of one cell."""

    label: str
    median_s: float
    runs: tuple[float, ...]

    @property
    def spread(self) -> float:
        """(max - min) / median: how noisy the cell was."""
        return (max(self.runs) - min(self.runs)) / self.median_s if self.median_s else 0.0


async def measure(
    label: str, run: Callable[[], Awaitable[Any]], repeats: int, warmup: int = 1
) -> Timing:
    """Run ``run`` ``warmup`` times untimed, then ``repeats`` times; keep the median."""
    for _ in range(warmup):
        await run()
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        await run()
        runs.append(time.perf_counter() - started)
    return Timing(label, statistics.median(runs), tuple(runs))


async def measure_interleaved(
    cells: list[tuple[str, Callable[[], Awaitable[Any]]]], repeats: int, warmup: int = 1
) -> list[Timing]:
    """Like :func:`measure` for several cells, run round-robin: A B C, A B C, ...

    Cells compared as a ratio should see the same machine. On a shared VM the speed of a core
    drifts by several percent over a minute; timing all of A and then all of B puts that drift
    into the ratio, while interleaving spreads it over both.
    """
    for _ in range(warmup):
        for _label, run in cells:
            await run()
    runs: dict[str, list[float]] = {label: [] for label, _run in cells}
    for _ in range(repeats):
        for label, run in cells:
            started = time.perf_counter()
            await run()
            runs[label].append(time.perf_counter() - started)
    return [Timing(label, statistics.median(runs[label]), tuple(runs[label])) for label, _ in cells]


def machine_details() -> str:
    """One line that says where the figures come from."""
    return (
        f"{platform.node()} · {platform.machine()} · {os.cpu_count()} cores · "
        f"Python {platform.python_version()} · {time.strftime('%Y-%m-%d')}"
    )


def render_table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain-text table, columns padded to their widest cell."""
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)
