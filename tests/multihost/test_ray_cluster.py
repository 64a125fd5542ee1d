"""A Ray cluster across hosts: the head on the test host, worker nodes on two other hosts.

A production worker's process on the test host calls through the shim with ``RAY_ADDRESS``
set (:mod:`tests.multihost.ray_driver`). A node is killed (every process of its host) while
it runs a batch: Ray re-runs the batch on the other node and the call returns every item
once, equal to legacy. With the last CPU node dead too, a call gives up at its deadline
(``CUTOVER_CALL_TIMEOUT_S``) with a clear error, instead of waiting for a node forever.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.multihost import tasks
from tests.multihost.ray_cluster import node_env, start_head, start_node
from tests.support.netns import Host, Hosts
from tests.support.redis_server import RedisServer
from tests.support.services import REPO_ROOT
from tests.support.waiting import until_sync

pytestmark = [pytest.mark.multihost, pytest.mark.ray, pytest.mark.slow]

ITEMS = 4
CALL_DEADLINE_S = 90.0
LOST_CLUSTER_DEADLINE_S = 8.0


def namespace_of(host: Host) -> str:
    """What :func:`tasks.network_namespace` reports for a process on ``host``."""
    return f"net:[{os.stat(f'/run/netns/{host.namespace}').st_ino}]"


def run_driver(
    hosts: Hosts, address: str, coordination_url: str, key: str, deadline_s: float
) -> subprocess.Popen[bytes]:
    """Start the driver: one call of :data:`ITEMS` items, one per batch, all in flight."""
    env = node_env(coordination_url)
    env.update({"RAY_ADDRESS": address, "CUTOVER_CALL_TIMEOUT_S": f"{deadline_s:g}"})
    argv = [sys.executable, "-m", "tests.multihost.ray_driver", key, str(ITEMS), "1", str(ITEMS)]
    return hosts.spawn(None, argv, env, f"ray-driver-{key}.log", REPO_ROOT)


def outcome(hosts: Hosts, key: str, driver: subprocess.Popen[bytes], wait_s: float) -> Any:
    """The driver's JSON line, once it exited."""
    driver.wait(wait_s)
    log = (hosts.log_dir / f"ray-driver-{key}.log").read_text(errors="replace")
    lines = [line for line in log.splitlines() if line.startswith(('{"result"', '{"error"'))]
    assert lines, f"the driver printed no outcome:\n{log[-3000:]}"
    return json.loads(lines[-1])


def test_ray_node_killed_mid_call_is_retried_on_the_rest_then_the_deadline_holds(
    hosts: Hosts, host_redis: Callable[..., RedisServer], tmp_path: Path
) -> None:
    """Node A killed while it runs a batch: the call completes on node B, every item once.
    Node B killed too: the next call fails at its deadline, naming what to check."""
    node_a, node_b = hosts.add("ray-a"), hosts.add("ray-b")
    coordination_url = host_redis(node_a).url(3)
    os.environ[tasks.COORDINATION_ENV] = coordination_url
    tasks._client = None
    cluster = start_head(
        hosts, node_a, Path("/tmp") / f"cutover-mh-ray-{os.getpid()}", coordination_url
    )
    try:
        start_node(hosts, cluster, node_a, coordination_url)
        start_node(hosts, cluster, node_b, coordination_url)
        driver = run_driver(hosts, cluster.address, coordination_url, "kill", CALL_DEADLINE_S)
        where = tasks.coordination()
        on_a = namespace_of(node_a)
        until_sync(
            lambda: any(v.decode().startswith(on_a) for v in where.hvals("kill:where")),
            120,
            "a batch running on node A",
        )
        node_a.kill_all()
        killed = time.monotonic()
        done = outcome(hosts, "kill", driver, CALL_DEADLINE_S + 30)
        print(f"ray node killed: call done {time.monotonic() - killed:.1f}s after the kill")
        assert {"result": tasks.expected(list(range(ITEMS)))} == {"result": done.get("result")}
        reruns = {int(k): int(v) for k, v in where.hgetall("kill:runs").items()}
        assert any(count > 1 for count in reruns.values()), "no batch was re-run: nothing tested"

        node_b.kill_all()
        driver = run_driver(
            hosts, cluster.address, coordination_url, "lost", LOST_CLUSTER_DEADLINE_S
        )
        lost = outcome(hosts, "lost", driver, LOST_CLUSTER_DEADLINE_S + 90)
        assert "EngineTimeoutError" == lost.get("error"), lost
        assert "ray status" in lost["message"]
        assert lost["waited_s"] < LOST_CLUSTER_DEADLINE_S + 5
    finally:
        cluster.stop()
        os.environ.pop(tasks.COORDINATION_ENV, None)
        tasks._client = None
