"""Recorders: one contract for Redis, JSON lines and memory; capped; never raising when down."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from compat.shadow.recorders import (
    JsonlShadowRecorder,
    RedisShadowRecorder,
    get_recorder,
    open_recorder,
    reset_recorder,
)
from compat.shadow.recorders.base import ShadowRecorder
from cutover.errors import ConfigurationError, FlagStoreError
from tests.compat.shadow.conftest import MakeRecorder
from tests.compat.shadow.strategies import make_record
from tests.flags.services import TcpProxy
from tests.support.services import TEST_REDIS_HOST, TEST_REDIS_PORT


def test_round_trip(make_recorder: MakeRecorder) -> None:
    """What is recorded reads back equal, per worker, oldest first."""
    recorder = make_recorder()
    written = [
        make_record(worker=worker, call_id=f"{worker}-{n}", sample_input={"n": [n, "x"]})
        for n in range(5)
        for worker in ("billing", "mail/eu:1@x")
    ]
    for record in written:
        recorder.record(record)
    assert recorder.flush()
    assert ["billing", "mail/eu:1@x"] == recorder.workers()
    assert [r for r in written if r.worker == "billing"] == recorder.read("billing")
    assert len(written) == len(recorder.read())
    assert 0 == recorder.dropped


def test_read_limit_keeps_the_newest(make_recorder: MakeRecorder) -> None:
    """read(limit=N) returns the newest N records of a worker, oldest first."""
    recorder = make_recorder()
    for n in range(10):
        recorder.record(make_record(call_id=str(n)))
    assert recorder.flush()
    assert ["7", "8", "9"] == [record.call_id for record in recorder.read("w", limit=3)]
    assert [] == recorder.read("nobody")


def test_redis_streams_are_capped(shadow_redis_url: str) -> None:
    """A worker's stream is trimmed to about maxlen (Redis trims whole nodes: ~100 slack)."""
    recorder = RedisShadowRecorder(shadow_redis_url, maxlen=50)
    try:
        for n in range(1000):
            recorder.record(make_record(call_id=str(n)))
        assert recorder.flush()
        length = recorder.stream_length("w")
        assert 50 <= length <= 200, length
        assert "999" == recorder.read("w")[-1].call_id
    finally:
        recorder.close()


def test_jsonl_files_are_capped(tmp_path: Path) -> None:
    """A worker's file is rewritten with its newest max_records once it grows 10% past them."""
    recorder = JsonlShadowRecorder(tmp_path, max_records=50, batch_size=7)
    try:
        for n in range(500):
            recorder.record(make_record(call_id=str(n)))
        assert recorder.flush()
        assert 50 <= recorder.line_count("w") <= 55 + 7
        assert "499" == recorder.read("w")[-1].call_id
    finally:
        recorder.close()


def test_two_jsonl_recorders_share_a_directory(tmp_path: Path) -> None:
    """Concurrent writers of one file (the lock) never interleave lines."""
    recorders = [JsonlShadowRecorder(tmp_path, batch_size=3) for _ in range(2)]

    def write(recorder: JsonlShadowRecorder, name: str) -> None:
        for n in range(300):
            recorder.record(make_record(call_id=f"{name}-{n}", sample_input="x" * 200))

    threads = [
        threading.Thread(target=write, args=(recorder, str(i)))
        for i, recorder in enumerate(recorders)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for recorder in recorders:
        assert recorder.flush()
        recorder.close()
    assert 600 == len(JsonlShadowRecorder(tmp_path).read("w"))
    assert 600 == recorders[0].line_count("w")


def test_redis_down_never_raises_nor_blocks() -> None:
    """Nothing listens: record() returns at once, drops when full, counts failures, logs once."""
    recorder = RedisShadowRecorder("redis://:pw@127.0.0.1:1/6", queue_size=50)
    try:
        with capture_logs() as logs:
            started = time.perf_counter()
            for n in range(2000):
                recorder.record(make_record(call_id=str(n)))
            elapsed = time.perf_counter() - started
            assert not recorder.flush(timeout_s=5.0)
        assert elapsed < 0.5, elapsed
        assert recorder.dropped > 0
        assert recorder.failed > 0
        assert 2000 == recorder.dropped + recorder.failed
        outages = [entry for entry in logs if entry["event"] == "shadow_recorder_unavailable"]
        assert 1 == len(outages), logs
        assert "pw" not in str(outages[0]["target"])
        with pytest.raises(FlagStoreError, match=r"127\.0\.0\.1:1"):
            recorder.read("w")
    finally:
        recorder.close()


def test_outage_and_recovery_are_logged_once_each(shadow_redis_url: str) -> None:
    """Cut Redis, then restore it: one `unavailable` line, one `recovered`, records flow again."""
    proxy = TcpProxy((TEST_REDIS_HOST, TEST_REDIS_PORT))
    recorder = RedisShadowRecorder(f"redis://127.0.0.1:{proxy.port}/6")
    try:
        with capture_logs() as logs:
            recorder.record(make_record(call_id="before"))
            assert recorder.flush()
            proxy.cut()
            recorder.record(make_record(call_id="lost"))
            assert not recorder.flush()
            proxy.restore()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                recorder.record(make_record(call_id="after"))
                if recorder.flush() and recorder.written >= 2:
                    break
                time.sleep(0.1)
        events = [entry["event"] for entry in logs if entry["event"].startswith("shadow_recorder")]
        assert ["shadow_recorder_unavailable", "shadow_recorder_recovered"] == events
        assert recorder.failed >= 1
        assert "after" == recorder.read("w")[-1].call_id
    finally:
        recorder.close()
        proxy.close()


def test_closed_recorder_drops(make_recorder: MakeRecorder) -> None:
    """After close(), record() still never raises: it drops and counts."""
    recorder = make_recorder()
    recorder.close()
    recorder.record(make_record())
    assert 1 == recorder.dropped


def test_open_recorder_chooses_by_scheme(cutover_home: Path, shadow_redis_url: str) -> None:
    """redis:// -> Redis streams; file:// -> JSON lines beside the flags file (default home)."""
    redis_recorder = open_recorder(shadow_redis_url)
    file_recorder = open_recorder((cutover_home / "elsewhere" / "flags.json").as_uri())
    default = open_recorder()
    try:
        assert isinstance(redis_recorder, RedisShadowRecorder)
        assert isinstance(file_recorder, JsonlShadowRecorder)
        assert cutover_home / "elsewhere" == file_recorder.directory
        assert isinstance(default, JsonlShadowRecorder)
        assert cutover_home == default.directory
        assert isinstance(default, ShadowRecorder)
    finally:
        for recorder in (redis_recorder, file_recorder, default):
            recorder.close()
    with pytest.raises(ConfigurationError, match="unknown scheme 'memcached'"):
        open_recorder("memcached://127.0.0.1")


def test_process_wide_recorder(cutover_home: Path) -> None:
    """get_recorder() is one recorder per process until reset_recorder()."""
    first = get_recorder()
    assert first is get_recorder()
    first.record(make_record())
    reset_recorder()
    second = get_recorder()
    assert second is not first
    assert 1 == len(second.read("w"))
    assert (cutover_home / "shadow-w.jsonl").is_file()
