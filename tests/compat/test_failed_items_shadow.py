"""Shadow records name the items that raised, with their redacted input, on real engines.

A batch of 12 where item 7 raises ``ValueError`` only in a worker (Celery prefork, local
Ray): as the candidate, the record names index 7 with its input (the card number hidden);
as the primary, the caller still gets the task's own ``ValueError`` with legacy's message,
and the record names index 7 on the primary's side. A legacy side names its failing item
only when the call is shadowed; an unshadowed legacy call runs the legacy code untouched.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

import compat
import flags
from adapters import item_errors
from compat.shadow.recorders import MemoryShadowRecorder
from compat.shadow.records import (
    BOTH_FAILED,
    CANDIDATE_ERROR,
    MISMATCH,
    ItemMismatch,
    ShadowRecord,
)
from compat.shadow.redact import REDACTED
from compat.shadow.runner import ShadowRunner
from ground.errors import InvalidArgumentError
from tests.compat import shadow_tasks
from tests.compat.conftest import SetFlags
from tests.compat.shadow.strategies import make_record

pytestmark = pytest.mark.usefixtures("live_engines")

WORKER = "equiv"
ITEMS = [{"n": i, "card": f"4111-0000-0000-{i:04d}"} for i in range(12)]
BATCH_SIZE = 5  # item 7 is the third of the second batch
REDACT = ("$[*].card",)


@pytest.fixture(autouse=True)
def caller_pid() -> Iterator[None]:
    """Mark this process as the caller (workers see ``None``)."""
    shadow_tasks.CALLER_PID = os.getpid()
    yield
    shadow_tasks.CALLER_PID = None


async def shadowed_call(
    set_flags: SetFlags,
    primary: str,
    candidate: str,
    task: Any = shadow_tasks.item_7_refused_in_worker,
) -> tuple[Any, Any]:
    """One shadowed batch call; ``(result or raised exception, the record)``."""
    recorder = MemoryShadowRecorder()
    runner = ShadowRunner(recorder=recorder)
    config = flags.ShadowConfig(route=candidate, sample=1.0, timeout_s=20.0, redact=REDACT)
    set_flags({WORKER: flags.FlagRecord(route=primary, shadow=config)}, shadows=runner)
    optimizer = compat.AsyncWorkerOptimizer(worker_id=WORKER)
    outcome: Any
    try:
        outcome = await optimizer.optimize_batch_processing(ITEMS, task, BATCH_SIZE, 2)
    except ValueError as exc:
        outcome = exc
    await runner.drain(30)
    [record] = recorder.read(WORKER)
    return outcome, record


def named_item_7(record: ShadowRecord, *sides: str) -> None:
    """The record names item 7 alone, input redacted, with the side(s) that raised it."""
    [item] = record.failed_items
    assert 7 == item.index
    assert {"n": 7, "card": REDACTED} == item.input
    assert tuple(f"$[7]: {side} raised ValueError: item 7 refused" for side in sides) == (
        item.diffs
    )
    assert "4111-0000" not in str(record.to_dict())


@pytest.mark.parametrize("candidate", ["celery", "ray"])
async def test_a_candidate_failing_on_item_7_is_named_with_its_redacted_input(
    set_flags: SetFlags, candidate: str
) -> None:
    """Legacy primary returns; the remote candidate raises on item 7 of 12: the record says
    candidate_error and names index 7 with its redacted input."""
    value, record = await shadowed_call(set_flags, "legacy", candidate)
    assert list(range(12)) == value
    assert CANDIDATE_ERROR == record.outcome
    assert "ValueError: item 7 refused" == record.candidate_error
    named_item_7(record, "candidate")


@pytest.mark.parametrize("primary", ["celery", "ray"])
async def test_a_shadowed_remote_primary_failing_on_item_7_keeps_the_callers_exception(
    set_flags: SetFlags, primary: str
) -> None:
    """The caller gets the task's ValueError, type, args and message unchanged; the record
    (legacy candidate returned) names index 7 on the primary's side."""
    raised, record = await shadowed_call(set_flags, primary, "legacy")
    assert isinstance(raised, ValueError)
    assert (ValueError, ("item 7 refused",)) == (type(raised), raised.args)
    assert MISMATCH == record.outcome
    named_item_7(record, "primary")


async def unshadowed_legacy_error(set_flags: SetFlags) -> ValueError:
    """The same call on legacy without a shadow: what the caller gets there."""
    set_flags({WORKER: flags.FlagRecord(route="legacy")})
    optimizer = compat.AsyncWorkerOptimizer(worker_id=WORKER)
    with pytest.raises(ValueError, match="item 7 refused") as raised:
        await optimizer.optimize_batch_processing(
            ITEMS, shadow_tasks.item_7_refused_in_caller, BATCH_SIZE, 2
        )
    return raised.value


@pytest.mark.parametrize("candidate", ["celery", "ray"])
async def test_a_shadowed_legacy_primary_names_its_failing_item(
    set_flags: SetFlags, candidate: str
) -> None:
    """Legacy primary raises on item 7, the remote candidate returns: the caller gets the
    same exception as an unshadowed legacy call (type, args, message), the record names
    item 7 on the primary's side; the unshadowed call's exception names nothing."""
    unshadowed = await unshadowed_legacy_error(set_flags)
    assert () == item_errors.failed_items(unshadowed)
    raised, record = await shadowed_call(
        set_flags, "legacy", candidate, shadow_tasks.item_7_refused_in_caller
    )
    assert (type(unshadowed), unshadowed.args) == (type(raised), raised.args)
    assert MISMATCH == record.outcome
    named_item_7(record, "primary")


@pytest.mark.parametrize(("primary", "candidate"), [("legacy", "celery"), ("ray", "legacy")])
async def test_both_sides_failing_on_item_7_both_name_it(
    set_flags: SetFlags, primary: str, candidate: str
) -> None:
    """Item 7 raises everywhere: both_failed, and item 7 carries one line per side."""
    raised, record = await shadowed_call(set_flags, primary, candidate, shadow_tasks.item_7_refused)
    assert (ValueError, ("item 7 refused",)) == (type(raised), raised.args)
    assert BOTH_FAILED == record.outcome
    named_item_7(record, "primary", "candidate")


def test_failed_items_round_trip_and_older_records_read_without_them() -> None:
    """The field survives JSON; a record written before it reads with none."""
    failed = (ItemMismatch(7, {"n": 7}, ("$[7]: candidate raised ValueError: x",)),)
    record = make_record(outcome=CANDIDATE_ERROR, failed_items=failed)
    assert record == ShadowRecord.from_dict(record.to_dict())
    older = {k: v for k, v in record.to_dict().items() if k != "failed_items"}
    assert () == ShadowRecord.from_dict(older).failed_items


async def test_a_handler_batch_failure_names_no_item(set_flags: SetFlags) -> None:
    """An engine runs a batch handler as a one-item map over the whole batch: its "item 0"
    is the batch, not the batch's first item, so the record names no item rather than a
    wrong one."""
    recorder = MemoryShadowRecorder()
    runner = ShadowRunner(recorder=recorder)
    config = flags.ShadowConfig(route="celery", sample=1.0, timeout_s=20.0)
    set_flags({WORKER: flags.FlagRecord(route="legacy", shadow=config)}, shadows=runner)
    processor = compat.AsyncBatchProcessor(batch_size=3, timeout=60, worker_id=WORKER)
    processor.set_handler(shadow_tasks.handler_refusing_7_in_worker)
    futures = [await processor.add_item(item) for item in (5, 6, 7)]
    assert [10, 12, 14] == [future.result() for future in futures]
    await runner.drain(30)
    [record] = recorder.read(WORKER)
    assert ("handler", CANDIDATE_ERROR) == (record.operation, record.outcome)
    assert "ValueError: batch with 7 refused" == record.candidate_error
    assert () == record.failed_items


@pytest.mark.parametrize("candidate", ["celery", "ray"])
async def test_a_pipeline_stage_failing_on_item_7_is_named(
    set_flags: SetFlags, candidate: str
) -> None:
    """A two-stage pipeline whose second stage raises on item 7 in a worker: the record
    names item 7 of the pipeline's input (the engine cuts the items into chunks)."""
    recorder = MemoryShadowRecorder()
    runner = ShadowRunner(recorder=recorder)
    config = flags.ShadowConfig(route=candidate, sample=1.0, timeout_s=20.0, redact=REDACT)
    set_flags({WORKER: flags.FlagRecord(route="legacy", shadow=config)}, shadows=runner)
    stages = [shadow_tasks.pure_identity, shadow_tasks.item_7_refused_in_worker]
    pipeline = compat.Pipeline(stages, worker_id=WORKER)
    assert list(range(12)) == await pipeline.process(ITEMS)
    await runner.drain(30)
    [record] = recorder.read(WORKER)
    assert ("pipeline", CANDIDATE_ERROR) == (record.operation, record.outcome)
    named_item_7(record, "candidate")


@pytest.mark.parametrize("bad", ["7", [7], [{"input": 1}]])
def test_a_malformed_failed_items_field_is_refused_by_name(bad: Any) -> None:
    """A stored record whose ``failed_items`` is not a list of items is refused, and the
    error names that field (not ``item_mismatches``)."""
    data = {**make_record().to_dict(), "failed_items": bad}
    with pytest.raises(InvalidArgumentError, match="'failed_items'"):
        ShadowRecord.from_dict(data)
