"""A Ray cluster with token authentication on, started separately (``ray start --head``
with ``RAY_AUTH_MODE=token``), joined by ``RAY_ADDRESS=host:port`` as a user would.

Before: with a wrong or missing token the first call blocked about 20 s (Ray's retries),
fell back to legacy, and cutover's error said only "Failed to connect to Ray cluster"; the
refusal was in Ray's native log lines. Now the error names it, and says where this process
looks for its token, without ever printing a token.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.services import REPO_ROOT
from tests.tooling.ray_head import RayHead

pytestmark = [pytest.mark.ray, pytest.mark.slow]

CUTOVER = Path(sys.executable).with_name("cutover")
TOKEN = secrets.token_hex(16)
"""The cluster's token (fresh per session; it must never appear in any output)."""


@pytest.fixture(scope="module")
def token_cluster(worker_logs: Path) -> Iterator[RayHead]:
    """A one-CPU Ray head with token authentication on; its workers import this checkout."""
    head = RayHead(
        {
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": TOKEN,
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p
            ),
        },
        worker_logs,
    )
    head.start()
    try:
        yield head
    finally:
        head.stop()


def check_ray(address: str, home: Path, **auth: str) -> tuple[int, dict[str, Any], str]:
    """``cutover engines ray --json`` against ``address`` with the given auth variables (and
    a HOME of its own, so no ~/.ray/auth_token of the machine is read)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")
    }
    env.update(
        {
            "RAY_ADDRESS": address,
            "HOME": str(home),
            "RAY_USAGE_STATS_ENABLED": "0",
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p
            ),
            **auth,
        }
    )
    done = subprocess.run(
        [str(CUTOVER), "engines", "ray", "--json", "--timeout", "150"],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=REPO_ROOT,
    )
    reports = json.loads(done.stdout or "[{}]")
    return done.returncode, reports[0], done.stdout + done.stderr


def test_a_wrong_token_is_named_as_an_authentication_refusal(
    token_cluster: RayHead, tmp_path: Path
) -> None:
    """A wrong token: exit 1, the detail says the cluster refused this process's
    authentication, quotes Ray's reason and where our token came from; no token printed."""
    status, report, output = check_ray(
        token_cluster.address, tmp_path, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN="not-the-token"
    )
    assert 1 == status, output
    detail = report["detail"]
    assert f"the Ray cluster at {token_cluster.address} (RAY_ADDRESS) refused" in detail
    assert "InvalidAuthToken" in detail
    assert "RAY_AUTH_MODE=token, a token in RAY_AUTH_TOKEN" in detail
    assert "not-the-token" not in output
    assert TOKEN not in output


def test_with_the_clusters_token_the_engine_starts(token_cluster: RayHead, tmp_path: Path) -> None:
    """The same cluster with its token: the engine starts and sees the one-CPU head (so the
    refusal above was the token, not the cluster)."""
    status, report, output = check_ray(
        token_cluster.address, tmp_path, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=TOKEN
    )
    assert 0 == status, output
    assert report["healthy"] is True
    assert "1 node(s)" in report["detail"]
    assert TOKEN not in output
