"""Helpers of the ops tests (fixtures are in ``conftest.py``)."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path

from tests.support.services import REPO_ROOT, redis_test_url

OPS_REDIS_URL = os.environ.get("CUTOVER_TEST_OPS_REDIS_URL", redis_test_url(7))
"""The Redis database only the ops tests use (flags and shadow records, as in production)."""

ARTIFACTS = REPO_ROOT / "tests" / "artifacts"
"""Where tests keep files for people to look at after a run (git-ignored)."""

WriteRecords = Callable[..., int]


def outcomes(**counts: int) -> list[str]:
    """``outcomes(match=990, mismatch=10)``: that many of each, spread over the sequence."""
    pool = [name for name, n in counts.items() for _ in range(n)]
    step = 7919  # a prime: visits every index once when it shares no factor with the length
    if not pool or math.gcd(step, len(pool)) != 1:
        return pool
    return [pool[(i * step) % len(pool)] for i in range(len(pool))]


def keep_artifact(path: Path) -> Path:
    """Copy ``path`` into ``tests/artifacts/`` (kept after the run); return the copy."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS / path.name
    target.write_bytes(path.read_bytes())
    return target
