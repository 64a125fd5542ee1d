"""``cutover flags``: in-process through cutover.cli.main, and once as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cutover.cli import main
from cutover.cli.flags_cmd import default_actor
from cutover.logs import configure_logging
from flags import open_store
from tests.flags.services import REDIS_URL, require_redis

CUTOVER = Path(sys.executable).with_name("cutover")


@pytest.fixture(autouse=True)
def cutover_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test has its own CUTOVER_HOME, so the default file store is empty and private."""
    home = tmp_path / "cutover-home"
    monkeypatch.setenv("CUTOVER_HOME", str(home))
    monkeypatch.delenv("CUTOVER_FLAGS_URL", raising=False)
    configure_logging()
    return home


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A flushed Redis database of these tests (skipped / failed if Redis is down)."""
    client = require_redis()
    yield REDIS_URL
    client.flushdb()
    client.close()


@pytest.fixture(params=["file", "redis"])
def url_args(request: pytest.FixtureRequest) -> list[str]:
    """``--flags-url`` for each store: none (the default file store), then Redis."""
    if request.param == "redis":
        return ["--flags-url", request.getfixturevalue("redis_url")]
    return []


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``cutover ARGV`` in-process; return (exit status, stdout, stderr)."""
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    """Run with --json and parse stdout; the command must succeed."""
    status, out, err = run(capsys, *argv, "--json")
    assert 0 == status, err
    return json.loads(out)


# --- set / get / list ---------------------------------------------------------------------------


def test_set_then_get_json_is_the_flag_record(
    capsys: pytest.CaptureFixture[str], url_args: list[str]
) -> None:
    """set writes the options given; get --json prints the whole record with its bookkeeping."""
    status, out, err = run(
        capsys,
        "flags",
        "set",
        "billing",
        "--route",
        "celery",
        "--percent",
        "25",
        "--shadow",
        "ray",
        "--sample",
        "0.1",
        "--hybrid-threshold",
        "50",
        "--priority",
        "3",
        "--queue",
        "billing.q",
        "--fallback",
        "fail",
        "--retries",
        "2",
        "--retryable",
        "TimeoutError",
        "ConnectionError",
        "--reason",
        "start",
        "--actor",
        "alice",
        *url_args,
    )
    assert (0, "") == (status, err)
    assert "billing: version 0 -> 1 (alice: start)" in out
    assert "percent: 100.0 -> 25.0" in out
    record = run_json(capsys, "flags", "get", "billing", *url_args)
    assert {
        "route": "celery",
        "percent": 25.0,
        "base": "legacy",
        "priority": 3,
        "queue": "billing.q",
        "fallback": "fail",
        "kill": False,
        "version": 1,
        "updated_by": "alice",
        "reason": "start",
    }.items() <= record.items()
    assert ("ray", 0.1) == (record["shadow"]["route"], record["shadow"]["sample"])
    assert 50 == record["hybrid"]["threshold"]
    assert {"max": 2, "backoff_s": 1.0, "retryable": ["TimeoutError", "ConnectionError"]} == record[
        "retries"
    ]


def test_set_keeps_the_options_not_given(
    capsys: pytest.CaptureFixture[str], url_args: list[str]
) -> None:
    """A second set changing only the percent keeps the shadow and queue of the first."""
    run(
        capsys,
        "flags",
        "set",
        "w",
        "--route",
        "ray",
        "--shadow",
        "celery",
        "--sample",
        "0.5",
        "--queue",
        "q1",
        "--reason",
        "one",
        *url_args,
    )
    run(
        capsys,
        "flags",
        "set",
        "w",
        "--route",
        "ray",
        "--percent",
        "60",
        "--reason",
        "two",
        *url_args,
    )
    record = run_json(capsys, "flags", "get", "w", *url_args)
    assert (60.0, "celery", 0.5, "q1", 2) == (
        record["percent"],
        record["shadow"]["route"],
        record["shadow"]["sample"],
        record["queue"],
        record["version"],
    )
    run(
        capsys,
        "flags",
        "set",
        "w",
        "--route",
        "ray",
        "--shadow",
        "off",
        "--queue",
        "",
        "--reason",
        "three",
        *url_args,
    )
    record = run_json(capsys, "flags", "get", "w", *url_args)
    assert (None, None) == (record["shadow"], record["queue"])


def test_set_rollout_names_the_plan_of_promote(capsys: pytest.CaptureFixture[str]) -> None:
    """``--rollout 1,10,100`` is kept with the flags; ``default`` clears it; a plan that does
    not end at 100 is refused with the field and nothing is written."""
    run(capsys, "flags", "set", "w", "--route", "celery", "--rollout", "1, 10,100", "--reason", "r")
    assert [1.0, 10.0, 100.0] == run_json(capsys, "flags", "get", "w")["rollout"]
    status, _, err = run(
        capsys, "flags", "set", "w", "--route", "celery", "--rollout", "5,50", "--reason", "r"
    )
    assert 2 == status
    assert "flag 'rollout': [5, 50] is not allowed" in err
    run(capsys, "flags", "set", "w", "--route", "celery", "--rollout", "default", "--reason", "r")
    record = run_json(capsys, "flags", "get", "w")
    assert ("rollout" not in record, 2) == (True, record["version"])  # the refusal wrote nothing


def test_set_changes_the_shadow_verdict_thresholds(capsys: pytest.CaptureFixture[str]) -> None:
    """The readiness verdict and the guard read these per worker; out-of-range values are
    refused by the model with the field's name; without a shadow there is nothing to set."""
    run(
        capsys,
        "flags", "set", "w", "--route", "legacy", "--shadow", "ray",
        "--min-comparisons", "200", "--max-p95-ratio", "2.5", "--max-mismatch-rate", "0",
        "--max-candidate-error-rate", "0.01", "--shadow-timeout", "30", "--alpha", "0.01",
        "--reason", "r",
    )  # fmt: skip
    shadow = run_json(capsys, "flags", "get", "w")["shadow"]
    assert (200, 2.5, 0, 0.01, 30, 0.01) == (
        shadow["min_comparisons"],
        shadow["max_candidate_p95_ratio"],
        shadow["max_mismatch_rate"],
        shadow["max_candidate_error_rate"],
        shadow["timeout_s"],
        shadow["alpha"],
    )
    bad_rate = ["--route", "legacy", "--max-mismatch-rate", "2"]
    status, _, err = run(capsys, "flags", "set", "w", *bad_rate, "--reason", "r")
    assert 2 == status
    assert "'shadow.max_mismatch_rate'" in err
    status, _, err = run(
        capsys, "flags", "set", "v", "--route", "legacy", "--min-comparisons", "5", "--reason", "r"
    )
    assert 2 == status
    assert "give --shadow ENGINE too" in err


def test_list_shows_a_table_and_json(
    capsys: pytest.CaptureFixture[str], url_args: list[str]
) -> None:
    """list prints one row per worker (human) and every record (JSON), plus the global switch."""
    run(capsys, "flags", "set", "b-worker", "--route", "hybrid", "--reason", "x", *url_args)
    run(
        capsys,
        "flags",
        "set",
        "a-worker",
        "--route",
        "celery",
        "--percent",
        "5",
        "--reason",
        "y",
        *url_args,
    )
    status, out, _ = run(capsys, "flags", "list", *url_args)
    lines = out.splitlines()
    assert 0 == status
    assert "global kill: off" in lines[0]
    assert lines[1].split()[:4] == ["WORKER", "ROUTE", "PERCENT", "BASE"]
    assert ["a-worker", "celery", "5%", "legacy"] == lines[2].split()[:4]
    assert ["b-worker", "hybrid", "100%", "legacy"] == lines[3].split()[:4]
    listed = run_json(capsys, "flags", "list", *url_args)
    assert (False, ["a-worker", "b-worker"]) == (listed["global_kill"], sorted(listed["workers"]))
    assert "hybrid" == listed["workers"]["b-worker"]["route"]


def test_get_of_an_unknown_worker_shows_the_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    """A worker never configured reads as the defaults: legacy, version 0."""
    status, out, _ = run(capsys, "flags", "get", "nobody")
    assert 0 == status
    assert "never configured" in out
    assert {"route": "legacy", "version": 0}.items() <= run_json(
        capsys, "flags", "get", "nobody"
    ).items()


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "field", "value", "allowed"),
    [
        (["--percent", "130"], "percent", "130", "a number from 0 to 100"),
        (["--percent", "lots"], "percent", "lots", "a number"),
        (["--base", "hybrid"], "base", "hybrid", "'legacy', 'celery', 'ray'"),
        (["--shadow", "ray", "--sample", "-1"], "shadow.sample", "-1", "from 0 to 1"),
        (["--sample", "0.5"], "shadow.sample", "0.5", "--shadow ENGINE"),
        (["--hybrid-mode", "smart"], "hybrid.mode", "'smart'", "'threshold', 'adaptive'"),
        (["--priority", "12"], "priority", "12", "from 0 to 9"),
        (["--fallback", "retry"], "fallback", "'retry'", "'legacy', 'fail'"),
        (["--retryable", "not a name"], "retries.retryable[0]", "'not a name'", "class name"),
        (["--reason", "   "], "reason", "'   '", "non-empty"),
    ],
)
def test_an_invalid_set_is_refused_in_one_line_and_writes_nothing(
    capsys: pytest.CaptureFixture[str],
    url_args: list[str],
    options: list[str],
    field: str,
    value: str,
    allowed: str,
) -> None:
    """Exit 2, one stderr line naming the field, the value and what is allowed; no change."""
    status, out, err = run(
        capsys,
        "flags",
        "set",
        "billing",
        "--route",
        "celery",
        "--reason",
        "try",
        *options,
        *url_args,
    )
    assert 2 == status
    assert "" == out
    assert 1 == len(err.strip().splitlines())
    assert f"'{field}'" in err
    assert value in err
    assert allowed in err
    assert {} == run_json(capsys, "flags", "list", *url_args)["workers"]
    assert [] == run_json(capsys, "flags", "history", "--all", *url_args)


def test_an_unknown_route_is_refused_by_the_model(capsys: pytest.CaptureFixture[str]) -> None:
    """--route kafka names the route field and the four allowed routes."""
    status, _, err = run(capsys, "flags", "set", "billing", "--route", "kafka", "--reason", "x")
    assert 2 == status
    assert (
        "'route': 'kafka' is not allowed; expected one of 'legacy', 'celery', 'ray', 'hybrid'"
        in err
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["flags", "set", "billing", "--route", "celery"],
        ["flags", "kill", "billing"],
        ["flags", "unkill", "--all"],
    ],
)
def test_every_change_requires_a_reason(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    """Without --reason the command line is refused (usage error, exit 2) and nothing changes."""
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert 2 == exited.value.code
    assert "--reason" in capsys.readouterr().err
    assert {} == run_json(capsys, "flags", "list")["workers"]


def test_a_stale_expected_version_is_a_conflict(
    capsys: pytest.CaptureFixture[str], url_args: list[str]
) -> None:
    """--expect-version of an older version is refused with a one-line conflict; nothing written."""
    run(capsys, "flags", "set", "billing", "--route", "celery", "--reason", "one", *url_args)
    run(capsys, "flags", "set", "billing", "--route", "ray", "--reason", "two", *url_args)
    status, _, err = run(
        capsys,
        "flags",
        "set",
        "billing",
        "--route",
        "legacy",
        "--expect-version",
        "1",
        "--reason",
        "three",
        *url_args,
    )
    assert 2 == status
    assert "expected version 1, the store has version 2" in err
    assert "ray" == run_json(capsys, "flags", "get", "billing", *url_args)["route"]
    status, _, _ = run(
        capsys,
        "flags",
        "set",
        "billing",
        "--route",
        "legacy",
        "--expect-version",
        "2",
        "--reason",
        "four",
        *url_args,
    )
    assert 0 == status


def test_an_unreachable_store_is_one_line_without_the_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--flags-url with a password to a dead port: exit 2, one line, password masked."""
    status, out, err = run(capsys, "flags", "list", "--flags-url", "redis://:hunter2@127.0.0.1:1/0")
    assert (2, "") == (status, out)
    assert 1 == len(err.strip().splitlines())
    assert "hunter2" not in err
    assert "redis://:***@127.0.0.1:1/0" in err


# --- kill / unkill / history --------------------------------------------------------------------


def test_kill_and_unkill_a_worker_and_everything(
    capsys: pytest.CaptureFixture[str], url_args: list[str]
) -> None:
    """kill WORKER sets its kill flag; kill --all the global switch; unkill reverses both."""
    run(capsys, "flags", "set", "billing", "--route", "celery", "--reason", "go", *url_args)
    assert (
        True
        is run_json(capsys, "flags", "kill", "billing", "--reason", "errors", *url_args)["kill"]
    )
    assert {"global_kill": True} == run_json(
        capsys, "flags", "kill", "--all", "--reason", "incident", *url_args
    )
    assert True is run_json(capsys, "flags", "list", *url_args)["global_kill"]
    _status, out, _ = run(capsys, "flags", "list", *url_args)
    assert "global kill: ON" in out
    assert "KILLED" in out
    run(capsys, "flags", "unkill", "--all", "--reason", "resolved", *url_args)
    record = run_json(capsys, "flags", "unkill", "billing", "--reason", "fixed", *url_args)
    assert (False, 3) == (record["kill"], record["version"])
    assert False is run_json(capsys, "flags", "list", *url_args)["global_kill"]


def test_kill_needs_exactly_one_of_worker_or_all(capsys: pytest.CaptureFixture[str]) -> None:
    """Neither or both of WORKER and --all is a usage error."""
    for argv in (
        ["flags", "kill", "--reason", "x"],
        ["flags", "kill", "w", "--all", "--reason", "x"],
    ):
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert 2 == exited.value.code
    capsys.readouterr()


def test_history_shows_who_when_why_and_old_to_new(
    capsys: pytest.CaptureFixture[str], url_args: list[str]
) -> None:
    """history lists each change with actor (default user@host), reason and the changed fields."""
    run(
        capsys,
        "flags",
        "set",
        "billing",
        "--route",
        "celery",
        "--percent",
        "10",
        "--reason",
        "start",
        *url_args,
    )
    run(
        capsys,
        "flags",
        "set",
        "billing",
        "--route",
        "celery",
        "--percent",
        "50",
        "--reason",
        "widen",
        "--actor",
        "bob@ops",
        *url_args,
    )
    run(capsys, "flags", "kill", "billing", "--reason", "errors", *url_args)
    entries = run_json(capsys, "flags", "history", "billing", *url_args)
    assert [
        ("set", default_actor(), "start", 1),
        ("set", "bob@ops", "widen", 2),
        ("kill", default_actor(), "errors", 3),
    ] == [(e["action"], e["actor"], e["reason"], e["version"]) for e in entries]
    assert (10.0, 50.0) == (entries[1]["old"]["percent"], entries[1]["new"]["percent"])
    status, out, _ = run(capsys, "flags", "history", "billing", *url_args)
    assert 0 == status
    assert "percent 10.0 -> 50.0" in out
    assert "kill no -> yes" in out
    assert "widen" in out
    assert "@" in default_actor()


def test_flags_without_a_subcommand_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    """``cutover flags`` alone shows the sub-commands and exits 2."""
    status, out, _ = run(capsys, "flags")
    assert 2 == status
    for command in ("list", "get", "set", "kill", "unkill", "history"):
        assert command in out


def test_the_environment_names_the_store(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    redis_url: str,
    tmp_path: Path,
) -> None:
    """With CUTOVER_FLAGS_URL set, the CLI writes there (and --flags-url still overrides it)."""
    monkeypatch.setenv("CUTOVER_FLAGS_URL", redis_url)
    run(capsys, "flags", "set", "billing", "--route", "ray", "--reason", "x")
    assert "ray" == open_store(redis_url).get("billing").route
    elsewhere = (tmp_path / "elsewhere.json").as_uri()
    assert {} == run_json(capsys, "flags", "list", "--flags-url", elsewhere)["workers"]
    assert ["billing"] == list(run_json(capsys, "flags", "list")["workers"])


# --- the real console script --------------------------------------------------------------------


def test_the_installed_console_script_sets_and_reads_flags(cutover_home: Path) -> None:
    """A real ``cutover flags`` subprocess: set succeeds, get --json returns the record, and a
    refusal exits 2 with one line on stderr."""
    assert CUTOVER.exists(), f"console script not installed at {CUTOVER}"

    def cutover(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(CUTOVER), "flags", *argv], capture_output=True, text=True, timeout=60
        )

    done = cutover(
        "set", "billing", "--route", "ray", "--percent", "30", "--reason", "from a shell"
    )
    assert 0 == done.returncode, done.stderr
    got = cutover("get", "billing", "--json")
    assert 0 == got.returncode, got.stderr
    assert ("ray", 30.0, "from a shell") == tuple(
        json.loads(got.stdout)[k] for k in ("route", "percent", "reason")
    )
    refused = cutover("set", "billing", "--route", "ray", "--percent", "130", "--reason", "x")
    assert 2 == refused.returncode
    assert [
        "cutover: error: flag 'percent': 130 is not allowed; expected a number from 0 to 100"
    ] == (refused.stderr.strip().splitlines())
    assert (cutover_home / "flags.json").exists()
