"""The bookkeeping side of ``AsyncWorkerOptimizer``: pipelines, pools, load balancing."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given

from legacy import AsyncWorkerOptimizer, Pipeline, ResourcePool
from tests.legacy import strategies
from tests.legacy.loops import run_example


async def identity(item: Any) -> Any:
    """A pipeline stage that changes nothing."""
    return item


def test_setup_pipeline_stores_under_sequential_ids() -> None:
    """Pipelines are stored as ``pipeline_0``, ``pipeline_1``, ... and returned."""
    optimizer = AsyncWorkerOptimizer()
    first = optimizer.setup_pipeline([identity])
    second = optimizer.setup_pipeline([identity, identity])
    assert {"pipeline_0": first, "pipeline_1": second} == optimizer.pipelines
    assert isinstance(first, Pipeline)
    assert [identity, identity] == second.stages


def test_manage_resource_pool_defaults() -> None:
    """A pool built from the two required keys gets factor 2.0 and idle timeout 30."""
    optimizer = AsyncWorkerOptimizer()
    pool = optimizer.manage_resource_pool("io", {"min_workers": 2, "max_workers": 8})
    assert isinstance(pool, ResourcePool)
    assert {"io": pool} == optimizer.resource_pools
    assert ("io", 2, 8, 2.0, 30, 2) == (
        pool.name,
        pool.min_workers,
        pool.max_workers,
        pool.scaling_factor,
        pool.idle_timeout,
        pool.get_active_workers(),
    )


def test_manage_resource_pool_uses_given_optionals() -> None:
    """``scaling_factor`` and ``idle_timeout`` from the config are used when present."""
    pool = AsyncWorkerOptimizer().manage_resource_pool(
        "cpu", {"min_workers": 1, "max_workers": 4, "scaling_factor": 1.5, "idle_timeout": 5}
    )
    assert (1.5, 5) == (pool.scaling_factor, pool.idle_timeout)


@pytest.mark.parametrize("missing", ["min_workers", "max_workers"])
def test_manage_resource_pool_requires_bounds(missing: str) -> None:
    """A config without ``min_workers`` or ``max_workers`` is a ``KeyError`` naming it."""
    config = {"min_workers": 1, "max_workers": 4}
    del config[missing]
    with pytest.raises(KeyError, match=missing):
        AsyncWorkerOptimizer().manage_resource_pool("p", config)


async def test_distribute_tasks_greedy_and_mutates_workers() -> None:
    """Each task goes to the least-loaded worker, whose dict's ``load`` grows in place."""
    workers = [
        {"id": "a", "load": 0.5, "capacity": 1.0},
        {"id": "b", "load": 0.0, "capacity": 2.0},
    ]
    tasks = [{"weight": 1.0}, {"weight": 1.0}, {"weight": 1.0}]
    # b (0.0) -> 0.5; tie a/b at 0.5: b is first in the sorted list -> 1.0; a (0.5) -> 1.5.
    assert {"a": 1, "b": 2} == await AsyncWorkerOptimizer().distribute_tasks(tasks, workers)
    assert [1.5, 1.0] == [worker["load"] for worker in workers]


async def test_distribute_tasks_ties_follow_the_current_sorted_order() -> None:
    """Ties go to the earlier worker of the re-sorted list, not of the input list."""
    workers = [{"id": "w1", "load": 0, "capacity": 1}, {"id": "w2", "load": 0, "capacity": 1}]
    tasks = [{"weight": 1}, {"weight": 1}, {"weight": 1}]
    # w1 -> [w2(0), w1(1)]; w2 -> tie [w2(1), w1(1)] stays; w2 again.
    assert {"w1": 1, "w2": 2} == await AsyncWorkerOptimizer().distribute_tasks(tasks, workers)


async def test_distribute_no_tasks() -> None:
    """No tasks: an empty distribution and untouched workers."""
    workers = [{"id": "w", "load": 0.25, "capacity": 1.0}]
    assert {} == await AsyncWorkerOptimizer().distribute_tasks([], workers)
    assert 0.25 == workers[0]["load"]


@given(tasks=strategies.weighted_tasks, worker_list=strategies.workers())
def test_distribute_assigns_every_task_exactly_once(
    tasks: list[dict[str, Any]], worker_list: list[dict[str, Any]]
) -> None:
    """The counts add up to the number of tasks, over known workers, and loads add up."""
    before = copy.deepcopy(worker_list)
    distribution = run_example(AsyncWorkerOptimizer().distribute_tasks(tasks, worker_list))
    assert len(tasks) == sum(distribution.values())
    assert set(distribution) <= {worker["id"] for worker in worker_list}
    assert all(count >= 1 for count in distribution.values())
    for old, new in zip(before, worker_list, strict=True):
        assert (new["load"] > old["load"]) <= (new["id"] in distribution)


@given(tasks=strategies.weighted_tasks, worker_list=strategies.workers())
def test_distribute_equal_workers_equal_tasks_is_round_robin(
    tasks: list[dict[str, Any]], worker_list: list[dict[str, Any]]
) -> None:
    """With identical workers and unit tasks, counts differ by at most one."""
    equal_workers = [{"id": worker["id"], "load": 0.0, "capacity": 1.0} for worker in worker_list]
    unit_tasks = [{"weight": 1.0} for _ in tasks]
    distribution = run_example(AsyncWorkerOptimizer().distribute_tasks(unit_tasks, equal_workers))
    counts = [distribution.get(worker["id"], 0) for worker in equal_workers]
    assert max(counts) - min(counts) <= 1


@pytest.mark.parametrize(
    ("distribution", "expected"),
    [
        ({}, 0.0),
        ({"a": 2, "b": 2}, 1.0),
        ({"a": 4}, 0.0),
        ({"a": 3, "b": 1}, 0.5),
        ({"a": 0, "b": 0}, 1.0),
    ],
)
def test_balance_score_formula(distribution: dict[str, int], expected: float) -> None:
    """``1 - min(std_dev / ideal, 1)`` over two workers; absent workers count 0."""
    workers = [{"id": "a"}, {"id": "b"}]
    assert expected == AsyncWorkerOptimizer().calculate_balance_score(distribution, workers)


@given(strategies.distributions())
def test_balance_score_is_between_zero_and_one(
    case: tuple[dict[str, int], list[dict[str, Any]]],
) -> None:
    """Whatever the distribution, the score lies in ``[0, 1]``."""
    distribution, workers = case
    score = AsyncWorkerOptimizer().calculate_balance_score(distribution, workers)
    assert 0.0 <= score <= 1.0


async def test_profile_performance_reports_pipelines_and_pools() -> None:
    """Pipelines report their metrics, pools their size and utilization."""
    optimizer = AsyncWorkerOptimizer()
    pipeline = optimizer.setup_pipeline([identity])
    await pipeline.process([1, 2])
    optimizer.manage_resource_pool("io", {"min_workers": 2, "max_workers": 8})
    report = optimizer.profile_performance()
    assert {"pipelines", "resource_pools", "overall_metrics"} == set(report)
    assert pipeline.get_metrics() == report["pipelines"]["pipeline_0"]
    assert {"io": {"active_workers": 2, "utilization": 0.25}} == report["resource_pools"]
    assert {} == report["overall_metrics"]
