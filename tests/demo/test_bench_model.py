"""What ``cutover bench`` measures and how it judges it, without engines: scenarios, the raw
asyncio baseline, the targets and the closing notes, the text and Markdown renderings."""

from __future__ import annotations

from pathlib import Path

import pytest

from cutover.demo import tasks
from cutover.demo.bench import (
    ROUTES,
    SCENARIOS,
    BenchConfig,
    BenchReport,
    Cell,
    closing_notes,
    evaluate_targets,
    parse_names,
    render_markdown,
    render_text,
)
from cutover.demo.bench.runner import _interleaved_groups, _raw_asyncio, _repeats_for
from cutover.demo.memory import PeakRss
from cutover.errors import InvalidArgumentError
from legacy import AsyncWorkerOptimizer

MACHINE = {
    "cpu": "Test CPU",
    "logical_cpus": 2,
    "physical_cores": 2,
    "memory_gb": 4.0,
    "os": "Linux",
    "python": "3.11",
    "versions": {"celery": "5", "ray": "2"},
    "date": "2026-01-01",
    "load_average_at_start": [0.1, 0.1, 0.1],
    "cpu_parallelism": 1.2,
}


def _report(walls: dict[tuple[str, str], float], **calls: dict[str, int]) -> BenchReport:
    config = BenchConfig(scenarios=tuple(sorted({s for s, _ in walls})), routes=tuple(ROUTES))
    cells = [
        Cell(
            scenario,
            route,
            1000,
            runs_s=[wall],
            peak=PeakRss(total_mb=100.0),
            calls_by_engine=calls.get(route.replace("-", "_"), {}),
        )
        for (scenario, route), wall in walls.items()
    ]
    report = BenchReport(config, dict(MACHINE), cells, {"ray": 4.0})
    report.targets = evaluate_targets(report)
    report.notes = closing_notes(report)
    return report


def test_scenarios_are_the_issue_s_1000_tasks_in_calls_of_50_250_1000() -> None:
    """small: 20 calls of 50; medium: 4 of 250; large: one of 1000; --quick keeps call sizes."""
    sizes = {name: [len(call) for call in s.calls()] for name, s in SCENARIOS.items()}
    assert {"small": [50] * 20, "medium": [250] * 4, "large": [1000]} == sizes
    assert tasks.io_light is SCENARIOS["small"].task
    assert tasks.mixed is SCENARIOS["medium"].task
    assert tasks.cpu_heavy is SCENARIOS["large"].task
    quick = BenchConfig(quick=True)
    assert [50, 50] == [len(call) for call in quick.scenario("small").calls()]
    assert [100] == [len(call) for call in quick.scenario("large").calls()]


def test_every_shim_route_fails_instead_of_falling_back() -> None:
    """A route whose engine is down must fail its cell, not measure legacy under its name."""
    shim = [spec for spec in ROUTES.values() if spec.through_shim]
    assert 5 == len(shim)
    assert {"fail"} == {spec.record.fallback for spec in shim if spec.record}
    assert {"cutover.bench"} == {spec.record.queue for spec in shim if spec.record}


def test_parse_names_refuses_unknown_and_empty() -> None:
    """An empty selection is as wrong as a typo."""
    assert ["small", "large"] == parse_names(["large, small"], tuple(SCENARIOS), "scenario")
    with pytest.raises(InvalidArgumentError, match="unknown scenario 'huge'"):
        parse_names(["huge"], tuple(SCENARIOS), "scenario")
    with pytest.raises(InvalidArgumentError, match=r"\(none given\)"):
        parse_names([","], tuple(SCENARIOS), "scenario")


async def test_raw_asyncio_computes_what_legacy_computes() -> None:
    """The baseline without the shim returns exactly the legacy batched map's results."""
    calls = [list(range(0, 25)), list(range(25, 40))]
    legacy = AsyncWorkerOptimizer()
    expected = [
        value
        for call in calls
        for value in await legacy.optimize_batch_processing(call, tasks.io_light, 10, 5)
    ]
    assert expected == await _raw_asyncio(tasks.io_light, calls)


def test_targets_pass_and_miss_by_their_thresholds() -> None:
    """Adaptive within 1.1x of the best single route; large 1.7x faster; shim within 1.2x."""
    report = _report(
        {
            ("large", "legacy"): 10.0,
            ("large", "celery"): 5.5,
            ("large", "ray"): 5.0,
            ("large", "hybrid-adaptive"): 5.4,
            ("large", "raw-ray"): 4.0,
            ("large", "raw-celery"): 5.0,
        }
    )
    verdicts = {t.name: (t.passed, round(t.value or 0, 3)) for t in report.targets}
    assert {
        "large: hybrid-adaptive within 1.1x of the best single route": (True, 1.08),
        "large: Celery or Ray at least 1.7x faster than legacy": (True, 2.0),
        "large: celery through the shim within 1.2x of raw-celery": (True, 1.1),
        "large: ray through the shim within 1.2x of raw-ray": (False, 1.25),
    } == verdicts


def test_a_missed_speed_up_is_explained_by_the_machine_s_parallelism() -> None:
    """The note quotes the CPU parallelism probe: the ceiling no engine can beat."""
    report = _report({("large", "legacy"): 10.0, ("large", "ray"): 8.0})
    [target] = report.targets
    assert not target.passed
    legacy, ray = report.cell("large", "legacy"), report.cell("large", "ray")
    assert legacy is not None
    assert ray is not None
    legacy.cpu_runs = [{"client": 8.0, "other processes": 0.1, "steal": 0.0}]
    ray.cpu_runs = [{"client": 0.3, "ray": 9.5, "other processes": 0.1, "steal": 0.0}]
    [note] = closing_notes(report)
    assert note.startswith("large: Celery or Ray at least 1.7x faster than legacy: missed")
    assert "doing 1.20x the work of one when all were loaded" in note
    assert "took 8.00 CPU-s in one process alone and 9.50 CPU-s spread over ray's" in note
    assert "each did 84% of its solo work, so 2 cores could give at most 1.68x here" in note


def test_an_adaptive_miss_names_an_engine_its_cost_model_never_observed() -> None:
    """The adaptive route's calls and beliefs are in the note (here: legacy never observed)."""
    report = _report(
        {("small", "legacy"): 0.05, ("small", "hybrid-adaptive"): 0.3},
        hybrid_adaptive={"ray": 20},
    )
    adaptive = report.cell("small", "hybrid-adaptive")
    assert adaptive is not None
    adaptive.cost_per_task_ms = {"legacy": None, "ray": 0.3}
    report.notes = closing_notes(report)
    [note] = report.notes
    assert "Its timed calls ran on ray 20" in note
    assert "legacy never observed, ray 0.300 ms" in note
    assert "never observed legacy for calls of this size" in note


def test_a_missed_shim_target_shows_where_the_time_went() -> None:
    """Same client CPU, more engine and neighbour CPU: the machine was slower, not the shim."""
    report = _report({("large", "celery"): 5.5, ("large", "raw-celery"): 4.0})
    shim, raw = report.cell("large", "celery"), report.cell("large", "raw-celery")
    assert shim is not None
    assert raw is not None
    shim.cpu_runs = [{"client": 0.35, "celery": 9.5, "other processes": 0.6, "steal": 0.0}]
    raw.cpu_runs = [{"client": 0.34, "celery": 7.6, "other processes": 0.1, "steal": 0.0}]
    [note] = closing_notes(report)
    assert note.startswith("large: celery through the shim within 1.2x of raw-celery: missed")
    assert "celery: client 0.35, celery 9.50, other processes 0.60, steal 0.00" in note
    assert "used +0.01 CPU-s per run" in note
    assert "cost the engine processes +1.90 CPU-s" in note
    assert "not the shim" in note


def test_a_shim_gap_without_extra_cpu_is_waiting_not_working() -> None:
    """No engine, the same client CPU: the note says the gap is waiting."""
    report = _report({("small", "legacy"): 0.045, ("small", "raw-asyncio"): 0.037})
    for route in ("legacy", "raw-asyncio"):
        cell = report.cell("small", route)
        assert cell is not None
        cell.cpu_runs = [{"client": 0.02, "other processes": 0.0, "steal": 0.0}]
    [note] = closing_notes(report)
    assert "The shim used +0.000 CPU-s more per run, far less than the gap" in note


def test_text_table_puts_the_seed_beside_the_measure() -> None:
    """Each row: our wall time, the seed's, throughput, speed-up, peak RSS, the seed's RSS."""
    report = _report({("large", "legacy"): 10.0, ("large", "ray"): 5.0})
    text = render_text(report)
    ray_row = next(line for line in text.splitlines() if line.startswith("large     ray"))
    assert ["large", "ray", "5.000", "s", "10", "s", "200", "2.00x", "-", "100", "MB", "800"] == (
        ray_row.split()[:12]
    )
    assert "engine start-up (not inside any cell):" in text
    assert "  ray  4.000 s" in text


def test_markdown_has_the_method_the_machine_and_the_table() -> None:
    """RESULTS.md says how and where it was measured, then the same rows as a table."""
    report = _report({("small", "legacy"): 0.05, ("small", "celery"): 0.9})
    markdown = render_markdown(report)
    assert "Written by `cutover bench --scenarios small`" in markdown
    assert "Test CPU, 2 logical CPUs" in markdown
    assert "| small | celery | 0.900 s | 2 s | 1,111 | 0.06x |" in markdown
    assert "| ray | 4.000 s |" in markdown
    assert "| scenario | route | wall | client | celery | ray | other processes | steal |" in (
        markdown
    )


def test_shim_routes_are_measured_interleaved_with_their_raw_baseline() -> None:
    """legacy with raw-asyncio, celery with raw-celery; a route without a baseline alone."""
    specs = [ROUTES[name] for name in ("legacy", "celery", "hybrid", "raw-asyncio", "raw-celery")]
    expected = [["legacy", "raw-asyncio"], ["celery", "raw-celery"], ["hybrid"]]
    assert expected == [[spec.name for spec in group] for group in _interleaved_groups(specs)]
    alone = [ROUTES["raw-ray"], ROUTES["hybrid-adaptive"]]
    assert [["raw-ray"], ["hybrid-adaptive"]] == [
        [spec.name for spec in group] for group in _interleaved_groups(alone)
    ]


def test_short_cells_get_more_timed_runs_up_to_a_cap() -> None:
    """3 runs for a 2 s cell; about a second's worth for a 0.1 s one; at most 15."""
    assert 3 == _repeats_for(2.0, 3)
    assert 10 == _repeats_for(0.1, 3)
    assert 15 == _repeats_for(0.004, 3)
    assert 5 == _repeats_for(0.3, 5)


def test_a_gap_while_the_machine_was_busy_elsewhere_says_so() -> None:
    """Other processes' CPU during the judged runs is named as the reason."""
    report = _report({("large", "ray"): 5.0, ("large", "hybrid-adaptive"): 9.0})
    adaptive, ray = report.cell("large", "hybrid-adaptive"), report.cell("large", "ray")
    assert adaptive is not None
    assert ray is not None
    adaptive.calls_by_engine = {"ray": 3}
    adaptive.cost_per_task_ms = {"legacy": 9.0, "ray": 5.0}
    adaptive.cpu_runs = [{"client": 0.4, "ray": 9.7, "other processes": 8.0, "steal": 0.0}]
    ray.cpu_runs = [{"client": 0.4, "ray": 9.6, "other processes": 0.1, "steal": 0.0}]
    [note] = closing_notes(report)
    assert "Every timed call ran on ray, the best single route" in note
    assert "other processes of this machine used 7.90 CPU-s per run more than during ray's" in note


def test_the_results_file_is_found_by_what_the_checkout_holds(tmp_path: Path) -> None:
    """A full run records ``benchmarks/RESULTS.md`` of the checkout, found by its
    ``setup.cfg`` and ``benchmarks/`` wherever the module sits (no fixed ``parents[2]`` that
    a move breaks); outside a checkout (an installed copy) there is none to overwrite."""
    from cutover.demo.bench.render import RESULTS_PATH, checkout_results_path

    deep = tmp_path / "src" / "cutover" / "demo" / "bench" / "render.py"
    deep.parent.mkdir(parents=True)
    assert checkout_results_path(deep) is None
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "setup.cfg").write_text("[metadata]\nname = cutover\n", encoding="utf-8")
    assert tmp_path.resolve() / "benchmarks" / "RESULTS.md" == checkout_results_path(deep)
    assert RESULTS_PATH is not None
    assert RESULTS_PATH.parent.is_dir()
