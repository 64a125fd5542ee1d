"""The automatic guard: real shadow records in Redis drive a worker into a bad state, and
the guard rolls it back (or, when healthy or short of samples, leaves it alone)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from compat.shadow.recorders.redis_recorder import RedisShadowRecorder
from cutover.cli import main
from cutover.errors import ConfigurationError
from cutover.ops.guard import run_guard_once
from cutover.ops.guard_settings import GuardSettings
from flags import FlagRecord, FlagStore, ShadowConfig
from tests.ops.support import WriteRecords, outcomes
from tests.support.services import REPO_ROOT

CUTOVER = Path(sys.executable).with_name("cutover")

GATE = ShadowConfig(
    route="celery",
    sample=0.5,
    min_comparisons=200,
    max_mismatch_rate=0.02,
    max_candidate_error_rate=0.02,
)
WINDOW = GuardSettings(interval_s=1.0, window_s=60.0)


def at_25_percent(store: FlagStore, worker: str = "billing", **shadow: object) -> FlagRecord:
    """``worker`` with 25% of its calls on celery, celery shadowed behind legacy; returns
    after a pause, so records written next (spread over the 0.3 s before ``time.time()``)
    all follow this flag change."""
    gate = GATE if not shadow else ShadowConfig.from_dict({**GATE.to_dict(), **shadow})
    record = FlagRecord(route="celery", percent=25, shadow=gate)
    written = store.put(worker, record, expected_version=0, actor="alice", reason="promote")
    time.sleep(0.35)
    return written


def test_guard_rolls_back_a_worker_whose_mismatch_rate_is_over_its_threshold(
    store: FlagStore, recorder: RedisShadowRecorder, write_records: WriteRecords
) -> None:
    """30 mismatches in 300 recent comparisons (10%, proven above 2%): back on legacy, by
    auto-guard, with the bound in the audit trail."""
    at_25_percent(store)
    now = time.time()
    write_records("billing", outcomes(match=270, mismatch=30), at=now)
    checks = run_guard_once(store, recorder, now, settings=WINDOW)
    assert [("billing", "rolled-back")] == [(c.worker, c.status) for c in checks]
    flags = store.get("billing")
    assert (0.0, "legacy", 2) == (flags.percent, flags.base, flags.version)
    entry = store.history("billing")[-1]
    assert ("rollback", "auto-guard") == (entry.action, entry.actor)
    assert "[FAIL] mismatch rate (noise-corrected): 10.00% (30 of 300 comparisons): at least" in (
        entry.reason
    )
    assert "> 2.00% allowed: proven worse" in entry.reason
    assert "over the last 60 s of celery shadows" in entry.reason
    assert {"percent": (25.0, 0.0)} == entry.changes()


def test_guard_rolls_back_on_the_candidate_error_rate_alone(
    store: FlagStore, recorder: RedisShadowRecorder, write_records: WriteRecords
) -> None:
    """Mismatches are tolerated (50%), candidate errors are not (10%, proven above 2%)."""
    at_25_percent(store, max_mismatch_rate=0.5)
    now = time.time()
    write_records("billing", outcomes(match=270, candidate_error=20, candidate_timeout=10), at=now)
    checks = run_guard_once(store, recorder, now, settings=WINDOW)
    assert ["rolled-back"] == [c.status for c in checks]
    (line,) = checks[0].tripped
    assert line.startswith("[FAIL] candidate error rate: 10.00% (30 of 300 comparisons)")
    assert "candidate error rate: 10.00% (30 of 300" in store.history("billing")[-1].reason


def test_guard_leaves_a_healthy_worker_alone(
    store: FlagStore, recorder: RedisShadowRecorder, write_records: WriteRecords
) -> None:
    """No mismatch in 300 (proven under 2%): healthy; 2 in 400 (0.5%, not proven either
    way): undecided; nothing written either time."""
    at_25_percent(store)
    now = time.time()
    write_records("billing", ["match"] * 300, at=now)
    checks = run_guard_once(store, recorder, now, settings=WINDOW)
    assert ["healthy"] == [c.status for c in checks]
    write_records("billing", outcomes(match=98, mismatch=2), at=now)
    checks = run_guard_once(store, recorder, now, settings=WINDOW)
    assert ["undecided"] == [c.status for c in checks]
    assert checks[0].stats is not None
    assert (400, 2) == (checks[0].stats.comparisons, checks[0].stats.disagreements)
    assert (25.0, 1) == (store.get("billing").percent, store.get("billing").version)


def test_guard_judges_at_any_traffic_level(
    store: FlagStore, recorder: RedisShadowRecorder, write_records: WriteRecords
) -> None:
    """The old guard needed min_comparisons (200) in its window or never judged. Now 3
    comparisons prove nothing (undecided, nothing written), while 10 that all mismatch are
    proven bad: rolled back."""
    at_25_percent(store)
    now = time.time()
    write_records("billing", ["mismatch"] * 3, at=now)
    checks = run_guard_once(store, recorder, now, settings=WINDOW)
    assert ["undecided"] == [c.status for c in checks]
    assert 25.0 == store.get("billing").percent
    write_records("billing", ["mismatch"] * 10, at=now)
    checks = run_guard_once(store, recorder, now, settings=WINDOW)
    assert ["rolled-back"] == [c.status for c in checks]
    assert 0.0 == store.get("billing").percent


def test_guard_only_judges_records_inside_the_sliding_window(
    store: FlagStore, recorder: RedisShadowRecorder, write_records: WriteRecords
) -> None:
    """An old burst of mismatches (2 minutes ago, window 60 s) is not held against the worker."""
    at_25_percent(store)
    start = time.time()
    write_records("billing", ["mismatch"] * 300, at=start)
    now = start + 120
    write_records("billing", ["match"] * 300, at=now)
    checks = run_guard_once(store, recorder, now, settings=WINDOW)
    assert ["healthy"] == [c.status for c in checks]
    assert checks[0].stats is not None
    assert (300, 0) == (checks[0].stats.comparisons, checks[0].stats.disagreements)


def test_a_tripped_worker_already_on_its_base_is_reported_not_rewritten(
    store: FlagStore, recorder: RedisShadowRecorder, write_records: WriteRecords
) -> None:
    """Shadow only (no call on celery yet): tripped, but there is nothing to roll back."""
    store.put("mail", FlagRecord(shadow=GATE), expected_version=0, actor="a", reason="shadow")
    time.sleep(0.35)
    now = time.time()
    write_records("mail", ["mismatch"] * 250, at=now)
    checks = run_guard_once(store, recorder, now, settings=WINDOW)
    assert ["tripped"] == [c.status for c in checks]
    assert 1 == store.get("mail").version


def test_one_pass_judges_every_worker_on_its_own_numbers(
    store: FlagStore, recorder: RedisShadowRecorder, write_records: WriteRecords
) -> None:
    """A bad worker is rolled back, a good one keeps its rollout, one without candidate is
    not looked at."""
    at_25_percent(store, "bad")
    at_25_percent(store, "good")
    now = time.time()
    store.put("plain", FlagRecord(), expected_version=0, actor="a", reason="legacy")
    write_records("bad", outcomes(match=200, mismatch=100), at=now)
    write_records("good", ["match"] * 300, at=now)
    checks = {c.worker: c.status for c in run_guard_once(store, recorder, now, settings=WINDOW)}
    assert {"bad": "rolled-back", "good": "healthy"} == checks
    assert (0.0, 25.0) == (store.get("bad").percent, store.get("good").percent)


def test_guard_settings_come_from_the_environment() -> None:
    """Interval and window are read from CUTOVER_GUARD_*; nonsense is refused with the name."""
    settings = GuardSettings.from_env(
        {"CUTOVER_GUARD_INTERVAL_S": "5", "CUTOVER_GUARD_WINDOW_S": "90"}
    )
    assert (5.0, 90.0) == (settings.interval_s, settings.window_s)
    assert (30.0, 300.0) == (GuardSettings.from_env({}).interval_s, GuardSettings().window_s)
    with pytest.raises(ConfigurationError, match="CUTOVER_GUARD_WINDOW_S='-1'"):
        GuardSettings.from_env({"CUTOVER_GUARD_WINDOW_S": "-1"})


def test_cli_guard_once_exits_1_when_it_rolled_something_back(
    store: FlagStore,
    redis_url: str,
    write_records: WriteRecords,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``cutover guard --once --json`` prints the pass and exits 1 after a rollback."""
    at_25_percent(store)
    write_records("billing", outcomes(match=250, mismatch=50), at=time.time())
    status = main(["guard", "--once", "--json", "--window", "60", "--flags-url", redis_url])
    out, err = capsys.readouterr()
    assert 1 == status, err
    checks = json.loads(out)["checks"]
    assert [("billing", "rolled-back")] == [(c["worker"], c["status"]) for c in checks]
    assert 300 == checks[0]["window"]["comparisons"]
    assert "not_ready" == checks[0]["verdict"]["verdict"]
    status = main(["guard", "--once", "--window", "60", "--flags-url", redis_url])
    out, _ = capsys.readouterr()
    assert 0 == status  # the rollback changed the flags: the old evidence no longer counts
    assert "billing: TOO-FEW-SAMPLES:" in out
    assert 2 == store.get("billing").version


@pytest.mark.slow
def test_cli_guard_loop_rolls_back_within_an_interval_and_stops_cleanly_on_ctrl_c(
    store: FlagStore, redis_url: str, write_records: WriteRecords, tmp_path: Path
) -> None:
    """A running ``cutover guard`` notices bad records written after it started, rolls the
    worker back on its next pass, and exits 0 on SIGINT."""
    at_25_percent(store)
    env = {**os.environ, "CUTOVER_LOG_LEVEL": "WARNING", "PYTHONPATH": str(REPO_ROOT)}
    out_path = tmp_path / "guard.out"
    flags_url = ("--flags-url", redis_url)
    with out_path.open("w") as out:
        process = subprocess.Popen(
            [str(CUTOVER), "guard", "--interval", "0.5", "--window", "60", *flags_url],
            stdout=out,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
    try:
        deadline = time.monotonic() + 30
        while "TOO-FEW-SAMPLES" not in out_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "billing: TOO-FEW-SAMPLES" in out_path.read_text()
        write_records("billing", outcomes(match=200, mismatch=100), at=time.time())
        written = time.monotonic()
        while store.get("billing").percent != 0.0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert 0.0 == store.get("billing").percent
        assert time.monotonic() - written < 5.0  # one interval (0.5 s), a pass, a loaded host
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert 0 == process.returncode, err
    assert "Traceback" not in err
    assert "guard: stopped after" in err
    assert (
        "billing: ROLLED-BACK: rolled back to legacy (from celery at 25%)" in out_path.read_text()
    )
    assert "auto-guard" == store.history("billing")[-1].actor
