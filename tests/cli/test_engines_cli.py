"""``cutover engines``: the real console script says why an engine cannot start here.

A route whose engine cannot start used to show as a warning line in the worker only (the
call fell back to legacy). The operator now gets the reason from a shell, with the same
environment as the workers, and exit status 1.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

CUTOVER = Path(sys.executable).with_name("cutover")
ROOT = Path(__file__).resolve().parents[2]


def engines(*argv: str, **env: str) -> tuple[int, Any, str]:
    """Run ``cutover engines ARGV --json`` with ``env`` added; (status, JSON, stderr)."""
    environ = dict(os.environ)
    environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), environ.get("PYTHONPATH", "")) if p
    )
    environ.update(env)
    done = subprocess.run(
        [str(CUTOVER), "engines", *argv, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=environ,
        cwd=ROOT,
    )
    return done.returncode, json.loads(done.stdout or "null"), done.stderr


@pytest.mark.skipif(
    importlib.util.find_spec("grpc") is not None,
    reason="the Ray Client (ray[client]) is installed here: a ray:// address may work",
)
def test_a_ray_client_address_without_the_ray_client_is_named_with_what_to_use() -> None:
    """``RAY_ADDRESS=ray://...`` with plain ``ray``: exit 1, and the detail says the Ray
    Client is missing and which address form to use instead (it was a warning about
    ``ray[client]`` inside the worker's log only)."""
    status, [report], err = engines("ray", RAY_ADDRESS="ray://127.0.0.1:10001")
    assert 1 == status, err
    assert ("ray", False) == (report["engine"], report["healthy"])
    assert "pip install 'ray[client]'" in report["detail"]
    assert "GCS address" in report["detail"]
    assert "host:6379" in report["detail"]


def test_an_unreachable_broker_is_unavailable_with_its_masked_url() -> None:
    """A Celery broker nobody listens on: exit 1, the broker named, its password masked."""
    status, [report], err = engines("celery", CUTOVER_BROKER_URL="redis://:hunter2@127.0.0.1:1/0")
    assert 1 == status, err
    assert ("celery", False) == (report["engine"], report["healthy"])
    assert "127.0.0.1:1" in report["detail"]
    assert "hunter2" not in json.dumps(report) + err


def test_an_unknown_engine_is_refused() -> None:
    """A typo is a clear error and exit status 2."""
    done = subprocess.run(
        [str(CUTOVER), "engines", "rey"], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert 2 == done.returncode
    assert "unknown engine rey: choose from celery, ray" in done.stderr


@pytest.mark.skipif(
    importlib.util.find_spec("grpc") is not None,
    reason="the Ray Client (ray[client]) is installed here: a ray:// address may work",
)
def test_flags_list_check_engines_names_the_route_that_cannot_start(tmp_path: Path) -> None:
    """``cutover flags list --check-engines``: the flags route billing's shadow and search
    to ray, which cannot start with this environment: the listing says so, names the
    workers and the reason, and exits 1; a worker on legacy only is not mentioned."""
    from flags import FlagRecord, ShadowConfig, open_store

    url = f"file://{tmp_path / 'flags.json'}"
    store = open_store(url)
    try:
        for worker, record in {
            "billing": FlagRecord(shadow=ShadowConfig(route="ray", sample=0.1)),
            "search": FlagRecord(route="ray", percent=5),
            "quiet": FlagRecord(route="legacy"),
        }.items():
            store.put(worker, record, expected_version=0, actor="t", reason="setup")
    finally:
        store.close()
    environ = dict(os.environ, RAY_ADDRESS="ray://127.0.0.1:10001", CUTOVER_HOME=str(tmp_path))
    environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
    )
    done = subprocess.run(
        [str(CUTOVER), "flags", "list", "--check-engines", "--flags-url", url],
        capture_output=True,
        text=True,
        timeout=120,
        env=environ,
        cwd=ROOT,
    )
    assert 1 == done.returncode, done.stderr
    [line] = [line for line in done.stdout.splitlines() if line.startswith("engine ")]
    assert line.startswith("engine ray cannot start here (flags of billing, search): ")
    assert "ray[client]" in line
