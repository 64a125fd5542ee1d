"""Route decisions: sticky and monotonic rollout, reasons, and never raising."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flags import (
    BUCKETS,
    FlagRecord,
    FlagStore,
    FlagTable,
    HybridPolicy,
    ShadowConfig,
    bucket_of,
    current_routing_key,
    decide,
    routing_key,
    takes_route,
)
from tests.flags.strategies import percents, routing_keys, worker_ids
from tests.support.waiting import until_sync

WORKER = "billing"


def _table(global_kill: bool = False, **flags: object) -> FlagTable:
    return FlagTable.static({WORKER: FlagRecord(version=3, **flags)}, global_kill=global_kill)  # type: ignore[arg-type]


# --- the percentage split -----------------------------------------------------------------------


@given(worker_ids, routing_keys, percents, percents)
def test_raising_the_percent_only_moves_keys_from_base_to_route(
    worker: str, key: str, one: float, other: float
) -> None:
    """Monotonic: a key on ``route`` at some percent stays on ``route`` at any higher percent."""
    low, high = sorted((one, other))
    at_low = decide(
        FlagTable.static({worker: FlagRecord(route="celery", percent=low)}), worker, 1, key=key
    )
    at_high = decide(
        FlagTable.static({worker: FlagRecord(route="celery", percent=high)}), worker, 1, key=key
    )
    if at_low.engine == "celery":
        assert "celery" == at_high.engine
    assert takes_route(low, bucket_of(worker, key)) <= takes_route(high, bucket_of(worker, key))


@given(worker_ids, routing_keys, percents)
def test_the_same_key_always_gets_the_same_route(worker: str, key: str, percent: float) -> None:
    """Sticky: deciding twice (and through the context manager) gives the same route."""
    table = FlagTable.static({worker: FlagRecord(route="ray", percent=percent)})
    first = decide(table, worker, 1, key=key)
    with routing_key(key):
        second = decide(table, worker, 1)
    assert first.engine == second.engine
    assert first.reason == second.reason


@given(worker_ids, routing_keys)
def test_buckets_are_in_range(worker: str, key: str) -> None:
    """Every bucket is in [0, 10000)."""
    assert 0 <= bucket_of(worker, key) < BUCKETS


def test_percent_0_and_100_are_absolute() -> None:
    """At 0 no key takes the route, at 100 every key does."""
    none = _table(route="celery", percent=0)
    every = _table(route="celery", percent=100)
    keys = [f"k{i}" for i in range(2000)]
    assert {"legacy"} == {decide(none, WORKER, 1, key=k).engine for k in keys}
    assert {"celery"} == {decide(every, WORKER, 1, key=k).engine for k in keys}


@pytest.mark.parametrize("worker", ["billing", "search-indexer", "w7"])
def test_ten_thousand_keys_at_25_percent_land_within_two_points(worker: str) -> None:
    """10,000 distinct routing keys at 25%: the share on ``route`` is 25% +- 2 points."""
    table = FlagTable.static({worker: FlagRecord(route="celery", percent=25)})
    on_route = sum(
        decide(table, worker, 1, key=f"tenant-{i}").engine == "celery" for i in range(10_000)
    )
    assert abs(on_route / 100 - 25.0) <= 2.0


def test_without_a_routing_key_each_call_is_split_at_random() -> None:
    """No key: a fresh random bucket per call, so 10,000 calls at 25% land near 25%."""
    table = _table(route="celery", percent=25)
    assert current_routing_key() is None
    on_route = sum(decide(table, WORKER, 1).engine == "celery" for _ in range(10_000))
    assert abs(on_route / 100 - 25.0) <= 2.0


def test_the_bucket_does_not_depend_on_the_process_hash_seed() -> None:
    """Another interpreter with another PYTHONHASHSEED computes the same buckets."""
    code = "from flags import bucket_of; print([bucket_of('billing', f'k{i}') for i in range(50)])"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert str([bucket_of("billing", f"k{i}") for i in range(50)]) == out.strip()


def test_routing_keys_nest_and_follow_asyncio_tasks() -> None:
    """The innermost key wins, is restored on exit, and is seen by tasks created inside."""

    async def key_in_task() -> str | None:
        return current_routing_key()

    async def main() -> list[str | None]:
        seen = [current_routing_key()]
        with routing_key("tenant-1"):
            seen.append(current_routing_key())
            with routing_key(42):
                seen.append(await asyncio.create_task(key_in_task()))
            seen.append(current_routing_key())
        seen.append(current_routing_key())
        return seen

    assert [None, "tenant-1", "42", "tenant-1", None] == asyncio.run(main())


# --- reasons ------------------------------------------------------------------------------------


def test_a_worker_never_configured_routes_on_legacy_by_default() -> None:
    """An empty table: legacy, reason 'default', version 0, no shadow."""
    decision = decide(FlagTable.static(), "nobody", 5)
    assert ("legacy", "legacy", "default", 0, None) == (
        decision.engine,
        decision.route,
        decision.reason,
        decision.flag_version,
        decision.shadow,
    )


def test_the_global_kill_switch_and_a_worker_kill_force_legacy_without_shadow() -> None:
    """Kills beat every other flag and drop the shadow."""
    shadow = ShadowConfig(route="ray", sample=1.0)
    killed_everywhere = decide(_table(True, route="celery", shadow=shadow), WORKER, 1)
    killed_here = decide(_table(route="celery", kill=True, shadow=shadow), WORKER, 1)
    assert ("legacy", "global-kill", None) == (
        killed_everywhere.engine,
        killed_everywhere.reason,
        killed_everywhere.shadow,
    )
    assert ("legacy", "kill-switch", None, 3) == (
        killed_here.engine,
        killed_here.reason,
        killed_here.shadow,
        killed_here.flag_version,
    )


def test_a_full_route_carries_the_record_and_its_shadow() -> None:
    """Percent 100: the route, reason 'route', the record's version and shadow configuration."""
    shadow = ShadowConfig(route="legacy", sample=0.5)
    decision = decide(_table(route="celery", shadow=shadow, priority=7), WORKER, 1)
    assert ("celery", "celery", "route", 3, shadow, False) == (
        decision.engine,
        decision.route,
        decision.reason,
        decision.flag_version,
        decision.shadow,
        decision.stale,
    )
    assert 7 == decision.record.priority


def test_a_split_says_which_side_a_call_took() -> None:
    """Between 0 and 100: percent-route or percent-base, route/base accordingly."""
    table = _table(route="ray", base="celery", percent=50)
    decisions = {decide(table, WORKER, 1, key=f"k{i}") for i in range(200)}
    assert {("ray", "percent-route"), ("celery", "percent-base")} == {
        (d.engine, d.reason) for d in decisions
    }
    assert 0.0 == decide(_table(route="ray", percent=0), WORKER, 1).record.percent
    assert "base" == decide(_table(route="ray", percent=0), WORKER, 1).reason


@pytest.mark.parametrize(
    ("n_items", "engine", "reason"),
    [
        (0, "celery", "hybrid-threshold-small"),
        (99, "celery", "hybrid-threshold-small"),
        (100, "ray", "hybrid-threshold-large"),
        (10_000, "ray", "hybrid-threshold-large"),
    ],
)
def test_hybrid_threshold_sends_small_batches_small_and_large_ones_large(
    n_items: int, engine: str, reason: str
) -> None:
    """The seed's rule: fewer than ``threshold`` items on ``small``, the others on ``large``."""
    decision = decide(_table(route="hybrid"), WORKER, n_items)
    assert (engine, "hybrid", reason) == (decision.engine, decision.route, decision.reason)


def test_hybrid_takes_its_own_engines_and_threshold() -> None:
    """A configured hybrid policy is honoured (small=legacy, large=celery, threshold 10)."""
    table = _table(
        route="hybrid", hybrid=HybridPolicy(threshold=10, small="legacy", large="celery")
    )
    assert ["legacy", "celery"] == [decide(table, WORKER, n).engine for n in (9, 10)]


@given(st.one_of(st.none(), st.text(), st.floats(), st.lists(st.integers())))
def test_decide_never_raises_whatever_the_arguments(n_items: object) -> None:
    """Nonsense n_items on a hybrid route: a decision (legacy on error), never an exception."""
    decision = decide(_table(route="hybrid"), WORKER, n_items)  # type: ignore[arg-type]
    assert decision.engine in ("legacy", "celery", "ray")


# --- decisions kept per flag state ----------------------------------------------------------------


def test_a_decision_is_made_once_per_state_and_remade_after_a_live_change(
    store: FlagStore, make_table: Callable[..., FlagTable]
) -> None:
    """The second call gets the kept decision; a kill, then the global kill, written to the
    store reach the watching table and the very next decision routes on legacy."""
    store.put(WORKER, FlagRecord(route="celery"), expected_version=0, actor="t", reason="r")
    table = make_table(store.url)
    until_sync(lambda: table.record(WORKER).route == "celery", 10, "the table to see celery")
    first = decide(table, WORKER, 5)
    assert ("celery", "route") == (first.engine, first.reason)
    assert first is decide(table, WORKER, 5)
    store.put(
        WORKER, FlagRecord(route="celery", kill=True), expected_version=1, actor="t", reason="r"
    )
    until_sync(lambda: table.record(WORKER).kill, 10, "the table to see the kill switch")
    killed = decide(table, WORKER, 5)
    assert ("legacy", "kill-switch", 2) == (killed.engine, killed.reason, killed.flag_version)
    store.put(WORKER, FlagRecord(route="ray"), expected_version=2, actor="t", reason="r")
    store.set_global_kill(True, actor="t", reason="r")
    until_sync(lambda: table.global_kill, 10, "the table to see the global kill")
    assert ("legacy", "global-kill") == (
        decide(table, WORKER, 5).engine,
        decide(table, WORKER, 5).reason,
    )


def test_a_kept_hybrid_threshold_decision_still_depends_on_the_call_size() -> None:
    """A threshold hybrid is kept as both of its decisions; each call gets the one of its size."""
    table = _table(route="hybrid", hybrid=HybridPolicy(threshold=10, small="legacy", large="ray"))
    sizes = [1, 50, 9, 10, 1]
    assert ["legacy", "ray", "legacy", "ray", "legacy"] == [
        decide(table, WORKER, n).engine for n in sizes
    ]


def test_a_split_is_never_kept_so_each_key_still_gets_its_own_route() -> None:
    """At 50 %, keys on both sides of the split keep routing by their bucket, call after call."""
    table = _table(route="celery", percent=50.0)
    keys = [f"tenant-{i}" for i in range(40)]
    expected = ["celery" if bucket_of(WORKER, k) < 5000 else "legacy" for k in keys]
    for _ in range(2):
        assert expected == [decide(table, WORKER, 1, key=k).engine for k in keys]
