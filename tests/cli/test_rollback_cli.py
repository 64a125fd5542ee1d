"""``cutover rollback`` of a mistyped worker, and ``NO_COLOR`` on a terminal: the real
``cutover`` console script in a subprocess, on a file flag store of the test's own."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest

from flags import FlagRecord, open_store

CUTOVER = Path(sys.executable).with_name("cutover")
ROOT = Path(__file__).resolve().parents[2]
ANSI = "\x1b["


@pytest.fixture
def flags_url(tmp_path: Path) -> str:
    """A file flag store holding ``billing`` at 50% on celery (a worker there is to roll back)."""
    url = f"file://{tmp_path / 'flags.json'}"
    store = open_store(url)
    try:
        store.put(
            "billing",
            FlagRecord(route="celery", percent=50),
            expected_version=0,
            actor="test",
            reason="halfway",
        )
    finally:
        store.close()
    return url


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of the subprocess: this checkout first on the path, no colour setting
    or flag store from the machine, a private CUTOVER_HOME."""
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "CUTOVER_FLAGS_URL")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env["CUTOVER_HOME"] = str(tmp_path / "home")
    env["CUTOVER_LOG_LEVEL"] = "INFO"
    env.update(extra)
    return env


def cutover(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """Run the ``cutover`` console script; return what it did."""
    assert CUTOVER.exists(), f"console script not installed at {CUTOVER}"
    return subprocess.run(
        [str(CUTOVER), *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env=cli_env(tmp_path),
        cwd=ROOT,
    )


def test_rollback_of_an_unknown_worker_exits_2_and_names_the_close_match(
    tmp_path: Path, flags_url: str
) -> None:
    """``rollback biling`` (a typo of billing) used to exit 0 with "already on its base" while
    billing kept 50% of its calls on celery: now exit 2, nothing written, the near name given."""
    done = cutover(tmp_path, "rollback", "biling", "--reason", "p99", "--flags-url", flags_url)
    assert 2 == done.returncode, (done.stdout, done.stderr)
    assert "" == done.stdout
    assert "no flags are recorded for worker 'biling'" in done.stderr
    assert "did you mean billing?" in done.stderr
    assert "--allow-new" in done.stderr
    store = open_store(flags_url)
    try:
        assert ["billing"] == store.list_workers()
        assert (1, 50.0) == (store.get("billing").version, store.get("billing").percent)
    finally:
        store.close()


def test_rollback_allow_new_accepts_a_worker_without_flags_and_writes_nothing(
    tmp_path: Path, flags_url: str
) -> None:
    """``--allow-new`` is the way to say the name is right: exit 0, nothing written, and the
    output says the worker has no flags rather than pretending it was rolled back."""
    done = cutover(
        tmp_path, "rollback", "fresh", "--reason", "x", "--allow-new", "--flags-url", flags_url
    )
    assert 0 == done.returncode, done.stderr
    assert "fresh: already on its base legacy (no flags recorded for it); nothing written" in (
        done.stdout
    )
    store = open_store(flags_url)
    try:
        assert ["billing"] == store.list_workers()
    finally:
        store.close()


def test_rollback_of_a_known_worker_still_works(tmp_path: Path, flags_url: str) -> None:
    """The check only refuses unknown names: billing goes from 50% to 0% and exits 0."""
    done = cutover(tmp_path, "rollback", "billing", "--reason", "p99", "--flags-url", flags_url)
    assert 0 == done.returncode, done.stderr
    assert "billing: rolled back, every call on legacy (celery 50% -> 0%, version 1 -> 2)" in (
        done.stdout
    )


def on_a_terminal(tmp_path: Path, argv: list[str], **env: str) -> tuple[int, str]:
    """Run ``cutover ARGV`` with stderr on a pseudo-terminal (so the log is rendered for a
    person, as in an operator's shell); return its exit status and what the terminal got."""
    master, slave = pty.openpty()
    try:
        process = subprocess.Popen(
            [str(CUTOVER), *argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=slave,
            env=cli_env(tmp_path, **env),
            cwd=ROOT,
        )
    finally:
        os.close(slave)
    chunks: list[bytes] = []
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 60)
            if not ready:
                break
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        status = process.wait(60)
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
            process.wait()
    return status, b"".join(chunks).decode("utf-8", "replace")


def test_no_color_turns_off_the_colours_of_log_lines_on_a_terminal(
    tmp_path: Path, flags_url: str
) -> None:
    """The rollback's warning line on a terminal is coloured by default and plain with
    NO_COLOR=1 (https://no-color.org); both runs must show the line itself."""
    argv = ["rollback", "billing", "--reason", "p99", "--flags-url", flags_url]
    status, coloured = on_a_terminal(tmp_path, argv)
    assert 0 == status, coloured
    assert "rollout_rolled_back" in coloured
    assert ANSI in coloured
    argv = ["rollback", "billing", "--reason", "again", "--flags-url", flags_url]
    store = open_store(flags_url)
    try:
        store.update("billing", lambda r: r.changed(percent=25), actor="t", reason="up again")
    finally:
        store.close()
    status, plain = on_a_terminal(tmp_path, argv, NO_COLOR="1")
    assert 0 == status, plain
    assert "rollout_rolled_back" in plain
    assert ANSI not in plain
