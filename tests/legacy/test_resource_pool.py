"""``ResourcePool`` scaling arithmetic."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from legacy import ResourcePool


def test_scales_up_by_factor_capped_at_max() -> None:
    """High load multiplies by the factor (truncated) until ``max_workers``."""
    pool = ResourcePool("p", min_workers=2, max_workers=10)
    counts = []
    for _ in range(3):
        pool.simulate_load(high=True)
        counts.append(pool.get_active_workers())
    assert [4, 8, 10] == counts


def test_scales_down_by_factor_floored_at_min() -> None:
    """Low load divides by the factor (truncated) down to ``min_workers``."""
    pool = ResourcePool("p", min_workers=2, max_workers=10)
    pool.active_workers = 10
    counts = []
    for _ in range(3):
        pool.simulate_load(high=False)
        counts.append(pool.get_active_workers())
    assert [5, 2, 2] == counts


def test_truncation_with_fractional_factor() -> None:
    """``int()`` truncates: 3 * 1.5 = 4.5 -> 4; 4 / 1.5 = 2.67 -> 2."""
    pool = ResourcePool("p", min_workers=1, max_workers=100, scaling_factor=1.5)
    pool.active_workers = 3
    pool.simulate_load(True)
    assert 4 == pool.get_active_workers()
    pool.simulate_load(False)
    assert 2 == pool.get_active_workers()


def test_starts_at_min_and_utilization() -> None:
    """Active workers start at ``min_workers``; utilization is active over max."""
    pool = ResourcePool("p", min_workers=3, max_workers=12)
    assert 3 == pool.get_active_workers()
    assert 0.25 == pool.get_utilization()
    assert (2.0, 30) == (pool.scaling_factor, pool.idle_timeout)


@given(
    min_workers=st.integers(1, 20),
    extra=st.integers(0, 50),
    factor=st.floats(1.0, 4.0),
    loads=st.lists(st.booleans(), max_size=20),
)
def test_active_workers_stay_within_bounds(
    min_workers: int, extra: int, factor: float, loads: list[bool]
) -> None:
    """Whatever the sequence of loads, the count stays in ``[min_workers, max_workers]``."""
    pool = ResourcePool("p", min_workers, min_workers + extra, scaling_factor=factor)
    for high in loads:
        pool.simulate_load(high)
        assert min_workers <= pool.get_active_workers() <= min_workers + extra
