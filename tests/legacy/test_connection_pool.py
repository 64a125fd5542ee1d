"""Connection pools: creation, the sizing formula, health counts."""

from __future__ import annotations

import pytest

from legacy import ConnectionPool, ConnectionPoolOptimizer, MockConnection


async def test_create_pool_initializes_min_size_connections() -> None:
    """``create_pool`` awaits the factory ``min_size`` times and returns an initialized pool."""
    made: list[MockConnection] = []

    async def factory() -> MockConnection:
        made.append(MockConnection())
        return made[-1]

    pool = await ConnectionPoolOptimizer().create_pool(3, 10, factory)
    assert isinstance(pool, ConnectionPool)
    assert (3, 3, 10) == (pool.size, len(made), pool.max_size)
    assert made == pool.connections


async def test_pool_size_is_zero_before_initialize() -> None:
    """A pool built directly has no connections until ``initialize``."""

    async def factory() -> MockConnection:
        return MockConnection()

    pool = ConnectionPool(2, 4, factory)
    assert (0, []) == (pool.size, pool.connections)
    await pool.initialize()
    assert 2 == pool.size


def pool_of(min_size: int, max_size: int) -> ConnectionPool:
    """An uninitialized pool: the sizing rule only reads its bounds."""

    async def factory() -> MockConnection:
        return MockConnection()

    return ConnectionPool(min_size, max_size, factory)


@pytest.mark.parametrize(
    ("loads", "expected"),
    [
        ([], 2),  # empty pattern: min_size
        (list(range(1, 21)), 16),  # int(0.7 * 15.5 + 0.3 * 20) = int(16.85)
        ([5], 5),  # int(0.7 * 5 + 0.3 * 5)
        ([100, 1, 1], 25),  # int(0.7 * 34 + 0.3 * 100) = int(53.8) clamped to 25
        ([1, 1, 1], 2),  # int(1.0) clamped up to min_size 2
        ([30, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 9),  # last 10 mean 0; peak 30: int(9.0)
    ],
)
def test_optimize_pool_size_formula(loads: list[int], expected: int) -> None:
    """70% recent (last 10) average + 30% all-time peak, truncated, clamped to the bounds."""
    pattern = [{"active_connections": load} for load in loads]
    assert expected == ConnectionPoolOptimizer().optimize_pool_size(pattern, pool_of(2, 25))


async def test_monitor_pool_health_counts() -> None:
    """Healthy and unhealthy connections are counted; percentage over the total."""
    alive = [True, True, False, True]
    connections = iter(MockConnection(flag) for flag in alive)

    async def factory() -> MockConnection:
        return next(connections)

    pool = await ConnectionPoolOptimizer().create_pool(4, 4, factory)
    assert {
        "total_connections": 4,
        "healthy_connections": 3,
        "unhealthy_connections": 1,
        "health_percentage": 75.0,
    } == await ConnectionPoolOptimizer().monitor_pool_health(pool)


async def test_monitor_empty_pool_is_zero_percent() -> None:
    """No connections: everything 0, no division by zero."""
    assert {
        "total_connections": 0,
        "healthy_connections": 0,
        "unhealthy_connections": 0,
        "health_percentage": 0,
    } == await ConnectionPoolOptimizer().monitor_pool_health(pool_of(0, 5))


async def test_mock_connection_default_alive() -> None:
    """``MockConnection()`` is alive; ``MockConnection(False)`` is not."""
    assert (True, False) == (
        await MockConnection().is_alive(),
        await MockConnection(False).is_alive(),
    )
