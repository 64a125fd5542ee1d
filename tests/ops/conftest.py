"""Fixtures of the ops tests: a private CUTOVER_HOME, and a real Redis (database 7) holding
both the flags and the shadow records, as in production.

Database 7 is used by these tests only and flushed before and after each test that asks
for it (the Celery tests use 10/11, the flag tests 5, the shadow tests 6).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from compat import metrics
from compat.shadow.recorders import reset_recorder
from compat.shadow.recorders.redis_recorder import RedisShadowRecorder
from cutover.logs import configure_logging
from flags import FlagStore, open_store, reset_table
from tests.compat.shadow.strategies import make_record
from tests.flags.services import require_redis
from tests.ops.support import OPS_REDIS_URL, WriteRecords


@pytest.fixture(autouse=True)
def cutover_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private CUTOVER_HOME and no CUTOVER_FLAGS_URL from the machine; fresh counters."""
    home = tmp_path / "cutover-home"
    monkeypatch.setenv("CUTOVER_HOME", str(home))
    monkeypatch.delenv("CUTOVER_FLAGS_URL", raising=False)
    monkeypatch.delenv("CUTOVER_GUARD_INTERVAL_S", raising=False)
    monkeypatch.delenv("CUTOVER_GUARD_WINDOW_S", raising=False)
    configure_logging(force=True)
    metrics.reset()
    yield home
    reset_recorder()
    reset_table()
    metrics.reset()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The ops tests' Redis database, flushed before and after (skipped / failed if down)."""
    client = require_redis(OPS_REDIS_URL)
    yield OPS_REDIS_URL
    client.flushdb()
    client.close()


@pytest.fixture
def store(redis_url: str) -> Iterator[FlagStore]:
    """The Redis flag store of the ops database."""
    opened = open_store(redis_url)
    yield opened
    opened.close()


@pytest.fixture
def recorder(redis_url: str) -> Iterator[RedisShadowRecorder]:
    """The Redis shadow recorder beside that store (the one the shim writes to)."""
    opened = RedisShadowRecorder(redis_url)
    yield opened
    opened.close()


@pytest.fixture
def write_records(recorder: RedisShadowRecorder, store: FlagStore) -> WriteRecords:
    """Write real shadow records to Redis: ``write(worker, outcomes, at=..., **fields)``.

    ``outcomes`` is a sequence of outcome names, one record each, spread one millisecond
    apart ending at ``at`` (epoch seconds). Each carries the worker's flags version in the
    store now (what a worker process stamps), unless ``flag_version`` is given. Returns how
    many were written.
    """

    def write(
        worker: str,
        outcomes: Sequence[str],
        *,
        at: float,
        candidate: str = "celery",
        primary: str = "legacy",
        **fields: object,
    ) -> int:
        version = store.get(worker).version
        for index, outcome in enumerate(outcomes):
            extra: dict[str, object] = {"flag_version": version}
            if outcome == "mismatch":
                extra["diffs"] = (f"$[0].total: {index} != {index + 1}",)
            elif outcome == "candidate_error":
                extra["candidate_error"] = "ConnectionError: broker went away"
            elif outcome == "candidate_timeout":
                extra["candidate_latency_s"] = None
            recorder.record(
                make_record(
                    worker=worker,
                    call_id=f"{worker}-{index}",
                    outcome=outcome,
                    primary_route=primary,
                    candidate_route=candidate,
                    created_at=at - (len(outcomes) - index) * 0.001,
                    **{**extra, **fields},
                )
            )
        assert recorder.flush(10.0), "the records could not be written to Redis"
        return len(outcomes)

    return write
