"""Opt-in recording of calls for ``cutover replay``: what is written, redacted and skipped.

Real files in a temporary directory, the real shim on the legacy route; the recorder's
background thread writes them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import compat
import flags
from adapters import codec
from compat.shadow import call_recorder
from compat.shadow.call_recorder import CallRecorder, from_env
from compat.shadow.recorded_calls import RecordedCall, calls_file, read_calls, redact_items
from cutover.errors import ConfigurationError, InvalidArgumentError
from tests.compat.conftest import SetFlags
from tests.ops import replay_tasks

WORKER = "rec"


@pytest.fixture
def recorder(tmp_path: Path, set_flags: SetFlags) -> Iterator[CallRecorder]:
    """Worker ``rec`` (legacy, its shadow redacting ``card``) recorded to ``tmp_path``."""
    shadow = flags.ShadowConfig(route="celery", sample=0.0, redact=("card",))
    set_flags({WORKER: flags.FlagRecord(route="legacy", shadow=shadow)})
    installed = CallRecorder(tmp_path, frozenset({WORKER}), redact=("$[*].note",))
    previous = call_recorder.configure(installed)
    yield installed
    call_recorder.configure(previous)


async def call(worker: str, items: list[Any], func: Any = replay_tasks.price) -> list[Any]:
    """One routed batch call."""
    optimizer = compat.AsyncWorkerOptimizer(worker_id=worker)
    return await optimizer.optimize_batch_processing(items, func, 2, 3)


def files(directory: Path) -> list[Path]:
    """What ``directory`` holds."""
    return list(directory.iterdir())


def recorded(directory: Path) -> list[RecordedCall]:
    """The calls of ``rec`` on file."""
    return [c for _, c in read_calls(calls_file(directory, WORKER))]


async def test_a_recorded_call_keeps_its_items_types_and_loses_its_secrets(
    recorder: CallRecorder, tmp_path: Path
) -> None:
    """Everything a replay needs (reference, batch_size, max_concurrent, every item with its
    types) is on file; the worker's ``shadow.redact`` and CUTOVER_RECORD_REDACT paths are
    ``***``, also inside text; the call's result is untouched."""
    items = [
        {"id": 1, "qty": 2, "card": "4111-1111", "note": "x", "tags": ("a", b"b")},
        {"id": 2, "qty": 1, "card": "4222-2222", "note": "card=4222-2222", "tags": ()},
    ]
    assert [6, 3] == [r["total"] for r in await call(WORKER, items)]
    assert recorder.flush()
    [entry] = recorded(tmp_path)
    assert ("tests.ops.replay_tasks:price", 2, 3, 2, True) == (
        entry.reference,
        entry.batch_size,
        entry.max_concurrent,
        entry.item_count,
        entry.shadow_safe,
    )
    replayed = codec.decode(entry.items)
    assert {"id": 1, "qty": 2, "card": "***", "note": "***", "tags": ("a", b"b")} == replayed[0]
    assert "4111-" not in calls_file(tmp_path, WORKER).read_text()
    assert "4222-" not in calls_file(tmp_path, WORKER).read_text()
    assert ("card", "$[*].note") == entry.redacted


async def test_what_cannot_be_replayed_is_skipped_and_counted(
    recorder: CallRecorder, tmp_path: Path
) -> None:
    """A lambda (not importable elsewhere), an item the codec cannot carry and a call over
    the size cap are not recorded; each reason is counted; the calls still return."""
    recorder.max_bytes = 2000
    assert ["int"] == await call(WORKER, [1], lambda x: replay_tasks.shape(x))
    assert ["object"] == await call(WORKER, [object()], replay_tasks.shape)
    big = [{"id": i, "qty": 1, "card": "c", "note": "n" * 100} for i in range(50)]
    assert 50 == len(await call(WORKER, big))
    await call(WORKER, [{"id": 9, "qty": 1, "card": "c"}])
    assert recorder.flush()
    assert {"not_portable": 1, "not_encodable": 1, "too_large": 1} == dict(recorder.skipped)
    assert [9] == [codec.decode(c.items)[0]["id"] for c in recorded(tmp_path)]


async def test_only_named_workers_and_a_sampled_share_are_recorded(
    recorder: CallRecorder, tmp_path: Path
) -> None:
    """Other workers pay nothing and leave no file; ``sample`` 0 records nothing."""
    await call("other", [{"id": 1, "qty": 1, "card": "c"}])
    recorder.sample = 0.0
    await call(WORKER, [{"id": 1, "qty": 1, "card": "c"}])
    assert recorder.flush()
    assert [] == files(tmp_path)


async def test_a_full_file_stops_growing(recorder: CallRecorder, tmp_path: Path) -> None:
    """Past CUTOVER_RECORD_MAX_FILE_MB the worker's file is left as it is (counted)."""
    recorder.max_file_bytes = 1000
    for n in range(10):
        await call(WORKER, [{"id": n, "qty": 1, "card": "c"}])
    assert recorder.flush()
    assert calls_file(tmp_path, WORKER).stat().st_size <= 1000
    assert recorder.skipped["file_full"] >= 1
    assert len(recorded(tmp_path)) + recorder.skipped["file_full"] == 10


def test_the_environment_turns_it_on(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Off by default; CUTOVER_RECORD_* configure it; a bad number names the variable."""
    monkeypatch.delenv(call_recorder.WORKERS_ENV, raising=False)
    assert from_env() is None
    monkeypatch.setenv(call_recorder.WORKERS_ENV, "billing, search")
    monkeypatch.setenv(call_recorder.DIR_ENV, str(tmp_path))
    monkeypatch.setenv(call_recorder.SAMPLE_ENV, "0.25")
    monkeypatch.setenv(call_recorder.REDACT_ENV, "password,$[*].card")
    configured = from_env()
    assert configured is not None
    assert (frozenset({"billing", "search"}), 0.25, ("password", "$[*].card"), tmp_path) == (
        configured.workers,
        configured.sample,
        configured.redact,
        configured.directory,
    )
    monkeypatch.setenv(call_recorder.WORKERS_ENV, "*")
    assert from_env().workers is None  # type: ignore[union-attr]
    monkeypatch.setenv(call_recorder.SAMPLE_ENV, "2")
    with pytest.raises(ConfigurationError, match="CUTOVER_RECORD_SAMPLE='2'"):
        from_env()


def test_redaction_keeps_every_item_and_type() -> None:
    """Unlike a shadow record's sample (20 items, lists for tuples), nothing else changes;
    a secret inside text (``name=value``) is scrubbed as in shadow records."""
    items = [(i, {"password": "p", "k": {1, 2}, "memo": f"Password={i}!"}) for i in range(30)]
    redacted = redact_items(items, ("password",))
    expected = [(i, {"password": "***", "k": {1, 2}, "memo": "Password=***"}) for i in range(30)]
    assert expected == redacted


def test_a_malformed_line_says_where(tmp_path: Path) -> None:
    """A damaged calls file is an error naming the file and line, not a crash mid-replay."""
    path = calls_file(tmp_path, WORKER)
    path.write_text('{"format": 1}\n')
    with pytest.raises(InvalidArgumentError, match=r"calls-rec\.jsonl:1: not a recorded call"):
        list(read_calls(path))
