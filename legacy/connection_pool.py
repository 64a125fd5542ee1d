"""Connection pools: creation, a sizing rule from observed load, and a health count.

The pool does not hand out connections; production code used it to size and watch pools, so
the sizing formula is the part that must not change.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

#: How many of the most recent load samples the sizing rule averages.
RECENT_SAMPLES = 10
#: Weights of the recent average and of the all-time peak in the sizing rule.
AVERAGE_WEIGHT = 0.7
PEAK_WEIGHT = 0.3

ConnectionFactory = Callable[[], Awaitable[Any]]


class SupportsIsAlive(Protocol):
    """What :meth:`ConnectionPoolOptimizer.monitor_pool_health` asks of a connection."""

    async def is_alive(self) -> bool:
        """Whether the connection can still be used."""
        ...


class ConnectionPool:
    """``min_size`` connections made by awaiting ``connection_factory``, at ``initialize()``."""

    def __init__(self, min_size: int, max_size: int, connection_factory: ConnectionFactory) -> None:
        """Keep the bounds and the factory; no connection exists before :meth:`initialize`."""
        self.min_size = min_size
        self.max_size = max_size
        self.connection_factory = connection_factory
        self.connections: list[Any] = []
        self._size = 0

    async def initialize(self) -> None:
        """Create ``min_size`` connections, one after the other, and append them."""
        for _ in range(self.min_size):
            self.connections.append(await self.connection_factory())
        self._size = self.min_size

    @property
    def size(self) -> int:
        """The size set by :meth:`initialize` (0 before it)."""
        return self._size


class MockConnection:
    """A connection stand-in whose health is fixed at construction, for tests and demos."""

    def __init__(self, alive: bool = True) -> None:
        """Remember whether :meth:`is_alive` reports healthy."""
        self._alive = alive

    async def is_alive(self) -> bool:
        """The health given at construction."""
        return self._alive


class ConnectionPoolOptimizer:
    """Creates pools and derives a pool size from a load history."""

    async def create_pool(
        self, min_size: int, max_size: int, connection_factory: ConnectionFactory
    ) -> ConnectionPool:
        """A new :class:`ConnectionPool`, already initialized."""
        pool = ConnectionPool(
            min_size=min_size, max_size=max_size, connection_factory=connection_factory
        )
        await pool.initialize()
        return pool

    def optimize_pool_size(
        self, load_pattern: Sequence[Mapping[str, Any]], pool: ConnectionPool
    ) -> int:
        """Size a pool for the observed load: mostly recent average, partly the peak.

        ``int(0.7 * mean(last 10 active_connections) + 0.3 * max(all active_connections))``,
        clamped to ``[pool.min_size, pool.max_size]``; ``pool.min_size`` for an empty pattern.
        The peak keeps headroom for bursts, the recent average follows the trend.
        """
        if not load_pattern:
            return pool.min_size
        recent = [sample["active_connections"] for sample in load_pattern[-RECENT_SAMPLES:]]
        average = sum(recent) / len(recent)
        peak = max(sample["active_connections"] for sample in load_pattern)
        optimal = int(average * AVERAGE_WEIGHT + peak * PEAK_WEIGHT)
        return max(pool.min_size, min(optimal, pool.max_size))

    async def monitor_pool_health(self, pool: ConnectionPool) -> dict[str, Any]:
        """Count healthy connections (checked one by one); percentage 0.0 with none."""
        connections: list[SupportsIsAlive] = pool.connections
        total = len(connections)
        healthy = 0
        for connection in connections:
            if await connection.is_alive():
                healthy += 1
        return {
            "total_connections": total,
            "healthy_connections": healthy,
            "unhealthy_connections": total - healthy,
            "health_percentage": healthy / total * 100 if total > 0 else 0.0,
        }


__all__ = ["ConnectionPool", "ConnectionPoolOptimizer", "MockConnection", "SupportsIsAlive"]
