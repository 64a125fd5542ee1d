"""The call log and the hot path's bookkeeping: a summary per worker and route at info, one
line per call only at debug, ``CUTOVER_CALL_LOG_LEVEL`` able to silence it and re-read
without a restart; counters and the task-function check unchanged by the caches.

Legacy route only (no engine is needed): what is logged and counted is the router's.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import structlog

import compat
import flags
from compat import calllog, metrics
from compat.optimizer import is_coroutine_function
from cutover.errors import InvalidArgumentError
from tests.adapters import equiv_tasks
from tests.compat.conftest import SetFlags
from tests.support.services import REPO_ROOT

WORKER = "calllog"
CallLogEnv = Callable[..., calllog.CallLog]


async def calls(n: int, items: list[int]) -> compat.AsyncWorkerOptimizer:
    """``n`` calls of ``equiv_tasks.double`` over ``items`` on a fresh optimizer."""
    optimizer = compat.AsyncWorkerOptimizer(worker_id=WORKER)
    for _ in range(n):
        await optimizer.optimize_batch_processing(items, equiv_tasks.double)
    return optimizer


async def test_by_default_no_line_per_call_and_one_summary_with_counts(
    set_flags: SetFlags, call_log_env: CallLogEnv
) -> None:
    """Unset level (INFO): three calls and a failed one write no ``call`` line; the summary
    counts them: calls, errors, items, quantiles and the flag version."""
    call_log_env(None)
    set_flags({WORKER: flags.FlagRecord(route="legacy", version=7)})
    with structlog.testing.capture_logs() as logs:
        optimizer = await calls(3, [1, 2, 3])
        with pytest.raises(ValueError, match="negative"):
            await optimizer.optimize_batch_processing([-1], equiv_tasks.fail_on_negative)
        assert [] == [line for line in logs if line["event"] in ("call", "calls")]
        assert 1 == calllog.flush()
    (summary,) = [line for line in logs if line["event"] == "calls"]
    assert ("info", WORKER, "legacy", 7, 4, 1, 10) == (
        summary["log_level"],
        summary["worker"],
        summary["route"],
        summary["flag_version"],
        summary["calls"],
        summary["errors"],
        summary["items"],
    )
    assert 0 <= summary["p50_ms"] <= summary["p95_ms"] <= summary["p99_ms"] <= summary["max_ms"]


async def test_debug_writes_one_line_per_call_with_the_common_keys(
    set_flags: SetFlags, call_log_env: CallLogEnv
) -> None:
    """``debug``: each call has its ``call`` line (worker, route, call_id, flag_version), each
    with its own call id, and the summary still comes."""
    call_log_env("debug")
    set_flags({WORKER: flags.FlagRecord(route="legacy", version=2)})
    with structlog.testing.capture_logs() as logs:
        await calls(2, [1])
        calllog.flush()
    lines = [line for line in logs if line["event"] == "call"]
    assert [("debug", WORKER, "legacy", 2)] * 2 == [
        (line["log_level"], line["worker"], line["route"], line["flag_version"]) for line in lines
    ]
    assert 2 == len({line["call_id"] for line in lines})
    assert 1 == len([line for line in logs if line["event"] == "calls"])


@pytest.mark.parametrize("level", ["warning", "error", "off"])
async def test_a_level_above_info_silences_the_call_log(
    set_flags: SetFlags, call_log_env: CallLogEnv, level: str
) -> None:
    """``warning`` and above (or ``off``): neither call lines nor summaries, counters still
    count."""
    active = call_log_env(level)
    set_flags({WORKER: flags.FlagRecord(route="legacy")})
    with structlog.testing.capture_logs() as logs:
        await calls(3, [1, 2])
        assert 0 == calllog.flush()
    assert (False, None) == (active.summaries, active.per_call)
    assert [] == [line for line in logs if line["event"] in ("call", "calls")]
    assert (3, 6) == (metrics.value("calls", WORKER), metrics.value("items", WORKER))


async def test_the_level_is_read_again_when_logging_is_reconfigured(
    set_flags: SetFlags, call_log_env: CallLogEnv
) -> None:
    """Silenced, then ``debug`` in the same process: the next call has its line."""
    set_flags({WORKER: flags.FlagRecord(route="legacy")})
    call_log_env("warning")
    with structlog.testing.capture_logs() as logs:
        await calls(1, [1])
    assert [] == [line for line in logs if line["event"] == "call"]
    call_log_env("debug")
    with structlog.testing.capture_logs() as logs:
        await calls(1, [1])
    assert 1 == len([line for line in logs if line["event"] == "call"])


async def test_a_summary_is_written_by_the_first_call_after_its_interval(
    set_flags: SetFlags, call_log_env: CallLogEnv
) -> None:
    """A 50 ms interval: calls within it write nothing; the first call after it writes the
    summary of every call of the interval, itself included, without any flush."""
    call_log_env("info", interval_s=0.05)
    set_flags({WORKER: flags.FlagRecord(route="legacy")})
    with structlog.testing.capture_logs() as logs:
        optimizer = await calls(2, [1])
        assert [] == [line for line in logs if line["event"] == "calls"]
        await asyncio.sleep(0.06)
        await optimizer.optimize_batch_processing([1], equiv_tasks.double)
    (summary,) = [line for line in logs if line["event"] == "calls"]
    assert 3 == summary["calls"]
    assert 0.05 <= summary["interval_s"]


def test_the_latency_sample_stays_bounded_and_quantiles_are_ordered() -> None:
    """More calls than MAX_SAMPLES: the sample keeps MAX_SAMPLES, the count keeps them all."""
    window = calllog.Window()
    for n in range(3 * calllog.MAX_SAMPLES):
        window.calls += 1
        window.add(n / 1e6)
    fields = window.fields()
    assert (calllog.MAX_SAMPLES, 3 * calllog.MAX_SAMPLES) == (len(window.samples), fields["calls"])
    assert fields["p50_ms"] <= fields["p95_ms"] <= fields["p99_ms"] <= fields["max_ms"]


async def test_counters_and_the_histogram_count_every_call_on_the_short_path(
    set_flags: SetFlags, call_log_env: CallLogEnv
) -> None:
    """Calls, items, errors and latency observations, as exporters read them."""
    call_log_env("off")
    set_flags({WORKER: flags.FlagRecord(route="legacy")})
    optimizer = await calls(4, [1, 2, 3])
    with pytest.raises(ValueError, match="negative"):
        await optimizer.optimize_batch_processing([-1], equiv_tasks.fail_on_negative)
    snapshot = metrics.snapshot()
    assert (5, 13, 1) == tuple(
        snapshot[(name, WORKER, "legacy")] for name in ("calls", "items", "errors")
    )
    assert 5 == metrics.latency_snapshot()[(WORKER, "legacy")].count


@pytest.mark.parametrize(("mode", "learns"), [("adaptive", True), ("threshold", False)])
async def test_an_adaptive_hybrid_still_learns_from_its_legacy_calls_on_the_short_path(
    set_flags: SetFlags, call_log_env: CallLogEnv, mode: str, learns: bool
) -> None:
    """The short path counts inline, except when an adaptive hybrid routed the call: its cost
    model learns the legacy cost of the call's size; a threshold rule's calls feed nothing."""
    call_log_env("off")
    policy = flags.HybridPolicy(mode=mode, small="legacy", large="legacy", explore=0.0)  # type: ignore[arg-type]
    set_flags({WORKER: flags.FlagRecord(route="hybrid", hybrid=policy)})
    flags.default_cost_model.reset()
    try:
        await calls(2, [1, 2, 3])
        learned = flags.default_cost_model.estimate(WORKER, "legacy", 3)
        assert learns == (learned is not None and learned > 0), learned
        assert 2 == metrics.value("calls", WORKER, "legacy")
    finally:
        flags.default_cost_model.reset()


def test_the_coroutine_check_is_cached_and_still_tells_functions_apart() -> None:
    """``async def``, a sync wrapper of one (``functools.wraps``), a bound async method: yes;
    a sync function and a lambda: no, every time."""

    async def plain(item: int) -> int:
        return item

    @functools.wraps(plain)
    def wrapper(item: int) -> Any:
        return plain(item)

    class Holder:
        async def method(self, item: int) -> int:
            return item

    def sync(item: int) -> int:
        return item

    for _ in range(2):
        assert [True, True, True, False, False] == [
            is_coroutine_function(f)
            for f in (plain, wrapper, Holder().method, sync, lambda item: item)
        ]


async def test_a_sync_task_function_is_refused_on_every_call(
    set_flags: SetFlags, call_log_env: CallLogEnv
) -> None:
    """The cache keeps answers, not wrappers: the second call is refused the same way."""
    call_log_env("off")
    set_flags({WORKER: flags.FlagRecord(route="legacy")})

    def not_async(item: int) -> int:
        return item

    optimizer = compat.AsyncWorkerOptimizer(worker_id=WORKER)
    for _ in range(2):
        with pytest.raises(InvalidArgumentError, match="not an awaitable"):
            await optimizer.optimize_batch_processing([1], not_async)  # type: ignore[arg-type]


EXITING_WORKER = """
import asyncio, compat
from cutover.demo import tasks

async def main():
    optimizer = compat.AsyncWorkerOptimizer(worker_id="exiting")
    for _ in range(3):
        await optimizer.optimize_batch_processing([1, 2], tasks.trivial)

asyncio.run(main())
"""


@pytest.mark.parametrize(("level", "summaries"), [("info", 1), ("warning", 0)])
def test_a_process_that_exits_writes_its_last_summary(
    tmp_path: Path, level: str, summaries: int
) -> None:
    """Three calls, then the process ends before its interval does: at info the summary of
    those calls is written at exit instead of being lost; above info nothing is."""
    env = {
        **os.environ,
        "CUTOVER_CALL_LOG_LEVEL": level,
        "CUTOVER_FLAGS_URL": f"file://{tmp_path}/flags.json",
        "PYTHONPATH": str(REPO_ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-c", EXITING_WORKER],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    written = [line for line in lines if line["event"] == "calls"]
    assert summaries == len(written), done.stderr
    if written:
        assert ("exiting", "legacy", 3, 6) == tuple(
            written[0][key] for key in ("worker", "route", "calls", "items")
        )
