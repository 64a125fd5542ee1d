"""Fixtures of the shadow tests: a flushed Redis database (6) and recorders that clean up."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from compat.shadow.recorders import (
    JsonlShadowRecorder,
    MemoryShadowRecorder,
    ShadowRecorder,
    reset_recorder,
)
from compat.shadow.recorders.redis_recorder import RedisShadowRecorder
from cutover.logs import configure_logging
from tests.flags.services import require_redis
from tests.support.services import redis_test_url

SHADOW_REDIS_URL = os.environ.get("CUTOVER_TEST_SHADOW_REDIS_URL", redis_test_url(6))
"""The database only these tests use and flush."""

RECORDER_KINDS = ("redis", "jsonl", "memory")

MakeRecorder = Callable[..., ShadowRecorder]


@pytest.fixture
def shadow_redis_url() -> Iterator[str]:
    """The shadow tests' Redis database, flushed before and after (skipped / failed if down)."""
    client = require_redis(SHADOW_REDIS_URL)
    yield SHADOW_REDIS_URL
    client.flushdb()
    client.close()


@pytest.fixture
def cutover_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private CUTOVER_HOME (so the default file store is empty) and no CUTOVER_FLAGS_URL."""
    home = tmp_path / "cutover-home"
    monkeypatch.setenv("CUTOVER_HOME", str(home))
    monkeypatch.delenv("CUTOVER_FLAGS_URL", raising=False)
    configure_logging()
    reset_recorder()
    yield home
    reset_recorder()


@pytest.fixture(params=RECORDER_KINDS)
def make_recorder(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeRecorder]:
    """A factory of recorders of one kind (each kind in turn); all are closed afterwards."""
    made: list[ShadowRecorder] = []
    kind = request.param
    url = request.getfixturevalue("shadow_redis_url") if kind == "redis" else ""

    def make(**options: Any) -> ShadowRecorder:
        recorder: ShadowRecorder
        if kind == "redis":
            recorder = RedisShadowRecorder(url, **options)
        elif kind == "jsonl":
            recorder = JsonlShadowRecorder(tmp_path / "records", **options)
        else:
            recorder = MemoryShadowRecorder(**options)
        made.append(recorder)
        return recorder

    yield make
    for recorder in made:
        recorder.close()
