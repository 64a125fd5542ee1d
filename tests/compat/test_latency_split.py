"""The latency split through the shim: metrics and shadow records, with real engines.

"Celery is slower" and "the queue is backed up" must be told apart from what the shim
records: per batch in the ``cutover_batch_queue_wait_seconds`` / ``_execution_seconds``
histograms, and per side of every shadow record. Calls run on a real prefork Celery worker
and a real local Ray; the metrics are read back through the real Prometheus collector.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

import compat
import flags
from compat import metrics
from compat.shadow.recorders import MemoryShadowRecorder
from compat.shadow.records import MATCH, ShadowRecord
from compat.shadow.runner import ShadowRunner
from cutover.ops.prometheus import build_registry
from tests.compat import shadow_tasks
from tests.compat.conftest import SetFlags

pytestmark = pytest.mark.usefixtures("live_engines")

WORKER = "equiv"
ITEMS = list(range(8))
BATCH_SIZE = 2  # four batches


@pytest.fixture(autouse=True)
def caller_pid() -> Iterator[None]:
    """Mark this process as the caller (workers see ``None``)."""
    shadow_tasks.CALLER_PID = os.getpid()
    yield
    shadow_tasks.CALLER_PID = None


def scraped() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The collector's output as Prometheus parses it: ``(sample, labels) -> value``."""
    table = flags.FlagTable.static({})
    text = generate_latest(build_registry(lambda: table)).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def call(worker: str = WORKER) -> list[Any]:
    """One routed batched map of eight items in four batches."""
    optimizer = compat.AsyncWorkerOptimizer(worker_id=worker)
    return await optimizer.optimize_batch_processing(ITEMS, shadow_tasks.pure_double, BATCH_SIZE, 2)


@pytest.mark.parametrize("route", ["celery", "ray"])
async def test_a_remote_route_counts_each_batchs_wait_and_run(
    set_flags: SetFlags, route: str
) -> None:
    """Four batches on a real engine: four observations in each histogram, exported with
    the worker and route labels; the call's own histogram is unchanged beside them."""
    set_flags({WORKER: flags.FlagRecord(route=route)})
    assert [2 * i for i in ITEMS] == await call()
    split = metrics.split_snapshot()
    assert 4 == split[WORKER, route, "queue_wait"].count
    assert 4 == split[WORKER, route, "execution"].count
    assert split[WORKER, route, "execution"].sum_s > 0
    labels = (("route", route), ("worker", WORKER))
    samples = scraped()
    assert 4 == samples[("cutover_batch_queue_wait_seconds_count", labels)]
    assert 4 == samples[("cutover_batch_execution_seconds_count", labels)]
    assert 1 == samples[("cutover_call_duration_seconds_count", labels)]


async def test_legacy_waits_zero_and_runs_its_whole_latency_at_no_hot_path_cost(
    set_flags: SetFlags,
) -> None:
    """Legacy observes nothing per call; the export derives its split from the call
    histogram: every call in the lowest wait bucket, the execution equal to the latency."""
    set_flags({WORKER: flags.FlagRecord(route="legacy")})
    for _ in range(3):
        await call()
    assert {} == metrics.split_snapshot()
    labels = (("route", "legacy"), ("worker", WORKER))
    samples = scraped()
    assert 3 == samples[("cutover_batch_queue_wait_seconds_count", labels)]
    assert 0 == samples[("cutover_batch_queue_wait_seconds_sum", labels)]
    lowest = (("le", "0.0005"), *labels)
    assert 3 == samples[("cutover_batch_queue_wait_seconds_bucket", lowest)]
    assert samples[("cutover_batch_execution_seconds_sum", labels)] == pytest.approx(
        samples[("cutover_call_duration_seconds_sum", labels)]
    )


@pytest.mark.parametrize("candidate", ["celery", "ray"])
async def test_shadow_records_split_both_sides(set_flags: SetFlags, candidate: str) -> None:
    """Primary legacy waits 0 and runs its latency; the remote candidate's wait and run add
    up to its latency, over its four batches."""
    recorder = MemoryShadowRecorder()
    runner = ShadowRunner(recorder=recorder)
    config = flags.ShadowConfig(route=candidate, sample=1.0, timeout_s=10.0)
    set_flags({WORKER: flags.FlagRecord(route="legacy", shadow=config)}, shadows=runner)
    await call()
    await runner.drain(30)
    [record] = recorder.read(WORKER)
    assert MATCH == record.outcome
    assert (0.0, record.primary_latency_s, 0) == (
        record.primary_queue_wait_s,
        record.primary_execution_s,
        record.primary_batches,
    )
    assert 4 == record.candidate_batches
    assert record.candidate_queue_wait_s is not None
    assert record.candidate_execution_s is not None
    assert record.candidate_execution_s > 0
    assert record.candidate_latency_s == pytest.approx(
        record.candidate_queue_wait_s + record.candidate_execution_s
    )


@pytest.mark.parametrize("primary", ["celery", "ray"])
async def test_a_remote_primarys_split_reaches_its_shadow_record(
    set_flags: SetFlags, primary: str
) -> None:
    """The router hands the primary's batches to the shadow: a remote primary's record
    carries its split, and the legacy candidate's wait is 0."""
    recorder = MemoryShadowRecorder()
    runner = ShadowRunner(recorder=recorder)
    config = flags.ShadowConfig(route="legacy", sample=1.0, timeout_s=10.0)
    set_flags({WORKER: flags.FlagRecord(route=primary, shadow=config)}, shadows=runner)
    await call()
    await runner.drain(30)
    [record] = recorder.read(WORKER)
    assert (primary, 4) == (record.primary_route, record.primary_batches)
    assert record.primary_queue_wait_s is not None
    assert record.primary_execution_s is not None
    assert record.primary_latency_s == pytest.approx(
        record.primary_queue_wait_s + record.primary_execution_s
    )
    assert (0.0, 0) == (record.candidate_queue_wait_s, record.candidate_batches)


def test_records_round_trip_and_older_records_still_read() -> None:
    """The split fields survive ``to_dict``/``from_dict``; a record written before them
    reads with the split unknown (``None``) and no batches."""
    record = ShadowRecord(
        worker="w",
        call_id="c",
        flag_version=1,
        operation="batch",
        primary_route="legacy",
        candidate_route="celery",
        outcome=MATCH,
        primary_latency_s=0.5,
        candidate_latency_s=0.75,
        diffs=(),
        sample_input=None,
        primary_error=None,
        candidate_error=None,
        noisy_paths=(),
        items=4,
        created_at=1.0,
        primary_queue_wait_s=0.0,
        primary_execution_s=0.5,
        candidate_queue_wait_s=0.25,
        candidate_execution_s=0.5,
        candidate_batches=2,
    )
    assert record == ShadowRecord.from_dict(record.to_dict())
    older = {
        key: value
        for key, value in record.to_dict().items()
        if "queue_wait" not in key and "execution" not in key and "batches" not in key
    }
    read = ShadowRecord.from_dict(older)
    assert (None, None, None, None, 0, 0) == (
        read.primary_queue_wait_s,
        read.primary_execution_s,
        read.candidate_queue_wait_s,
        read.candidate_execution_s,
        read.primary_batches,
        read.candidate_batches,
    )
