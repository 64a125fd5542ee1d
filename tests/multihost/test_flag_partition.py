"""The flag store (Redis on the test host) partitioned from a worker host.

The worker host runs a live flag table (:mod:`tests.multihost.flag_watcher`). Cut off, it
must keep routing by its last-known-good flags and say (log) that they are stale; a kill
switch an operator sets during the partition must be applied on the worker host within
:data:`KILL_APPLIED_WITHIN_S` of the heal.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import flags
from tests.support.netns import Hosts
from tests.support.redis_server import RedisServer
from tests.support.services import REPO_ROOT
from tests.support.waiting import until_sync

pytestmark = [pytest.mark.multihost, pytest.mark.slow]

WORKER = "mh-flags"
KILL_APPLIED_WITHIN_S = 1.0


def reports(log: Path) -> list[dict[str, Any]]:
    """The watcher's JSON lines so far (its log lines are skipped)."""
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    found = []
    for line in lines:
        if line.startswith('{"t"'):
            found.append(json.loads(line))
    return found


def last(log: Path) -> dict[str, Any]:
    """The watcher's latest report (``{}`` before its first)."""
    seen = reports(log)
    return seen[-1] if seen else {}


def test_flag_store_partition_keeps_last_flags_and_applies_a_kill_on_heal(
    hosts: Hosts, host_redis: Callable[..., RedisServer], tmp_path: Path
) -> None:
    """Cut off: last-known-good route kept, ``stale`` said and logged; healed: the kill set
    during the cut is applied within a second."""
    worker_host = hosts.add("worker")
    server = host_redis(worker_host, persistent=True)
    store = flags.open_store(server.url(0))
    try:
        store.update(WORKER, lambda r: r.changed(route="celery"), actor="ops@test", reason="mh")
        env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), CUTOVER_LOG_LEVEL="INFO")
        log_name = "flag-watcher.log"
        argv = [sys.executable, "-m", "tests.multihost.flag_watcher", server.url(0), WORKER]
        hosts.spawn(worker_host, [*argv, str(tmp_path / "snap.json")], env, log_name, REPO_ROOT)
        log = hosts.log_dir / log_name
        until_sync(lambda: last(log).get("route") == "celery", 30, "the worker host's flags")

        worker_host.partition()
        try:
            until_sync(lambda: last(log).get("stale") is True, 20, "the table to say stale")
            store.update(WORKER, lambda r: r.changed(kill=True), actor="ops@test", reason="mh")
            time.sleep(3)  # the operator's change is made well inside the partition
            during = last(log)
            assert (True, "celery", False) == (during["stale"], during["route"], during["kill"])
        finally:
            worker_host.heal()
        healed = time.time()
        until_sync(lambda: last(log).get("kill") is True, 30, "the kill switch on the worker")
        applied = next(r["t"] for r in reports(log) if r["kill"])

        print(f"flag store partition: kill applied {applied - healed:.2f}s after the heal")
        assert applied - healed <= KILL_APPLIED_WITHIN_S
        assert "stale" in log.read_text(errors="replace").lower()
    finally:
        store.close()
