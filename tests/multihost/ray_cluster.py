"""A Ray cluster across hosts: the head on the test host, worker nodes on other hosts.

``ray start --block`` runs in the foreground, so each node is a process of ours (started in
a new process group). The head binds the test host's address of a host's link, with ports of
its own and its own temp dir, so it never meets another Ray on this machine; node death is
detected in about a second (health checks scaled down on the head). Stopping a node kills
its process group and every process that runs out of its session directory: never
``ray stop``, which would stop every Ray of the machine.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from tests.multihost import tasks
from tests.support.netns import Host, Hosts
from tests.support.private_services import free_port
from tests.support.services import REPO_ROOT

RAY = str(Path(sys.executable).with_name("ray"))
HEALTH_CHECKS = {
    # The head's GCS declares a node dead after ~1.5 s of silence instead of ~30 s.
    "RAY_health_check_initial_delay_ms": "1000",
    "RAY_health_check_period_ms": "500",
    "RAY_health_check_timeout_ms": "500",
    "RAY_health_check_failure_threshold": "3",
}
START_TIMEOUT_S = 120.0
AUTH_TOKEN = secrets.token_hex(32)
"""The cluster's own token (``RAY_AUTH_MODE=token``): every node and driver presents it,
and no file of the machine's (``~/.ray/auth_token``) is read or written."""


def node_env(coordination_url: str) -> dict[str, str]:
    """A node's environment: the repo on the path (task modules), coordination, no stats."""
    env = dict(os.environ)
    env.pop("RAY_ADDRESS", None)
    env.update(
        {
            "PYTHONPATH": str(REPO_ROOT),
            "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": AUTH_TOKEN,
            tasks.COORDINATION_ENV: coordination_url,
            **HEALTH_CHECKS,
        }
    )
    return env


@dataclass
class RayCluster:
    """The head's address and the processes of each node."""

    address: str
    temp_dir: Path
    head: subprocess.Popen[bytes]

    def processes_of(self, root: subprocess.Popen[bytes]) -> list[psutil.Process]:
        """``root`` and its descendants (Ray's daemons are children of ``ray start``)."""
        try:
            parent = psutil.Process(root.pid)
            return [parent, *parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def stop(self) -> None:
        """Kill the head and everything started out of this cluster's temp dir, then remove
        that directory."""
        victims = self.processes_of(self.head)
        for process in psutil.process_iter(["cmdline"]):
            with contextlib.suppress(psutil.Error):
                if str(self.temp_dir) in " ".join(process.info["cmdline"] or ()):
                    victims.append(process)
        for process in victims:
            with contextlib.suppress(psutil.Error):
                process.send_signal(signal.SIGKILL)
        with contextlib.suppress(psutil.Error):
            psutil.wait_procs(victims, timeout=10)
        shutil.rmtree(self.temp_dir, ignore_errors=True)  # the session's logs and sockets


def start_head(hosts: Hosts, link: Host, temp_dir: Path, coordination_url: str) -> RayCluster:
    """``ray start --head`` on the test host's address of ``link``, zero CPUs: the work runs
    on the worker nodes only."""
    port = free_port()
    ports = {
        "--port": port,
        "--object-manager-port": free_port(),
        "--node-manager-port": free_port(),
        "--metrics-export-port": free_port(),
        "--dashboard-agent-listen-port": free_port(),
        "--dashboard-agent-grpc-port": free_port(),
        "--runtime-env-agent-port": free_port(),
    }
    worker_ports = free_port()
    argv = [RAY, "start", "--head", "--block", "--node-ip-address", link.test_host_address]
    for flag, value in ports.items():
        argv += [flag, str(value)]
    argv += ["--min-worker-port", str(worker_ports), "--max-worker-port", str(worker_ports + 20)]
    argv += ["--num-cpus", "0", "--include-dashboard", "false", "--disable-usage-stats"]
    argv += ["--object-store-memory", str(100 * 1024 * 1024), "--temp-dir", str(temp_dir)]
    head = hosts.spawn(None, argv, node_env(coordination_url), "ray-head.log", REPO_ROOT)
    cluster = RayCluster(f"{link.test_host_address}:{port}", temp_dir, head)
    wait_started(head, hosts.log_dir / "ray-head.log")
    return cluster


def start_node(
    hosts: Hosts, cluster: RayCluster, host: Host, coordination_url: str
) -> subprocess.Popen[bytes]:
    """``ray start`` of a one-CPU worker node on ``host``, joined to the head."""
    argv = [RAY, "start", "--block", "--address", cluster.address]
    argv += ["--node-ip-address", host.address, "--num-cpus", "1", "--disable-usage-stats"]
    argv += ["--object-store-memory", str(100 * 1024 * 1024)]
    log_name = f"ray-node-{host.label}.log"
    node = hosts.spawn(host, argv, node_env(coordination_url), log_name, REPO_ROOT)
    wait_started(node, hosts.log_dir / log_name)
    return node


def wait_started(process: subprocess.Popen[bytes], log: Path) -> None:
    """Wait for ``ray start``'s "Ray runtime started" (a node has joined); fail with its log
    if it exits or hangs."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        if "Ray runtime started" in text:
            return
        if process.poll() is not None:
            raise RuntimeError(f"ray start exited: {text[-3000:]}")
        time.sleep(0.2)
    raise RuntimeError(f"ray start not ready after {START_TIMEOUT_S:g}s")
