"""Fixtures of the flag tests: an isolated ``CUTOVER_HOME``, real Redis, both stores.

``store_url`` / ``store`` are parametrized over every store implementation, so each contract
test runs against the file store and the Redis store alike. Hypothesis profiles are the
session-wide ones of ``tests/conftest.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cutover.logs import configure_logging
from flags import FlagStore, FlagTable, open_store, reset_table
from tests.flags.services import REDIS_URL, require_redis


@pytest.fixture(autouse=True)
def cutover_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own CUTOVER_HOME and no CUTOVER_FLAGS_URL from the machine."""
    home = tmp_path / "cutover-home"
    monkeypatch.setenv("CUTOVER_HOME", str(home))
    monkeypatch.delenv("CUTOVER_FLAGS_URL", raising=False)
    configure_logging()
    return home


@pytest.fixture(autouse=True)
def _forget_default_table() -> Iterator[None]:
    yield
    reset_table()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The URL of a flushed Redis database of these tests (skipped / failed if Redis is down)."""
    client = require_redis()
    yield REDIS_URL
    client.flushdb()
    client.close()


@pytest.fixture
def file_url(cutover_home: Path) -> str:
    """A file store in this test's CUTOVER_HOME."""
    return (cutover_home / "flags.json").as_uri()


@pytest.fixture(params=["file", "redis"])
def store_url(request: pytest.FixtureRequest, file_url: str) -> str:
    """The URL of each store implementation in turn."""
    if request.param == "redis":
        url: str = request.getfixturevalue("redis_url")
        return url
    return file_url


@pytest.fixture
def store(store_url: str) -> Iterator[FlagStore]:
    """An opened store of each implementation in turn."""
    opened = open_store(store_url)
    yield opened
    opened.close()


@pytest.fixture
def make_table() -> Iterator[Callable[..., FlagTable]]:
    """A factory of tables that are all closed at the end of the test."""
    tables: list[FlagTable] = []

    def make(*args: Any, **kwargs: Any) -> FlagTable:
        table = FlagTable(*args, **kwargs)
        tables.append(table)
        return table

    yield make
    for table in tables:
        table.close()
