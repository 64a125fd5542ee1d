"""The public surface of ``legacy`` against the contract in ``LEGACY_API.md``.

Signatures are written out as strings, copied from the contract: parameter names, order and
defaults, plus whether the callable is a coroutine function. Annotations are left out of the
comparison: the contract fixes how a worker *calls* the module, not how it is typed.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

import legacy

#: (dotted name, signature without annotations, is it ``async def``)
EXPECTED_SIGNATURES: list[tuple[str, str, bool]] = [
    ("TaskItem", "(id, data, priority=0, created_at=<factory>)", False),
    (
        "WorkerMetrics",
        "(tasks_processed=0, total_processing_time=0.0, errors_count=0, last_task_time=None)",
        False,
    ),
    ("AsyncWorkerOptimizer", "()", False),
    (
        "AsyncWorkerOptimizer.optimize_batch_processing",
        "(self, items, task_func, batch_size=10, max_concurrent=5)",
        True,
    ),
    ("AsyncWorkerOptimizer.setup_pipeline", "(self, stages)", False),
    ("AsyncWorkerOptimizer.manage_resource_pool", "(self, pool_name, config)", False),
    ("AsyncWorkerOptimizer.distribute_tasks", "(self, tasks, workers)", True),
    ("AsyncWorkerOptimizer.calculate_balance_score", "(self, distribution, workers)", False),
    ("AsyncWorkerOptimizer.profile_performance", "(self)", False),
    ("Pipeline", "(stages)", False),
    ("Pipeline.process", "(self, items)", True),
    ("Pipeline.get_metrics", "(self)", False),
    (
        "ResourcePool",
        "(name, min_workers, max_workers, scaling_factor=2.0, idle_timeout=30)",
        False,
    ),
    ("ResourcePool.get_active_workers", "(self)", False),
    ("ResourcePool.simulate_load", "(self, high)", False),
    ("ResourcePool.get_utilization", "(self)", False),
    ("PerformanceProfiler", "()", False),
    ("PerformanceProfiler.start_profiling", "(self)", False),
    ("PerformanceProfiler.stop_profiling", "(self)", False),
    ("PerformanceProfiler.profile_async", "(self, func)", False),
    ("PerformanceProfiler.get_profile_report", "(self)", False),
    ("PerformanceProfiler.analyze_bottlenecks", "(self, profile_data)", False),
    ("AsyncBatchProcessor", "(batch_size=10, timeout=1.0)", False),
    ("AsyncBatchProcessor.set_handler", "(self, handler)", False),
    ("AsyncBatchProcessor.add_item", "(self, item)", True),
    ("AsyncBatchProcessor.get_statistics", "(self)", False),
    ("AsyncTaskScheduler", "()", False),
    ("AsyncTaskScheduler.schedule_task", "(self, task_id, task_func, priority=0)", True),
    ("AsyncTaskScheduler.cancel_task", "(self, task_id)", False),
    ("AsyncTaskScheduler.get_pending_tasks", "(self)", False),
    ("AsyncTaskScheduler.has_pending_tasks", "(self)", False),
    ("AsyncTaskScheduler.execute_next", "(self)", True),
    ("AsyncTaskScheduler.optimize_schedule", "(self, tasks)", False),
    ("AsyncTaskScheduler.calculate_total_time", "(self, schedule)", False),
    ("ConnectionPoolOptimizer", "()", False),
    (
        "ConnectionPoolOptimizer.create_pool",
        "(self, min_size, max_size, connection_factory)",
        True,
    ),
    ("ConnectionPoolOptimizer.optimize_pool_size", "(self, load_pattern, pool)", False),
    ("ConnectionPoolOptimizer.monitor_pool_health", "(self, pool)", True),
    ("ConnectionPool", "(min_size, max_size, connection_factory)", False),
    ("ConnectionPool.initialize", "(self)", True),
    ("MockConnection", "(alive=True)", False),
    ("MockConnection.is_alive", "(self)", True),
    ("MemoryOptimizer", "()", False),
    ("MemoryOptimizer.analyze_memory_usage", "(self, data)", False),
    ("MemoryOptimizer.optimize_data_structures", "(self, data)", False),
    ("MemoryOptimizer.setup_memory_pool", "(self, size)", False),
    ("MemoryOptimizer.start_leak_detection", "(self)", False),
    ("MemoryOptimizer.detect_memory_leaks", "(self)", False),
    ("MemoryPool", "(size)", False),
    ("MemoryPool.allocate", "(self, size)", False),
]

#: Every public name of the legacy module.
EXPECTED_NAMES = {
    "AsyncBatchProcessor",
    "AsyncTaskScheduler",
    "AsyncWorkerOptimizer",
    "ConnectionPool",
    "ConnectionPoolOptimizer",
    "LoadLevel",
    "MemoryOptimizer",
    "MemoryPool",
    "MockConnection",
    "PerformanceProfiler",
    "Pipeline",
    "ResourcePool",
    "TaskItem",
    "WorkerMetrics",
}

#: Public properties of the contract (not callables, so not in the signature table).
EXPECTED_PROPERTIES = [("WorkerMetrics", "average_processing_time"), ("ConnectionPool", "size")]


def _resolve(dotted: str) -> Any:
    """``legacy.<Class>.<method>`` (or a class) from its dotted name."""
    target: Any = legacy
    for part in dotted.split("."):
        target = getattr(target, part)
    return target


def _call_signature(obj: Any) -> str:
    """The signature without annotations: names, order, kinds and defaults only."""
    signature = inspect.signature(obj)
    parameters = [
        parameter.replace(annotation=inspect.Parameter.empty)
        for parameter in signature.parameters.values()
    ]
    return str(signature.replace(parameters=parameters, return_annotation=inspect.Signature.empty))


def test_all_lists_exactly_the_contract_names() -> None:
    """``legacy.__all__`` is the contract's name list, and each name resolves."""
    assert EXPECTED_NAMES == set(legacy.__all__)
    assert len(legacy.__all__) == len(set(legacy.__all__))
    for name in legacy.__all__:
        assert getattr(legacy, name) is not None


@pytest.mark.parametrize(
    ("dotted", "expected", "is_async"), EXPECTED_SIGNATURES, ids=[e[0] for e in EXPECTED_SIGNATURES]
)
def test_signature_matches_contract(dotted: str, expected: str, is_async: bool) -> None:
    """Each public callable has the contract's parameters and is async exactly when it says."""
    target = _resolve(dotted)
    assert expected == _call_signature(target)
    assert is_async == inspect.iscoroutinefunction(target)


def test_every_public_method_is_in_the_contract() -> None:
    """No class grows a public method the contract (and so the compat shim) lacks."""
    documented = {dotted for dotted, _, _ in EXPECTED_SIGNATURES if "." in dotted}
    properties = {f"{owner}.{name}" for owner, name in EXPECTED_PROPERTIES}
    found = set()
    for class_name in EXPECTED_NAMES - {"LoadLevel"}:
        cls = getattr(legacy, class_name)
        for name, member in vars(cls).items():
            if not name.startswith("_") and (callable(member) or isinstance(member, property)):
                found.add(f"{class_name}.{name}")
    assert documented | properties == found


@pytest.mark.parametrize(("owner", "name"), EXPECTED_PROPERTIES)
def test_documented_properties_are_properties(owner: str, name: str) -> None:
    """``average_processing_time`` and ``size`` are read as attributes, not called."""
    assert isinstance(vars(getattr(legacy, owner))[name], property)


def test_load_level_members() -> None:
    """``LoadLevel`` has exactly the four documented members and values."""
    expected = {"LOW": "low", "MEDIUM": "medium", "HIGH": "high", "CRITICAL": "critical"}
    assert expected == {member.name: member.value for member in legacy.LoadLevel}
