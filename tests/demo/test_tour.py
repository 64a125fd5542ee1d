"""The pieces of the demo's tour: the sample tasks, the stages' flags, the per-stage table."""

from __future__ import annotations

import asyncio
import re
import sys
from collections import Counter

import flags
from compat.shadow.safety import is_shadow_safe
from cutover.demo import tasks
from cutover.demo.tour import (
    STAGES,
    WORKERS,
    WorkerStageResult,
    describe_flags,
    stage_table,
)


def test_every_sample_task_may_be_shadowed() -> None:
    """Shadow mode runs only shadow-safe tasks: the demo's are all declared so."""
    for task in (tasks.io_light, tasks.mixed, tasks.cpu_heavy, tasks.stamp_process):
        assert is_shadow_safe(task), task.__name__


async def test_stamp_process_differs_from_one_process_to_another() -> None:
    """Same item, another process: another answer (what the shadow stage must catch)."""
    here = await tasks.stamp_process(7)
    script = (
        "import asyncio; from cutover.demo import tasks; print(asyncio.run(tasks.stamp_process(7)))"
    )
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await child.communicate()
    elsewhere = out.decode().strip()
    assert 0 == child.returncode
    assert 7 == here["item"]
    assert str(here) != elsewhere
    assert elsewhere.startswith("{'item': 7, 'pid': ")


def test_the_stages_walk_from_legacy_to_the_candidate() -> None:
    """legacy -> shadow -> 25% -> 100%, as flag records a store accepts."""
    cpu_heavy = next(worker for worker in WORKERS if worker.worker_id == "demo-cpu-heavy")
    records = [stage.flags_for(cpu_heavy, 5) for stage in STAGES]
    assert ["legacy", "shadow", "25%", "100%"] == [stage.name for stage in STAGES]
    assert [
        "legacy",
        "legacy, shadow→ray 100%",
        "ray 25% (else legacy), shadow→ray 100%",
        "ray",
    ] == [describe_flags(record) for record in records]
    shadow = records[1].shadow
    assert shadow is not None
    assert 5 == shadow.min_comparisons
    for record in records:
        assert record == flags.FlagRecord.from_dict(record.to_dict())


def test_the_divergent_task_belongs_to_one_worker() -> None:
    """Only demo-mixed calls stamp_process; the workers move to Celery, Celery and Ray."""
    assert {"demo-mixed": tasks.stamp_process} == {
        worker.worker_id: worker.divergent for worker in WORKERS if worker.divergent
    }
    assert ["celery", "celery", "ray"] == [worker.candidate for worker in WORKERS]


def test_stage_table_shows_route_calls_latency_and_match_rate() -> None:
    """One row per worker; the match rate counts both_failed as agreement, '-' without shadow."""
    shadowed = WorkerStageResult(
        "demo-mixed",
        "legacy, shadow→celery 100%",
        latencies_s=[0.1, 0.2, 0.3, 0.4],
        ran_on=Counter({"legacy": 4}),
        shadow_outcomes=Counter({"match": 2, "both_failed": 1, "mismatch": 1}),
    )
    plain = WorkerStageResult("demo-io-light", "legacy", [0.002], Counter({"legacy": 1}))
    header, first, second = stage_table([shadowed, plain])
    assert header.split() == [
        "worker", "flags", "calls", "ran", "on", "p50", "p95", "shadow", "compared", "match", "rate"
    ]  # fmt: skip
    assert [
        "demo-mixed", "legacy, shadow→celery 100%", "4", "legacy 4", "250.0 ms", "400.0 ms", "4",
        "75%",
    ] == re.split(r"\s{2,}", first.strip())  # fmt: skip
    assert [
        "demo-io-light", "legacy", "1", "legacy 1", "2.0 ms", "2.0 ms", "-", "-"
    ] == re.split(r"\s{2,}", second.strip())  # fmt: skip
