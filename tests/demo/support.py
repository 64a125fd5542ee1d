"""Helpers of the demo and bench tests: run a ``cutover`` command as a real subprocess and
find every process it left behind."""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

CUTOVER = Path(sys.executable).with_name("cutover")
TAG_ENV = "CUTOVER_TEST_RUN_TAG"
"""Set in the command's environment: every process it starts inherits it."""


@dataclass
class Finished:
    """A ``cutover`` subprocess that ran to its end."""

    status: int
    stdout: str
    stderr: str
    tag: str
    descendants: set[int] = field(default_factory=set)
    """Every process seen below it while it ran (sampled every 0.1 s)."""

    def left_running(self) -> list[str]:
        """Processes it started that are still alive: seen below it, or carrying its tag."""
        alive = set()
        for pid in self.descendants:
            if _alive(pid):
                alive.add(pid)
        for process in psutil.process_iter():
            try:
                if process.environ().get(TAG_ENV) == self.tag and _alive(process.pid):
                    alive.add(process.pid)
            except psutil.Error:
                continue
        return [f"{pid} {_name(pid)}" for pid in sorted(alive)]


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _name(pid: int) -> str:
    try:
        return " ".join(psutil.Process(pid).cmdline())[:80]
    except psutil.Error:
        return "?"


def run_cutover(
    *argv: str, cwd: Path, env: dict[str, str] | None = None, timeout_s: float = 240.0
) -> Finished:
    """Run ``cutover ARGV`` to its end, watching the processes it starts."""
    tag = secrets.token_hex(8)
    environment = {**os.environ, **(env or {}), TAG_ENV: tag}
    descendants: set[int] = set()
    with subprocess.Popen(
        [str(CUTOVER), *argv],
        cwd=cwd,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as process:
        deadline = time.monotonic() + timeout_s
        reader = _Reader(process)
        while process.poll() is None:
            with contextlib.suppress(psutil.Error):
                descendants |= {c.pid for c in psutil.Process(process.pid).children(True)}
            if time.monotonic() > deadline:
                process.kill()
                break
            time.sleep(0.1)
        stdout, stderr = reader.finish()
    time.sleep(0.5)  # let exiting processes be reaped
    return Finished(process.returncode, stdout, stderr, tag, descendants)


class _Reader:
    """Drains a subprocess's pipes in threads, so it never blocks on a full pipe."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        import threading

        self._chunks: dict[str, list[str]] = {"out": [], "err": []}
        self._threads = [
            threading.Thread(target=self._drain, args=(process.stdout, "out"), daemon=True),
            threading.Thread(target=self._drain, args=(process.stderr, "err"), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _drain(self, stream: object, key: str) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self._chunks[key].append(line)

    def finish(self) -> tuple[str, str]:
        for thread in self._threads:
            thread.join(timeout=30)
        return "".join(self._chunks["out"]), "".join(self._chunks["err"])
