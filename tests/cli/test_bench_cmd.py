"""``cutover bench``: the options, a run without engines in-process, and a ``--quick`` run of
every route as a real subprocess (Celery worker, local Ray, nothing left afterwards)."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cutover.cli import main
from cutover.cli.bench_cmd import config_from_args, results_path
from cutover.demo.bench import RESULTS_PATH, ROUTES, SCENARIOS, SEED_MEMORY_MB, SEED_SECONDS
from cutover.logs import configure_logging
from tests.demo.support import Finished, run_cutover
from tests.support.services import redis_test_url


@pytest.fixture
def restored_environment() -> Iterator[None]:
    """The bench sets its settings in this process's environment and logging: put them back."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
    configure_logging(force=True)


def _args(**overrides: Any) -> argparse.Namespace:
    values: dict[str, Any] = {
        "quick": False,
        "routes": None,
        "scenarios": None,
        "repeats": None,
        "write_results": None,
        "no_write_results": False,
    }
    values.update(overrides)
    return argparse.Namespace(**values)


# --- options -----------------------------------------------------------------------------------


def test_defaults_are_every_scenario_and_route_three_repeats() -> None:
    """No option: the full table, median of 3, recorded in benchmarks/RESULTS.md."""
    config = config_from_args(_args())
    assert tuple(SCENARIOS) == config.scenarios
    assert tuple(ROUTES) == config.routes
    assert 3 == config.repeats
    assert config.full
    assert RESULTS_PATH == results_path(_args(), config)


def test_quick_is_one_timed_run_and_records_nothing() -> None:
    """--quick: one timed run per cell; a smoke run never overwrites RESULTS.md."""
    args = _args(quick=True)
    config = config_from_args(args)
    assert 1 == config.repeats
    assert not config.full
    assert results_path(args, config) is None


def test_routes_and_scenarios_accept_commas_and_spaces_in_table_order() -> None:
    """--routes ray,legacy raw-ray: the table keeps its own order, whatever the order given."""
    config = config_from_args(_args(routes=["ray,legacy", "raw-ray"], scenarios=["large"]))
    assert ("legacy", "ray", "raw-ray") == config.routes
    assert ("large",) == config.scenarios
    assert "cutover bench --routes legacy,ray,raw-ray --scenarios large" == config.command()


def test_write_results_overrides_and_no_write_results_skips(tmp_path: Path) -> None:
    """--write-results PATH writes any run there; --no-write-results keeps a full run out."""
    target = tmp_path / "r.md"
    quick = config_from_args(_args(quick=True))
    assert target == results_path(_args(write_results=str(target)), quick)
    full = config_from_args(_args())
    assert results_path(_args(no_write_results=True), full) is None


def test_unknown_route_is_refused_with_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    """A typo is exit 2 and one line naming every route, before anything starts."""
    status = main(["bench", "--routes", "lgacy"])
    err = capsys.readouterr().err
    assert 2 == status
    assert "unknown route 'lgacy': choose from legacy, celery, ray, hybrid" in err


def test_repeats_below_one_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """--repeats 0 has no median."""
    status = main(["bench", "--repeats", "0"])
    assert 2 == status
    assert "--repeats 0: expected at least 1" in capsys.readouterr().err


# --- a run without engines, in-process -----------------------------------------------------------


@pytest.mark.usefixtures("restored_environment")
def test_legacy_and_raw_asyncio_run_in_process_and_write_markdown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Routes that need no engine start nothing; the JSON has both cells and the shim ratio's
    target, and --write-results writes the Markdown table beside the seed's figures."""
    target = tmp_path / "RESULTS.md"
    status = main(
        [
            "bench",
            "--quick",
            "--json",
            "--routes",
            "legacy,raw-asyncio",
            "--scenarios",
            "small",
            "--write-results",
            str(target),
        ]
    )
    out = capsys.readouterr().out
    report = json.loads(out)
    assert 0 == status
    assert [("small", "legacy"), ("small", "raw-asyncio")] == [
        (cell["scenario"], cell["route"]) for cell in report["cells"]
    ]
    legacy = report["cells"][0]
    assert 15 == len(legacy["runs_s"])  # a short cell: repeated up to 15 times
    assert {"legacy": 2 * 15} == legacy["calls_by_engine"]
    assert 100 / legacy["wall_s"] == pytest.approx(legacy["throughput_per_s"])
    assert 2.5 == legacy["seed_s"]
    assert {} == report["startup_s"]
    assert ["small: legacy through the shim within 1.2x of raw-asyncio"] == [
        target["name"] for target in report["targets"]
    ]
    markdown = target.read_text()
    assert markdown.startswith("# Benchmark results: the seed's 1000-task table, measured")
    assert "| small | legacy |" in markdown
    assert "2.5 s" in markdown


# --- every route, as a real subprocess ---------------------------------------------------------


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Finished, dict[str, Any]]:
    """``cutover bench --quick --json`` on a Redis database of its own."""
    cwd = tmp_path_factory.mktemp("bench-cwd")
    env = {
        "CUTOVER_BROKER_URL": redis_test_url(12),
        "CUTOVER_RESULT_BACKEND": redis_test_url(13),
    }
    finished = run_cutover("bench", "--quick", "--json", cwd=cwd, env=env)
    assert 0 == finished.status, finished.stdout + finished.stderr
    return finished, json.loads(finished.stdout)


@pytest.mark.slow
@pytest.mark.celery
@pytest.mark.ray
class TestQuickRunOfEveryRoute:
    """One ``--quick`` run: every scenario on every route, through real engines."""

    def test_every_cell_is_measured(self, quick_run: tuple[Finished, dict[str, Any]]) -> None:
        """3 scenarios x 8 routes, each with a wall time, a throughput and a peak RSS."""
        _, report = quick_run
        expected = [(s, r) for s in SCENARIOS for r in ROUTES]
        actual = [(cell["scenario"], cell["route"]) for cell in report["cells"]]
        assert expected == actual
        for cell in report["cells"]:
            assert cell["error"] is None, cell
            assert cell["wall_s"] > 0
            assert cell["throughput_per_s"] > 0
            assert cell["peak_rss_mb"] > 10

    def test_routes_ran_where_their_flags_say(
        self, quick_run: tuple[Finished, dict[str, Any]]
    ) -> None:
        """The shim's calls (counted by compat.metrics) went to the route's engine; the seed's
        threshold rule sends calls of 50 to Celery and of 100 to Ray."""
        _, report = quick_run
        cells = {(c["scenario"], c["route"]): c for c in report["cells"]}

        def ran(scenario: str, route: str) -> dict[str, float]:
            cell = cells[scenario, route]
            return {e: n / len(cell["runs_s"]) for e, n in cell["calls_by_engine"].items()}

        assert {"legacy": 2} == ran("small", "legacy")
        assert {"celery": 2} == ran("small", "celery")
        assert {"ray": 1} == ran("large", "ray")
        assert {"celery": 2} == ran("small", "hybrid")
        assert {"ray": 1} == ran("medium", "hybrid")
        assert {} == ran("small", "raw-celery")

    def test_memory_counts_the_engine_processes_of_the_route(
        self, quick_run: tuple[Finished, dict[str, Any]]
    ) -> None:
        """legacy counts this process only; Celery adds its worker and pool; Ray its processes;
        the hybrid both."""
        _, report = quick_run
        groups = {
            c["route"]: set(c["peak_rss_by_group_mb"])
            for c in report["cells"]
            if c["scenario"] == "large"
        }
        assert {"client"} == groups["legacy"]
        assert {"client", "celery"} == groups["celery"]
        assert {"client", "ray"} == groups["ray"]
        assert {"client", "celery", "ray"} == groups["hybrid"]
        cells = {c["route"]: c for c in report["cells"] if c["scenario"] == "large"}
        assert cells["ray"]["peak_rss_mb"] > cells["legacy"]["peak_rss_mb"]

    def test_engine_startup_is_reported_apart(
        self, quick_run: tuple[Finished, dict[str, Any]]
    ) -> None:
        """The Celery worker, its engine and Ray each have a start-up time of their own."""
        _, report = quick_run
        assert {"celery worker", "celery engine", "ray"} <= set(report["startup_s"])
        assert all(seconds > 0 for seconds in report["startup_s"].values())

    def test_the_seed_figures_and_targets_come_with_the_figures(
        self, quick_run: tuple[Finished, dict[str, Any]]
    ) -> None:
        """The seed's table is carried as is; every target is evaluated; --quick says so."""
        _, report = quick_run
        assert SEED_SECONDS == report["seed"]["seconds"]
        assert SEED_MEMORY_MB == report["seed"]["memory_mb"]
        names = [target["name"] for target in report["targets"]]
        assert 3 + 1 + 9 == len(names)
        assert "large: Celery or Ray at least 1.7x faster than legacy" in names
        assert report["notes"][0].startswith("--quick: 100 tasks per scenario")

    def test_progress_on_stderr_and_nothing_left_running(
        self, quick_run: tuple[Finished, dict[str, Any]]
    ) -> None:
        """A progress bar reaching 100 % on stderr; the worker and Ray are gone afterwards."""
        finished, _ = quick_run
        assert "bench [############################] 100%" in finished.stderr
        assert [] == finished.left_running()
