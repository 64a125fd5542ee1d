"""A run as text for the terminal and as Markdown for ``benchmarks/RESULTS.md``."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from cutover.demo.bench.model import (
    BATCH_SIZE,
    MAX_CONCURRENT,
    MAX_REPEATS,
    ROUTES,
    SCENARIOS,
    SEED_MEMORY_MB,
    SEED_SECONDS,
    SHORT_RUN_S,
    BenchReport,
)
from cutover.demo.bench.targets import ratio_of

RESULTS_FILE: Final = Path("benchmarks") / "RESULTS.md"
"""Where a full run records its results, relative to the source checkout."""


def checkout_results_path(start: Path | None = None) -> Path | None:
    """``benchmarks/RESULTS.md`` of the source checkout this code runs from, if any.

    The checkout is found by what it holds, not by how deep this module sits in it: the
    nearest directory above ``start`` (default: this module) with cutover's ``setup.cfg`` and a
    ``benchmarks/`` directory. An installed copy (site-packages) has none: ``None``, and a full
    run records nothing unless told where (``--write-results``).
    """
    for directory in (start or Path(__file__)).resolve().parents:
        setup = directory / "setup.cfg"
        if (directory / RESULTS_FILE.parent).is_dir() and setup.is_file():
            with contextlib.suppress(OSError, UnicodeDecodeError):
                if "name = cutover\n" in setup.read_text(encoding="utf-8"):
                    return directory / RESULTS_FILE
    return None


RESULTS_PATH: Final = checkout_results_path()
"""Where a full run records its results in this source checkout (``None`` when installed)."""

# --- rendering -----------------------------------------------------------------------------


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f} s" if value < 10 else f"{value:.2f} s"


def _seed(value: float | None) -> str:
    return "-" if value is None else f"{value:g} s"


def _mb(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} MB"


def table_rows(report: BenchReport) -> tuple[list[str], list[list[str]]]:
    """The main table: one row per cell, the seed's figures beside ours."""
    header = [
        "scenario",
        "route",
        "wall (median)",
        "seed",
        "tasks/s",
        "vs legacy",
        "shim/raw",
        "peak RSS",
        "seed RSS",
        "calls ran on",
    ]
    rows = []
    for cell in report.cells:
        spec = ROUTES[cell.route]
        wall = cell.median_s
        raw_name = next((r for r, s in ROUTES.items() if s.baseline_of == cell.route), None)
        shim_raw = ratio_of(wall, report.wall(cell.scenario, raw_name)) if raw_name else None
        speedup = ratio_of(report.wall(cell.scenario, "legacy"), wall)
        seed = SEED_SECONDS.get(cell.scenario, {}).get(cell.route)
        if cell.error is not None:
            failed = [cell.scenario, cell.route, "FAILED", _seed(seed)]
            rows.append([*failed, "-", "-", "-", "-", "-", cell.error[:60]])
            continue
        rows.append(
            [
                cell.scenario,
                cell.route,
                _seconds(wall),
                _seed(seed),
                f"{cell.throughput:,.0f}" if cell.throughput else "-",
                f"{speedup:.2f}x" if speedup is not None else "-",
                f"{shim_raw:.2f}x" if shim_raw is not None else "-",
                _mb(cell.peak.total_mb),
                _mb(SEED_MEMORY_MB.get(cell.route)),
                ", ".join(f"{e} {n}" for e, n in cell.calls_by_engine.items())
                or ("(no shim)" if not spec.through_shim else "-"),
            ]
        )
    return header, rows


def _text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    previous = None
    for row in rows:
        if previous is not None and row[0] != previous:
            lines.append("")
        previous = row[0]
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return lines


def _machine_line(machine: dict[str, Any]) -> str:
    parallel = machine.get("cpu_parallelism")
    load = machine.get("load_average_at_start") or []
    return (
        f"{machine['cpu']} · {machine['logical_cpus']} logical CPUs "
        f"({machine.get('physical_cores') or '?'} cores)"
        + (f", {parallel:.2f}x parallel CPU throughput measured" if parallel else "")
        + f" · {machine['memory_gb']} GB · {machine['os']} · Python {machine['python']} · "
        f"load {'/'.join(str(x) for x in load)} at start · {machine['date']}"
    )


def _startup_lines(report: BenchReport) -> list[str]:
    if not report.startup_s:
        return ["  (no engine started)"]
    width = max(len(name) for name in report.startup_s)
    return [f"  {name.ljust(width)}  {_seconds(value)}" for name, value in report.startup_s.items()]


def render_text(report: BenchReport) -> str:
    """The table, start-up times, targets and notes, for a terminal."""
    config = report.config
    sizes = ", ".join(f"{name} {config.scenario(name).tasks} tasks" for name in config.scenarios)
    lines = [
        f"cutover bench: {sizes}; median of {config.repeats} run(s) after "
        f"{config.warmup} warm-up; seed = the migration report's figures (1000 tasks)",
        f"machine: {_machine_line(report.machine)}",
        f"broker: {report.machine.get('broker', '-')}",
        "",
    ]
    header, rows = table_rows(report)
    lines += _text_table(header, rows)
    lines += ["", "engine start-up (not inside any cell):", *_startup_lines(report), ""]
    if report.targets:
        lines.append("targets:")
        for target in report.targets:
            mark = "pass" if target.passed else "MISS"
            lines.append(f"  [{mark}] {target.name}: {target.detail}")
        lines.append("")
    if report.notes:
        lines.append("notes:")
        lines += [f"  - {note}" for note in report.notes]
        lines.append("")
    return "\n".join(lines)


def render_markdown(report: BenchReport) -> str:
    """``benchmarks/RESULTS.md``: how it was measured, on what, the figures, the verdicts."""
    machine = report.machine
    header, rows = table_rows(report)
    table = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]
    cpu_header = [
        "scenario",
        "route",
        "wall",
        "client",
        "celery",
        "ray",
        "other processes",
        "steal",
    ]
    cpu_table = [
        "| " + " | ".join(cpu_header) + " |",
        "|" + "|".join("---" for _ in cpu_header) + "|",
    ]
    for cell in report.cells:
        cpu = cell.cpu_s
        cpu_table.append(
            "| "
            + " | ".join(
                [cell.scenario, cell.route, _seconds(cell.median_s)]
                + [f"{cpu[name]:.2f}" if name in cpu else "-" for name in cpu_header[3:]]
            )
            + " |"
        )
    scenarios = "\n".join(
        f"- `{s.name}`: {report.config.scenario(s.name).tasks} tasks, {s.summary} "
        f"(`cutover.demo.tasks.{s.task.__name__}`)"
        for s in (SCENARIOS[name] for name in report.config.scenarios)
    )
    routes = "\n".join(f"- `{name}`: {ROUTES[name].summary}" for name in report.config.routes)
    targets = "\n".join(
        f"- {'pass' if t.passed else '**missed**'}: {t.name}: {t.detail}" for t in report.targets
    )
    notes = "\n".join(f"- {note}" for note in report.notes) or "- none"
    versions = ", ".join(f"{k} {v}" for k, v in machine.get("versions", {}).items())
    startup = "\n".join(
        f"| {name} | {_seconds(value)} |" for name, value in report.startup_s.items()
    )
    return f"""# Benchmark results: the seed's 1000-task table, measured

Written by `{report.config.command()}` ({machine["date"]}). Re-run it to replace this
file; `cutover bench --json` prints the same figures for machines. The seed report's
figures (1000 tasks, no method given) stand beside ours as a reference.

## How

{scenarios}

Every call is `optimize_batch_processing(items, task, batch_size={BATCH_SIZE},
max_concurrent={MAX_CONCURRENT})`, one call after another. Routes:

{routes}

Per cell: {report.config.warmup} untimed warm-up run, then the median of
{report.config.repeats} timed runs (up to {MAX_REPEATS} for a cell whose run takes under
{SHORT_RUN_S} s); throughput = tasks / median; peak RSS = the highest sum
of the resident memory of this process and of the engine processes the route uses (Celery
worker and pool, local Ray processes), sampled every 50 ms during the cell's runs (RSS counts
pages shared by forked processes once per process). The Redis broker is not counted. Engine
start-up is timed apart, below. A shim route and its raw baseline run their timed runs
interleaved (A B, B A, ...), so both see the same machine.

## Machine

- {machine["cpu"]}, {machine["logical_cpus"]} logical CPUs ({machine.get("physical_cores")}
  cores), {machine["memory_gb"]} GB, {machine["os"]}, Python {machine["python"]}
- parallel CPU throughput measured with all CPUs loaded:
  {machine.get("cpu_parallelism", 0):.2f}x one process (ideal {machine["logical_cpus"]}x)
- load average at start {machine.get("load_average_at_start")}, at end
  {machine.get("load_average_at_end")}
- {versions}; broker {machine.get("broker", "-")} (Redis {machine.get("redis_version", "-")})

## Results

{chr(10).join(table)}

Where the time went, per timed run (median CPU seconds of this process, of the route's
engine processes, of every other process of the machine meanwhile, and stolen by the
hypervisor):

{chr(10).join(cpu_table)}

Engine start-up (not inside any cell):

| engine | start-up |
|---|---|
{startup}

## Targets

{targets}

## Notes

{notes}
"""


__all__ = [
    "RESULTS_FILE",
    "RESULTS_PATH",
    "checkout_results_path",
    "render_markdown",
    "render_text",
    "table_rows",
]
