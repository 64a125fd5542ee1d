"""A real headless Chromium (Debian's ``chromium`` package) for the report's tests.

Missing Chromium is a skip on a laptop but a failure in CI (``CI`` set), like a missing
service (:func:`tests.support.services.require_service`): ``.ci/run`` installs it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.services import IN_CI

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def require_chromium() -> str:
    """The path of ``chromium``; skip (laptop) or fail (CI) when it is not installed."""
    path = shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
    )
    if path is not None:
        return path
    message = "chromium is not installed (apt-get install chromium)"
    if IN_CI:
        pytest.fail(f"{message}: CI must provide it (.ci/run installs it)")
    pytest.skip(message)


def run_chromium(chromium: str, profile: Path, *args: str, timeout_s: float = 120.0) -> str:
    """Run headless Chromium with a private profile; return its stdout (fail on error)."""
    result = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    assert 0 == result.returncode, result.stderr[-4000:]
    return result.stdout


def dump_dom(chromium: str, page: Path, profile: Path) -> str:
    """The DOM of ``page`` after Chromium loaded it, serialized."""
    return run_chromium(chromium, profile, "--dump-dom", page.as_uri())


def screenshot(chromium: str, page: Path, profile: Path, target: Path) -> Path:
    """A 1280x2000 PNG of ``page`` at ``target``."""
    run_chromium(
        chromium, profile, f"--screenshot={target}", "--window-size=1280,2000", page.as_uri()
    )
    assert target.exists(), f"no screenshot at {target}"
    assert target.stat().st_size > 0, f"an empty screenshot at {target}"
    return target
