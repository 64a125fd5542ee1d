"""The adaptive hybrid policy: tries each engine, converges to the cheaper one, keeps exploring."""

from __future__ import annotations

import random
from typing import Any

import pytest

from cutover.errors import FlagValidationError
from flags import Engine, FlagRecord, FlagTable, HybridPolicy, decide, record_cost
from flags.adaptive import CostModel, default_cost_model, size_bucket

WORKER = "billing"
CANDIDATES: tuple[Engine, ...] = ("celery", "ray")


def _run(
    model: CostModel, cost_per_item: dict[str, float], calls: int, n_items: int = 500
) -> list[str]:
    """Choose, then feed back a noisy cost for the chosen engine, ``calls`` times."""
    noise = random.Random(7)
    chosen: list[str] = []
    for _ in range(calls):
        engine, _reason = model.choose(WORKER, CANDIDATES, n_items, explore=0.05)
        seconds = cost_per_item[engine] * n_items * noise.uniform(0.8, 1.2)
        model.record(WORKER, engine, n_items, seconds)
        chosen.append(engine)
    return chosen


def test_each_candidate_is_tried_once_before_costs_decide() -> None:
    """In a new size bucket the first calls go to every untried engine in turn."""
    model = CostModel(random_fn=random.Random(1).random)
    first = [model.choose(WORKER, CANDIDATES, 500, explore=0.0) for _ in range(2)]
    assert [("celery", "hybrid-adaptive-untried"), ("ray", "hybrid-adaptive-untried")] == first
    other_bucket = model.choose(WORKER, CANDIDATES, 5, explore=0.0)
    assert ("celery", "hybrid-adaptive-untried") == other_bucket


def test_it_converges_to_the_cheaper_engine_and_still_explores() -> None:
    """Ray 5x cheaper per item: after warm-up ~95% of calls go to ray, the rest explore celery."""
    model = CostModel(random_fn=random.Random(3).random)
    chosen = _run(model, {"celery": 0.001, "ray": 0.0002}, calls=2000)
    late = chosen[1000:]
    assert late.count("ray") / len(late) >= 0.9
    assert 0.01 <= late.count("celery") / len(late) <= 0.1  # exploring at about 5%


def test_it_notices_when_costs_change() -> None:
    """When the cheaper engine becomes the dearer one, exploration lets the policy switch."""
    model = CostModel(random_fn=random.Random(5).random)
    _run(model, {"celery": 0.001, "ray": 0.0002}, calls=500)
    chosen = _run(model, {"celery": 0.0002, "ray": 0.001}, calls=1500)
    assert chosen[-500:].count("celery") / 500 >= 0.9


def test_costs_are_kept_per_size_bucket() -> None:
    """Celery cheaper for small batches, ray for large ones: each bucket converges on its own."""
    model = CostModel(random_fn=random.Random(9).random)
    small = _run(model, {"celery": 0.0001, "ray": 0.01}, calls=400, n_items=3)
    large = _run(model, {"celery": 0.001, "ray": 0.0001}, calls=400, n_items=5000)
    assert small[-200:].count("celery") >= 180
    assert large[-200:].count("ray") >= 180
    assert size_bucket(3) != size_bucket(5000)


def test_the_estimate_is_a_moving_average_of_seconds_per_item() -> None:
    """Samples of 1 ms and 3 ms per item with alpha 0.5 average to 2 ms per item."""
    model = CostModel(alpha=0.5)
    model.record(WORKER, "ray", 100, 0.1)
    model.record(WORKER, "ray", 100, 0.3)
    assert 0.002 == model.estimate(WORKER, "ray", 100)
    assert 2 == model.samples(WORKER, "ray", 100)
    assert model.estimate(WORKER, "celery", 100) is None


def test_nonsense_costs_are_ignored_without_raising() -> None:
    """Negative, infinite, NaN or non-numeric feedback is dropped, never raised."""
    model = CostModel()
    for seconds in (-1.0, float("inf"), float("nan")):
        model.record(WORKER, "ray", 10, seconds)
    model.record(WORKER, "ray", "ten", 1.0)  # type: ignore[arg-type]
    assert model.estimate(WORKER, "ray", 10) is None


def test_decide_uses_the_adaptive_policy_fed_by_record_cost() -> None:
    """A worker on adaptive hybrid: decide() consults the process-wide model record_cost feeds."""
    table = FlagTable.static(
        {WORKER: FlagRecord(route="hybrid", hybrid=HybridPolicy(mode="adaptive", explore=0.0))}
    )
    default_cost_model.reset()
    try:
        reasons = [decide(table, WORKER, 64).reason for _ in range(2)]
        assert ["hybrid-adaptive-untried", "hybrid-adaptive-untried"] == reasons
        record_cost(WORKER, "celery", 64, 0.64)
        record_cost(WORKER, "ray", 64, 0.064)
        decision = decide(table, WORKER, 64)
        assert ("ray", "hybrid-adaptive-cheaper") == (decision.engine, decision.reason)
    finally:
        default_cost_model.reset()


def test_adaptive_candidates_widen_the_choice_beyond_small_and_large() -> None:
    """``hybrid.candidates`` lists every engine the adaptive mode may pick: each is tried once,
    then the cheapest wins, including one that is neither ``small`` nor ``large``."""
    policy = HybridPolicy(mode="adaptive", explore=0.0, candidates=("legacy", "celery", "ray"))
    table = FlagTable.static({WORKER: FlagRecord(route="hybrid", hybrid=policy)})
    default_cost_model.reset()
    try:
        tried = [decide(table, WORKER, 1000).engine for _ in range(3)]
        assert ["legacy", "celery", "ray"] == tried
        for engine, seconds in (("legacy", 10.0), ("celery", 4.0), ("ray", 5.0)):
            record_cost(WORKER, engine, 1000, seconds)
        assert "celery" == decide(table, WORKER, 1000).engine
    finally:
        default_cost_model.reset()


@pytest.mark.parametrize(
    ("candidates", "field"),
    [
        ("ray", "hybrid.candidates"),
        (["ray", "ray"], "hybrid.candidates"),
        (["ray", "hybrid"], "hybrid.candidates[1]"),
        (["spark"], "hybrid.candidates[0]"),
    ],
)
def test_adaptive_candidates_are_validated(candidates: Any, field: str) -> None:
    """Not a list, duplicates, ``hybrid`` itself or an unknown engine: refused, named."""
    with pytest.raises(FlagValidationError) as refused:
        HybridPolicy.from_dict({"mode": "adaptive", "candidates": candidates})
    assert field == refused.value.field


def test_adaptive_candidates_round_trip_through_json() -> None:
    """``to_dict`` / ``from_dict`` keep the candidates (old records without them still load)."""
    policy = HybridPolicy(mode="adaptive", candidates=("ray", "legacy"))
    assert policy == HybridPolicy.from_dict(policy.to_dict())
    assert () == HybridPolicy.from_dict({"mode": "adaptive"}).candidates
    assert ("celery", "ray") == HybridPolicy(mode="adaptive").adaptive_candidates
