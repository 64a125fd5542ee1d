"""``cutover demo --short`` end to end, as a real subprocess on a machine where it configures
nothing itself: its own embedded Redis, Celery worker and local Ray, then nothing left."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.demo.support import Finished, run_cutover

pytestmark = [pytest.mark.slow, pytest.mark.celery, pytest.mark.ray]

WORKERS = ("demo-io-light", "demo-mixed", "demo-cpu-heavy")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Finished:
    """One ``cutover demo --short`` run, shared by the assertions below.

    The broker and flag settings of the test session are removed from its environment: the
    demo must not need them.
    """
    cwd = tmp_path_factory.mktemp("demo-cwd")
    env = {"CUTOVER_BROKER_URL": "", "CUTOVER_RESULT_BACKEND": "", "CUTOVER_FLAGS_URL": ""}
    return run_cutover("demo", "--short", cwd=cwd, env=env)


def _stage_block(stdout: str, name: str) -> str:
    match = re.search(rf"^stage \d/4 · {re.escape(name)}:.*?(?=^\S)", stdout, re.M | re.S)
    assert match is not None, f"no stage {name!r} in:\n{stdout}"
    return match.group(0)


def test_the_demo_succeeds(demo: Finished) -> None:
    """It exits 0 and says how long it took."""
    assert 0 == demo.status, demo.stdout + demo.stderr
    assert re.search(r"^demo finished in \d+\.\d s$", demo.stdout, re.M)


def test_it_starts_an_embedded_redis_a_celery_worker_and_ray(demo: Finished) -> None:
    """With nothing configured, Redis is the embedded server it started."""
    assert "services: embedded redis-server at redis://127.0.0.1:" in demo.stdout
    assert re.search(r"started redis-server \(embedded\): pid \d+", demo.stdout)
    assert re.search(r"started celery worker: pid \d+", demo.stdout)
    assert re.search(r"started Ray: \d+ local processes", demo.stdout)


def test_every_stage_prints_a_table_for_every_worker(demo: Finished) -> None:
    """legacy -> shadow -> 25% -> 100%, each with a row per worker and the table's columns."""
    expected_stages = ["legacy", "shadow", "25%", "100%"]
    actual_stages = re.findall(r"^stage \d/4 · (\S+):", demo.stdout, re.M)
    assert expected_stages == actual_stages
    for stage in expected_stages:
        block = _stage_block(demo.stdout, stage)
        for column in ("ran on", "p50", "p95", "shadow compared", "match rate"):
            assert column in block
        for worker in WORKERS:
            assert re.search(rf"^  {worker}\s", block, re.M), f"{worker} missing in {stage}"


def test_calls_move_from_legacy_to_the_candidates(demo: Finished) -> None:
    """Stage 1 runs only on legacy; stage 4 only on each worker's candidate engine."""
    legacy = _stage_block(demo.stdout, "legacy")
    full = _stage_block(demo.stdout, "100%")
    for worker, candidate in zip(WORKERS, ("celery", "celery", "ray"), strict=True):
        first = re.search(rf"^  {worker}\s+legacy\s+(\d+)\s+legacy (\d+)\s", legacy, re.M)
        last = re.search(rf"^  {worker}\s+{candidate}\s+(\d+)\s+{candidate} (\d+)\s", full, re.M)
        assert first is not None, legacy
        assert first.group(1) == first.group(2), legacy
        assert last is not None, full
        assert last.group(1) == last.group(2), full


def test_the_shadow_stage_compares_every_call(demo: Finished) -> None:
    """Shadowing at 100 %: as many comparisons as calls; the mixed worker's match rate shows
    the divergent call."""
    block = _stage_block(demo.stdout, "shadow")
    rows = {
        match.group(1): (int(match.group(2)), int(match.group(3)), match.group(4))
        for match in re.finditer(
            r"^  (demo-\S+)\s.*?\s(\d+)\s+legacy \d+\s.*?\s(\d+)\s+(\d+%)$", block, re.M
        )
    }
    assert set(WORKERS) == set(rows)
    for worker, (calls, compared, _) in rows.items():
        assert calls == compared, worker
    assert "100%" == rows["demo-io-light"][2]
    assert "100%" != rows["demo-mixed"][2]


def test_the_divergent_task_is_caught_and_shown(demo: Finished) -> None:
    """stamp_process answers with its process id: shadow mode reports the diff line."""
    caught = re.search(
        r"mismatch caught in demo-mixed \(legacy -> celery, call \S+\): \$\[\d+\]\.pid: "
        r"(\d+) != (\d+)",
        demo.stdout,
    )
    assert caught is not None, demo.stdout
    assert caught.group(1) != caught.group(2)
    assert re.search(r"shadow mismatches caught: [1-9]\d*, in demo-mixed$", demo.stdout, re.M)
    assert "wrong results returned to a caller: 0" in demo.stdout


def test_it_prints_the_shadow_report(demo: Finished) -> None:
    """The report of cutover.verdict.report: a row per worker and the mismatch group."""
    assert re.search(r"^WORKER\s+PRIMARY -> CANDIDATE\s+COMPARISONS", demo.stdout, re.M)
    for worker, candidate in zip(WORKERS, ("celery", "celery", "ray"), strict=True):
        assert re.search(rf"^{worker}\s+legacy -> {candidate}\s+\d+\s", demo.stdout, re.M)
    # A handful of comparisons (--short) proves the divergent worker bad only if enough of
    # them mismatch: NOT READY or, with too few, UNDECIDED; never READY.
    assert re.search(r"^demo-mixed: legacy -> celery  \[(NOT READY|UNDECIDED)", demo.stdout, re.M)
    assert "$[*].pid: value differs" in demo.stdout
    assert re.search(
        r"\[(FAIL| \?\? )\] mismatch rate \(noise-corrected\): [1-9][\d.]*% \(\d+ of \d+ "
        r"comparisons\): (at least|between) [\d.]+%",
        demo.stdout,
    )


def test_flag_changes_are_audited(demo: Finished) -> None:
    """Four stages: four audited changes per worker."""
    expected = "flag changes written and audited: demo-io-light 4, demo-mixed 4, demo-cpu-heavy 4"
    assert expected in demo.stdout


def test_a_progress_bar_goes_to_stderr(demo: Finished) -> None:
    """The bar is on stderr (stdout stays a clean report) and reaches 100 %."""
    assert "demo [" not in demo.stdout
    assert re.search(r"demo \[#+\] 100%", demo.stderr)


def test_nothing_it_started_is_left_running(demo: Finished) -> None:
    """Redis, the Celery worker and its pool, Ray: all gone once it exited."""
    assert len(demo.descendants) >= 5
    assert [] == demo.left_running()
    assert "processes left running: none" in demo.stdout


def test_an_unreachable_redis_url_is_refused(tmp_path: Path) -> None:
    """--redis-url names a Redis that does not answer: one clear line, exit 2, nothing left."""
    finished = run_cutover("demo", "--short", "--redis-url", "redis://127.0.0.1:1/0", cwd=tmp_path)
    assert 2 == finished.status
    assert "--redis-url redis://127.0.0.1:1/0: no Redis answers there" in finished.stderr
    assert [] == finished.left_running()
