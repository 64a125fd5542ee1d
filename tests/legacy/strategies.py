"""Every hypothesis strategy the legacy tests draw from, in one place."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

#: Items for the batched map: small ints, duplicates allowed (order must still hold).
batch_items = st.lists(st.integers(min_value=-1_000, max_value=1_000), max_size=40)
batch_sizes = st.integers(min_value=1, max_value=12)
concurrency_limits = st.integers(min_value=1, max_value=6)
#: How many times an item yields to the event loop (>= 1, so every item is in flight once).
yield_counts = st.integers(min_value=1, max_value=3)

#: Values that ``batch_size`` / ``max_concurrent`` must refuse.
invalid_batch_arguments = st.one_of(
    st.integers(max_value=0),
    st.booleans(),
    st.floats(allow_nan=True),
    st.text(max_size=3),
    st.none(),
    st.just([3]),
)


@st.composite
def workers(draw: st.DrawFn, min_size: int = 1, max_size: int = 6) -> list[dict[str, Any]]:
    """Worker dicts with unique ids ``w0``, ``w1``, ..., a load and a positive capacity."""
    count = draw(st.integers(min_value=min_size, max_value=max_size))
    return [
        {
            "id": f"w{index}",
            "load": draw(st.floats(min_value=0.0, max_value=10.0)),
            "capacity": draw(st.floats(min_value=0.5, max_value=10.0)),
        }
        for index in range(count)
    ]


#: Task dicts for ``distribute_tasks``: only the weight matters.
weighted_tasks = st.lists(
    st.fixed_dictionaries({"weight": st.floats(min_value=0.0, max_value=10.0)}), max_size=40
)


@st.composite
def distributions(draw: st.DrawFn) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """A worker list and a distribution over (some of) its ids, counts >= 0."""
    worker_list = draw(workers(min_size=1, max_size=8))
    ids = [worker["id"] for worker in worker_list]
    chosen = draw(st.lists(st.sampled_from(ids), unique=True))
    distribution = {worker_id: draw(st.integers(min_value=0, max_value=50)) for worker_id in chosen}
    return distribution, worker_list


#: Ids a dependency may name that are not tasks of the list.
GHOST_IDS = ("ghost-a", "ghost-b")


@st.composite
def dependency_graphs(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Tasks ``t0``.. with random dependencies: cycles, self-loops, repeats, unknown ids."""
    count = draw(st.integers(min_value=0, max_value=12))
    ids = [f"t{index}" for index in range(count)]
    candidates = ids + list(GHOST_IDS)
    tasks: list[dict[str, Any]] = []
    for task_id in ids:
        task: dict[str, Any] = {"id": task_id, "duration": draw(st.integers(0, 5))}
        if draw(st.booleans()):
            task["dependencies"] = draw(st.lists(st.sampled_from(candidates), max_size=3))
        tasks.append(task)
    return draw(st.permutations(tasks))


#: Priorities of scheduled tasks: a narrow range, so ties are common.
priorities = st.lists(st.integers(min_value=-2, max_value=2), max_size=25)

#: A list of one string repeated, as ``optimize_data_structures`` compacts it.
repeated_strings = st.builds(
    lambda text, count: [text] * count, st.text(max_size=5), st.integers(0, 60)
)

#: Lists of mostly ``None`` (and sometimes not mostly: the optimizer must then keep them).
sparse_lists = st.lists(st.one_of(st.none(), st.none(), st.none(), st.integers()), max_size=60)
