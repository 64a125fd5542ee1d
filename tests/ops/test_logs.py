"""Logging, configured once: JSON lines off a terminal, a console rendering on one, the level
from CUTOVER_LOG_LEVEL, secrets masked. Each case runs in a fresh interpreter, because the
renderer is chosen from the real stderr of the process."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time

from structlog.testing import capture_logs

from cutover.ops.rollout import rollback
from flags import FlagRecord, FlagStore
from tests.support.services import REPO_ROOT

LOG_LINES = (
    "from cutover.logs import get_logger\n"
    "log = get_logger('cutover.test')\n"
    "log.info('call', worker='billing', route='celery', call_id='c-1', flag_version=3,"
    " items=10, duration_ms=1.5, outcome='ok')\n"
    "log.warning('rollback', worker='billing', route='legacy', call_id='c-2', flag_version=4,"
    " url='redis://user:hunter2@redis:6379/0')\n"
)
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def run_logging(level: str | None) -> str:
    """Run LOG_LINES with stderr on a pipe (not a terminal); return stderr."""
    env = {k: v for k, v in os.environ.items() if k != "CUTOVER_LOG_LEVEL"}
    if level is not None:
        env["CUTOVER_LOG_LEVEL"] = level
    result = subprocess.run(
        [sys.executable, "-c", LOG_LINES],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=env,
        check=True,
    )
    return result.stderr


def test_json_lines_with_the_same_keys_when_stderr_is_not_a_terminal() -> None:
    """Each line is one JSON object carrying worker, route, call_id and flag_version."""
    lines = [json.loads(line) for line in run_logging(None).splitlines()]
    assert ["call", "rollback"] == [line["event"] for line in lines]
    for line in lines:
        assert {"worker", "route", "call_id", "flag_version", "level", "timestamp"} <= set(line)
    assert ("ok", 10, 1.5) == (lines[0]["outcome"], lines[0]["items"], lines[0]["duration_ms"])
    assert "redis://user:***@redis:6379/0" == lines[1]["url"]


def test_the_level_comes_from_cutover_log_level() -> None:
    """WARNING drops the info line; an unknown level falls back to INFO."""
    warning_only = [json.loads(line)["event"] for line in run_logging("WARNING").splitlines()]
    assert ["rollback"] == warning_only
    fallback = [json.loads(line)["event"] for line in run_logging("chatty").splitlines()]
    assert ["call", "rollback"] == fallback


def test_a_readable_console_rendering_on_a_terminal() -> None:
    """With stderr on a pseudo-terminal the lines are key=value text, not JSON."""
    primary, secondary = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "CUTOVER_LOG_LEVEL"}
    process = subprocess.Popen(
        [sys.executable, "-c", LOG_LINES],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=secondary,
    )
    os.close(secondary)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ready, _, _ = select.select([primary], [], [], 0.5)
        if ready:
            try:
                data = os.read(primary, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif process.poll() is not None:
            break
    os.close(primary)
    assert 0 == process.wait(30)
    text = ANSI.sub("", b"".join(chunks).decode(errors="replace"))
    lines = [line for line in text.splitlines() if line.strip()]
    assert 2 == len(lines), text
    assert not lines[0].lstrip().startswith("{")
    assert "call" in lines[0]
    assert "worker=billing" in lines[0]
    assert "flag_version=3" in lines[0]
    assert "hunter2" not in text


def test_rollout_log_lines_carry_worker_route_and_flag_version(store: FlagStore) -> None:
    """The rollback's warning names the worker, the route it now takes and the new version."""
    store.put(
        "billing", FlagRecord(route="celery", percent=50), expected_version=0, actor="a", reason="r"
    )
    with capture_logs() as logs:
        rollback("billing", "bad p99", "carol", store=store)
    (line,) = [entry for entry in logs if entry["event"] == "rollout_rolled_back"]
    assert ("billing", "legacy", 2, "warning") == (
        line["worker"],
        line["route"],
        line["flag_version"],
        line["log_level"],
    )
