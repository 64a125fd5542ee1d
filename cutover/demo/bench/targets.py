"""How a run is judged: the issue's targets and the notes that explain a miss."""

from __future__ import annotations

from cutover.demo.bench.model import (
    QUICK_TASKS,
    ROUTES,
    SINGLE_ROUTES,
    TARGET_ADAPTIVE_RATIO,
    TARGET_LARGE_SPEEDUP,
    TARGET_SHIM_RATIO,
    BenchReport,
    Cell,
    Target,
)

# --- targets and notes ---------------------------------------------------------------------


def ratio_of(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator``; ``None`` when either is missing or the divisor is not > 0."""
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


def evaluate_targets(report: BenchReport) -> list[Target]:
    """The issue's targets, for the cells this run measured."""
    targets: list[Target] = []
    for scenario in report.config.scenarios:
        adaptive = report.wall(scenario, "hybrid-adaptive")
        singles = {
            route: wall
            for route in SINGLE_ROUTES
            if (wall := report.wall(scenario, route)) is not None
        }
        if adaptive is not None and singles:
            best_route = min(singles, key=lambda route: singles[route])
            ratio = ratio_of(adaptive, singles[best_route])
            assert ratio is not None
            targets.append(
                Target(
                    "adaptive",
                    scenario,
                    f"{scenario}: hybrid-adaptive within {TARGET_ADAPTIVE_RATIO}x of the best "
                    "single route",
                    ratio,
                    TARGET_ADAPTIVE_RATIO,
                    ratio <= TARGET_ADAPTIVE_RATIO,
                    f"{adaptive:.3f} s vs {best_route} {singles[best_route]:.3f} s: {ratio:.2f}x",
                    ("hybrid-adaptive", best_route),
                )
            )
    if "large" in report.config.scenarios:
        legacy = report.wall("large", "legacy")
        speedups = {
            route: ratio_of(legacy, report.wall("large", route)) for route in ("celery", "ray")
        }
        measured = {route: value for route, value in speedups.items() if value is not None}
        if measured:
            best = max(measured, key=lambda route: measured[route])
            targets.append(
                Target(
                    "speed-up",
                    "large",
                    f"large: Celery or Ray at least {TARGET_LARGE_SPEEDUP}x faster than legacy",
                    measured[best],
                    TARGET_LARGE_SPEEDUP,
                    measured[best] >= TARGET_LARGE_SPEEDUP,
                    ", ".join(f"{route} {value:.2f}x" for route, value in measured.items()),
                    (best, "legacy"),
                )
            )
    for scenario in report.config.scenarios:
        for raw in ("raw-asyncio", "raw-celery", "raw-ray"):
            shim_route = ROUTES[raw].baseline_of
            assert shim_route is not None
            ratio = ratio_of(report.wall(scenario, shim_route), report.wall(scenario, raw))
            if ratio is None:
                continue
            targets.append(
                Target(
                    "shim",
                    scenario,
                    f"{scenario}: {shim_route} through the shim within {TARGET_SHIM_RATIO}x of "
                    f"{raw}",
                    ratio,
                    TARGET_SHIM_RATIO,
                    ratio <= TARGET_SHIM_RATIO,
                    f"{ratio:.2f}x",
                    (shim_route, raw),
                )
            )
    return targets


def _cpu_text(cell: Cell | None) -> str:
    if cell is None or not cell.cpu_runs:
        return "-"
    return ", ".join(f"{name} {seconds:.2f}" for name, seconds in cell.cpu_s.items())


def _runs_text(cell: Cell | None) -> str:
    if cell is None or not cell.runs_s:
        return "-"
    return "/".join(f"{run:.2f}" for run in cell.runs_s) + " s"


def _profile(report: BenchReport, target: Target) -> str:
    """Where the time of the two compared cells went, per run, and what that says."""
    judged = report.cell(target.scenario, target.routes[0])
    other = report.cell(target.scenario, target.routes[1])
    text = (
        f"Where the time went (median CPU seconds per run): {target.routes[0]}: "
        f"{_cpu_text(judged)}; {target.routes[1]}: {_cpu_text(other)}. Runs: "
        f"{target.routes[0]} {_runs_text(judged)}, {target.routes[1]} {_runs_text(other)}."
    )
    if judged is None or other is None or not judged.cpu_runs or not other.cpu_runs:
        return text
    mine, theirs = judged.cpu_s, other.cpu_s
    client_gap = mine.get("client", 0.0) - theirs.get("client", 0.0)
    engines = [name for name in mine if name not in ("client", "other processes", "steal")]
    engine_gap = sum(mine[name] - theirs.get(name, 0.0) for name in engines)
    noise_gap = sum(
        mine.get(name, 0.0) - theirs.get(name, 0.0) for name in ("other processes", "steal")
    )
    elsewhere = mine.get("other processes", 0.0) - theirs.get("other processes", 0.0)
    if judged.median_s and elsewhere > 0.25 * judged.median_s:
        text += (
            f" During {target.routes[0]}'s runs other processes of this machine used "
            f"{elsewhere:.2f} CPU-s per run more than during {target.routes[1]}'s: the machine "
            "was busy with someone else's work then. Re-run on a quiet machine to compare."
        )
        return text
    if target.kind != "shim":
        return text
    if engines and engine_gap + noise_gap > max(client_gap, 0.0):
        text += (
            f" The client, where the shim runs, used {client_gap:+.2f} CPU-s per run; the "
            f"same batches cost the engine processes {engine_gap:+.2f} CPU-s and the rest of "
            f"the machine took {noise_gap:+.2f} CPU-s more: the gap is the machine's speed "
            "during those runs (a shared, busy machine), not the shim. Re-run to compare."
        )
    elif (
        judged.median_s and other.median_s and client_gap < 0.1 * (judged.median_s - other.median_s)
    ):
        text += (
            f" The shim used {client_gap:+.3f} CPU-s more per run, far less than the gap: the "
            "difference is time spent waiting, not working (timers of 1 ms sleeps and "
            "scheduling on a busy machine)."
        )
    else:
        text += f" The client, where the shim runs, used {client_gap:+.2f} CPU-s more per run."
    return text


def _core_ceiling(report: BenchReport, route: str) -> str:
    """What the cells' own CPU seconds say about the best possible speed-up on this machine."""
    legacy = report.cell("large", "legacy")
    engine_cell = report.cell("large", route)
    cpus = report.machine.get("logical_cpus") or 1
    if legacy is None or engine_cell is None or not legacy.cpu_runs or not engine_cell.cpu_runs:
        return ""
    alone = legacy.cpu_s.get("client", 0.0)
    spread = engine_cell.cpu_s.get(route, 0.0)
    if alone <= 0 or spread <= 0:
        return ""
    return (
        f" The same tasks took {alone:.2f} CPU-s in one process alone and {spread:.2f} CPU-s "
        f"spread over {route}'s worker processes: with all cores busy each did "
        f"{alone / spread:.0%} of its solo work, so {cpus} cores could give at most "
        f"{cpus * alone / spread:.2f}x here."
    )


def closing_notes(report: BenchReport) -> list[str]:
    """Why each missed target was missed, with the figures that show where the time went."""
    notes: list[str] = []
    if report.config.quick:
        notes.append(
            f"--quick: {QUICK_TASKS} tasks per scenario, {report.config.repeats} timed run(s): "
            "a smoke run. Its times are not comparable with the seed's 1000-task figures."
        )
    parallel = report.machine.get("cpu_parallelism")
    cpus = report.machine.get("logical_cpus")
    for target in report.targets:
        if target.passed:
            continue
        missed = f"{target.name}: missed ({target.detail})."
        if target.kind == "speed-up":
            probe = (
                f" CPU-bound work only gets faster on more cores: a probe before the cells "
                f"found this machine's {cpus} logical CPUs doing {parallel:.2f}x the work of "
                f"one when all were loaded (ideal {cpus}x)."
                if parallel is not None
                else ""
            )
            best = target.routes[0]
            notes.append(
                missed + probe + _core_ceiling(report, best) + " " + _profile(report, target)
            )
        elif target.kind == "adaptive":
            notes.append(missed + " " + _adaptive_note(report, target))
        else:
            notes.append(missed + " " + _profile(report, target))
    return notes


def _adaptive_note(report: BenchReport, target: Target) -> str:
    cell = report.cell(target.scenario, "hybrid-adaptive")
    best = target.routes[1]
    calls = cell.calls_by_engine if cell else {}
    spread = ", ".join(f"{engine} {count}" for engine, count in calls.items()) or "-"
    costs = cell.cost_per_task_ms if cell else {}
    believed = ", ".join(
        f"{engine} {'never observed' if cost is None else f'{cost:.3f} ms'}"
        for engine, cost in costs.items()
    )
    text = f"Its timed calls ran on {spread}; cost per task it believed at the end: {believed}."
    unobserved = [engine for engine, cost in costs.items() if cost is None]
    if best not in costs:
        return text + (
            f" The best single route here, {best}, is not one of its candidates "
            f"({', '.join(costs) or '-'}). " + _profile(report, target)
        )
    if best in unobserved:
        return text + (
            f" Its cost model never observed {best} for calls of this size although the "
            "warm-up tried every candidate, so it could only choose among the others."
        )
    if set(calls) == {best}:
        return text + (
            f" Every timed call ran on {best}, the best single route: the gap is run-to-run "
            f"variation of {best} itself. " + _profile(report, target)
        )
    return text + " Every call explored on the slower engine costs that engine's time."


__all__ = ["closing_notes", "evaluate_targets", "ratio_of"]
