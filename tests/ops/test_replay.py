"""``cutover replay``: recorded calls run again, offline, on legacy and a real Celery worker.

Calls are recorded in this process (the recorder, as a worker records them); the replay
runs as a user runs it, ``cutover replay`` in a subprocess, against this session's real
prefork Celery worker (queue ``cutover.equiv``), and writes the same shadow records as live
shadowing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from compat.shadow.call_recorder import CallRecorder
from compat.shadow.records import ShadowRecord
from tests.ops import replay_tasks
from tests.support.services import REPO_ROOT, CeleryWorkerProcess

pytestmark = pytest.mark.celery

WORKER = "equiv"


def record(directory: Path, calls: list[tuple[Any, list[Any]]]) -> None:
    """Record ``(task, items)`` calls of worker ``equiv`` (the card redacted)."""
    recorder = CallRecorder(directory, frozenset({WORKER}), redact=("card",))
    for func, items in calls:
        recorder.capture(WORKER, func, items, 2, 2)
    assert recorder.flush()
    assert not recorder.skipped


def replay(directory: Path, *args: str, route: str = "celery") -> subprocess.CompletedProcess[str]:
    """``cutover replay equiv --route ROUTE ...`` in a subprocess."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    env["CUTOVER_LOG_LEVEL"] = "WARNING"
    argv = [sys.executable, "-m", "cutover", "replay", WORKER, "--route", route]
    argv += ["--recordings", str(directory), "--flags-url", (directory / "f.json").as_uri()]
    return subprocess.run(
        [*argv, *args], env=env, capture_output=True, text=True, timeout=180, check=False
    )


def records(directory: Path) -> list[ShadowRecord]:
    """The shadow records the replay wrote."""
    path = directory / "replay-celery" / f"shadow-{WORKER}.jsonl"
    return [ShadowRecord.from_dict(json.loads(line)) for line in path.read_text().splitlines()]


def orders(first: int, count: int) -> list[dict[str, Any]]:
    """Orders with a card number that must never reach a file."""
    return [{"id": n, "qty": n, "card": f"4111-{n:04d}"} for n in range(first, first + count)]


def test_replay_compares_recorded_calls_and_resumes(
    celery_redis_worker: CeleryWorkerProcess, tmp_path: Path
) -> None:
    """Five recorded calls, one whose result depends on the process: replayed two, then the
    rest (resumed, not redone), the records are those of live shadowing (four matches, one
    mismatch naming its items), nothing secret is written, and the exit status says a call
    disagreed; a progress bar went to stderr."""
    calls = [(replay_tasks.price, orders(n * 3, 3)) for n in range(4)]
    calls.insert(2, (replay_tasks.stamped, orders(100, 2)))
    record(tmp_path, calls)

    first = replay(tmp_path, "--limit", "2", "--json")
    assert (0, 2, 0, {"match": 2}) == (
        first.returncode,
        json.loads(first.stdout)["replayed"],
        json.loads(first.stdout)["resumed_from"],
        json.loads(first.stdout)["outcomes"],
    ), first.stderr
    rest = replay(tmp_path)
    assert 1 == rest.returncode, rest.stderr
    assert "replayed 3 of 5 recorded calls (resumed after 2), legacy -> celery" in rest.stdout
    assert "match 2, both_failed 0, mismatch 1" in rest.stdout
    assert "replay equiv on celery [" in rest.stderr

    written = records(tmp_path)
    assert ["match", "match", "mismatch", "match", "match"] == [r.outcome for r in written]
    assert {("legacy", "celery")} == {(r.primary_route, r.candidate_route) for r in written}
    mismatch = written[2]
    assert (2, [0, 1]) == (mismatch.mismatched_items, [i.index for i in mismatch.item_mismatches])
    assert {"id": 100, "qty": 100, "card": "***"} == mismatch.item_mismatches[0].input
    assert "4111-" not in (tmp_path / "replay-celery" / f"shadow-{WORKER}.jsonl").read_text()
    assert "4111-" not in (tmp_path / f"calls-{WORKER}.jsonl").read_text()

    again = replay(tmp_path, "--json")
    assert (0, 0) == (again.returncode, json.loads(again.stdout)["replayed"]), again.stderr
    restarted = replay(tmp_path, "--restart", "--limit", "1", "--json")
    assert 1 == json.loads(restarted.stdout)["replayed"]
    assert 1 == len(records(tmp_path))


def test_a_task_not_declared_shadow_safe_is_refused_unless_allowed(
    celery_redis_worker: CeleryWorkerProcess, tmp_path: Path
) -> None:
    """Replaying runs a call twice: a task that is not shadow-safe is refused before anything
    runs, with what to do; ``--allow-side-effects`` replays it."""
    record(tmp_path, [(replay_tasks.charge, orders(1, 2))])
    refused = replay(tmp_path)
    assert 2 == refused.returncode
    assert "tests.ops.replay_tasks:charge not declared shadow-safe" in refused.stderr
    assert "--allow-side-effects" in refused.stderr
    assert not (tmp_path / "replay-celery" / f"shadow-{WORKER}.jsonl").exists()
    allowed = replay(tmp_path, "--allow-side-effects", "--json")
    assert (0, {"match": 1}) == (allowed.returncode, json.loads(allowed.stdout)["outcomes"])


def test_nothing_recorded_is_a_clear_refusal(tmp_path: Path) -> None:
    """No calls file: exit status 2 and how to record some."""
    result = replay(tmp_path)
    assert 2 == result.returncode
    assert "no recorded calls of 'equiv'" in result.stderr
    assert "CUTOVER_RECORD_CALLS" in result.stderr


@pytest.mark.ray
@pytest.mark.slow
def test_replay_on_ray(tmp_path: Path) -> None:
    """The same replay against Ray (a local instance the replay starts and stops): recorded
    calls whose results agree are matches, the items' types intact (a tuple stays a tuple
    on both sides, or ``shape`` would differ)."""
    record(tmp_path, [(replay_tasks.price, orders(0, 3)), (replay_tasks.shape, [(1, 2), b"x"])])
    result = replay(tmp_path, "--json", route="ray")
    assert 0 == result.returncode, result.stderr
    assert {"match": 2} == json.loads(result.stdout)["outcomes"]
    written = (tmp_path / "replay-ray" / f"shadow-{WORKER}.jsonl").read_text()
    assert 2 == len(written.splitlines())
