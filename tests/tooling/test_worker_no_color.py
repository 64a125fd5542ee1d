"""``NO_COLOR`` on a terminal, for the Celery worker that ``cutover worker celery`` becomes:
its banner and log lines are coloured by default and plain with ``NO_COLOR=1``."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time

import pytest

from tests.support.services import REPO_ROOT
from tests.tooling.support import tooling_env

pytestmark = pytest.mark.celery

ANSI = b"\x1b["
WORKER = [sys.executable, "-m", "celery", "-A", "adapters.celery.app", "worker"]
WORKER += ["--hostname", "nocolor@%h", "--without-gossip", "--without-mingle"]


def worker_on_a_terminal(**env: str) -> bytes:
    """Start a solo worker of our app with its output on a pseudo-terminal, read until it
    is ready, stop it (this process only); return what the terminal got."""
    master, slave = pty.openpty()
    environ = {k: v for k, v in tooling_env(**env).items() if k != "NO_COLOR" or "NO_COLOR" in env}
    try:
        process = subprocess.Popen(
            [*WORKER, "--pool", "solo", "--queues", "cutover.no-color", "--loglevel", "INFO"],
            stdin=subprocess.DEVNULL,
            stdout=slave,
            stderr=slave,
            env=environ,
            cwd=REPO_ROOT,
            start_new_session=True,
        )
    finally:
        os.close(slave)
    out = b""
    try:
        deadline = time.monotonic() + 60
        while b" ready." not in out and time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1)
            if ready:
                try:
                    out += os.read(master, 65536)
                except OSError:
                    break
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        os.close(master)
    assert b" ready." in out, out.decode(errors="replace")
    return out


def test_no_color_turns_off_the_workers_colours() -> None:
    """Default: the worker's terminal output has ANSI colours; NO_COLOR=1: none."""
    assert ANSI in worker_on_a_terminal()
    assert ANSI not in worker_on_a_terminal(NO_COLOR="1")
