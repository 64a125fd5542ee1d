"""A Ray cluster of a test's own: ``ray start --head --block`` on free ports and a temp dir.

Several test sessions (and other people's Ray instances) share the machine, so the head
takes every port it opens from the OS and keeps its files in a directory of its own, and
it is stopped by process id only: SIGTERM to ``ray start --block`` (which stops what it
started), then SIGKILL to any process left whose command line names that directory.
``ray stop`` is never used: it would stop every Ray instance of the machine.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from tests.tooling.support import free_port


class RayHead:
    """One head node; ``address`` is its GCS ``host:port`` (what ``RAY_ADDRESS`` takes)."""

    def __init__(self, env: Mapping[str, str], log_dir: Path) -> None:
        # Short: Ray's socket paths under it must stay below the 107-byte limit.
        self.temp_dir = tempfile.mkdtemp(prefix="crh", dir="/tmp")
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.log_path = log_dir / f"ray-head-{self.port}.log"
        self.env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", **env}
        self.process: subprocess.Popen[bytes] | None = None

    def argv(self) -> list[str]:
        """``ray start --head --block`` with every port chosen here and one CPU."""
        worker_ports = free_port()
        return [
            str(Path(sys.executable).with_name("ray")),
            "start",
            "--head",
            "--block",
            f"--port={self.port}",
            f"--temp-dir={self.temp_dir}",
            "--num-cpus=1",
            "--object-store-memory=100000000",
            "--include-dashboard=false",
            "--disable-usage-stats",
            f"--node-manager-port={free_port()}",
            f"--object-manager-port={free_port()}",
            f"--dashboard-agent-listen-port={free_port()}",
            f"--dashboard-agent-grpc-port={free_port()}",
            f"--metrics-export-port={free_port()}",
            f"--runtime-env-agent-port={free_port()}",
            f"--min-worker-port={worker_ports}",
            f"--max-worker-port={worker_ports + 20}",
        ]

    def start(self, timeout_s: float = 90.0) -> None:
        """Start the head and wait until its GCS accepts connections."""
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.argv(),
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ray start exited early:\n{self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the Ray head did not listen within {timeout_s}s:\n{self.log()}")

    def log(self) -> str:
        """What ``ray start`` printed."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        """Stop this head only (by process id), then remove its directory."""
        import psutil

        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        for process in psutil.process_iter(["pid", "cmdline"]):
            cmdline = process.info.get("cmdline") or []
            if any(self.temp_dir in part for part in cmdline):
                with contextlib.suppress(psutil.Error):
                    process.kill()
        shutil.rmtree(self.temp_dir, ignore_errors=True)


__all__ = ["RayHead"]
