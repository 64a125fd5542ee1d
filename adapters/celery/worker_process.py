"""Start and stop a real ``celery worker`` subprocess for cutover's app.

The demo, the benchmarks and the test suite all need real prefork workers next to them;
this is the one place that knows how to start one, wait until it is ready, find its pool
children and stop it (warm shutdown first, the whole process group if it hangs).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ground.constants import BROKER_URL_ENV, LOG_LEVEL_ENV, RESULT_BACKEND_ENV, TASK_MODULES_ENV


@dataclass
class CeleryWorkerProcess:
    """A real ``celery -A <app> worker`` subprocess (the engine's app unless told otherwise)."""

    broker_url: str
    backend_url: str
    queues: tuple[str, ...]
    task_modules: str
    concurrency: int = 2
    pool: str = "prefork"
    name: str = "cutover"
    cwd: Path | None = None
    extra_env: Mapping[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    app: str = "adapters.celery.app"
    """The ``-A`` module: the roof passes ``cutover.celery_app`` for a worker that also runs
    the guard (this layer may not import, or name, the roof)."""

    def env(self) -> dict[str, str]:
        """The worker's environment: broker, backend and the task allow-list."""
        env = dict(os.environ)
        env.update(
            {
                BROKER_URL_ENV: self.broker_url,
                RESULT_BACKEND_ENV: self.backend_url,
                TASK_MODULES_ENV: self.task_modules,
                LOG_LEVEL_ENV: env.get(LOG_LEVEL_ENV, "WARNING"),
            }
        )
        if self.cwd is not None:
            paths = [str(self.cwd), env.get("PYTHONPATH", "")]
            env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
        env.update(self.extra_env)
        return env

    def argv(self) -> list[str]:
        """The command line of the worker."""
        return [
            sys.executable,
            "-m",
            "celery",
            "-A",
            self.app,
            "worker",
            "--queues",
            ",".join(self.queues),
            "--pool",
            self.pool,
            "--concurrency",
            str(self.concurrency),
            "--loglevel",
            "INFO",
            "--hostname",
            f"{self.name}@%h",
            "--without-mingle",
            # A heartbeat is a blocking publish from the main loop: a partition blocked the
            # loop in it (see ``cutover worker celery``, which drops it unless --events).
            "--without-heartbeat",
            # Gossip stays on, as under ``cutover worker celery``: it only listens, and with
            # heartbeat, gossip and task events all off Celery builds the event dispatcher
            # disabled, so a monitor's ``enable_events`` (Flower, ``celery events``) could
            # never turn task events on.
        ]

    def start(self, log_dir: Path, timeout_s: float = 60.0) -> None:
        """Start the worker and wait until it is ready to consume."""
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"celery-{self.name}.log"
        with self.log_path.open("wb") as log_file:
            self.process = subprocess.Popen(
                self.argv(),
                cwd=self.cwd,
                env=self.env(),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.wait_ready(timeout_s)

    def wait_ready(self, timeout_s: float) -> None:
        """Wait for the worker's ``ready.`` line; raise with its log if it dies or hangs."""
        assert self.process is not None
        deadline = time.monotonic() + timeout_s
        offset = len(self.log_text())
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"celery worker exited early:\n{self.log_text()}")
            if " ready." in self.log_text()[offset:]:
                return
            time.sleep(0.1)
        raise RuntimeError(f"celery worker not ready after {timeout_s}s:\n{self.log_text()}")

    def log_text(self) -> str:
        """Everything the worker printed so far."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    @property
    def pid(self) -> int:
        """The main (parent) process id."""
        assert self.process is not None
        return self.process.pid

    def child_pids(self) -> list[int]:
        """The prefork pool's child process ids."""
        import psutil

        return [child.pid for child in psutil.Process(self.pid).children()]

    def running(self) -> bool:
        """True while the main process is alive."""
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout_s: float = 20.0) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL of the whole group if it hangs."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)


__all__ = ["CeleryWorkerProcess"]
