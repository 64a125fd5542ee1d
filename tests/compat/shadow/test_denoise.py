"""NoiseLearner: fields that differ between two primary runs are learned and then ignored."""

from __future__ import annotations

import threading
from itertools import cycle
from typing import Any

from compat.shadow.compare import compare
from compat.shadow.denoise import NoiseLearner
from flags import ShadowConfig

CONFIG = ShadowConfig(route="celery", denoise=True)


def rows(stamp: int, total: int = 10) -> list[dict[str, Any]]:
    """A result whose every row carries a run-dependent timestamp."""
    return [{"id": n, "total": total + n, "timestamp": stamp + n} for n in range(3)]


def test_learns_the_timestamp_of_every_row_then_ignores_it() -> None:
    """Two primary runs teach `$[*].timestamp`; a candidate differing only there matches."""
    learner = NoiseLearner()
    assert frozenset({"$[*].timestamp"}) == learner.observe("w", rows(100), rows(200), CONFIG)
    noisy = learner.noisy_paths("w")
    assert frozenset({"$[*].timestamp"}) == noisy
    assert not compare(rows(100), rows(300), CONFIG).equal
    assert compare(rows(100), rows(300), CONFIG, noisy).equal


def test_real_differences_still_show_after_learning() -> None:
    """Learned noise hides only itself: a changed total is still a mismatch."""
    learner = NoiseLearner()
    learner.observe("w", rows(100), rows(200), CONFIG)
    result = compare(rows(100), rows(300, total=11), CONFIG, learner.noisy_paths("w"))
    assert ("$[0].total: 10 != 11", "$[1].total: 11 != 12", "$[2].total: 12 != 13") == (
        result.diffs
    )


def test_noise_is_per_worker_and_per_operation() -> None:
    """What one worker learned is not applied to another; operations can be asked apart."""
    learner = NoiseLearner()
    learner.observe("a", {"at": 1}, {"at": 2}, CONFIG, operation="batch")
    learner.observe("a", {"pid": 1}, {"pid": 2}, CONFIG, operation="task")
    assert frozenset() == learner.noisy_paths("b")
    assert frozenset({"$.at"}) == learner.noisy_paths("a", "batch")
    assert frozenset({"$.at", "$.pid"}) == learner.noisy_paths("a")


def test_identical_runs_teach_nothing() -> None:
    """Deterministic results leave nothing noisy, but count as an observation."""
    learner = NoiseLearner()
    assert frozenset() == learner.observe("w", rows(1), rows(1), CONFIG)
    assert (frozenset(), 1) == (learner.noisy_paths("w"), learner.observations("w"))


def test_rerun_warmup_then_share() -> None:
    """The first `warmup` samples rerun the primary, then a `rerun_share` of them."""
    draws = cycle([0.05, 0.5])  # below, then above a 10% share
    learner = NoiseLearner(warmup=3, rerun_share=0.1, random_fn=lambda: next(draws))
    decisions = [learner.should_rerun_primary("w") for _ in range(7)]
    assert [True, True, True, True, False, True, False] == decisions
    assert learner.should_rerun_primary("other")


def test_memory_is_bounded() -> None:
    """At most max_paths paths per worker and max_workers workers (oldest forgotten)."""
    learner = NoiseLearner(max_paths=5, max_workers=2)
    first = {f"k{n}": n for n in range(20)}
    second = {f"k{n}": n + 1 for n in range(20)}
    learner.observe("w1", first, second, CONFIG)
    assert 5 == len(learner.noisy_paths("w1"))
    learner.observe("w2", {"a": 1}, {"a": 2}, CONFIG)
    learner.observe("w3", {"b": 1}, {"b": 2}, CONFIG)
    assert frozenset() == learner.noisy_paths("w1")
    assert frozenset({"$.b"}) == learner.noisy_paths("w3")


def test_ignored_paths_are_not_learned() -> None:
    """Paths the flags already ignore are not learned again."""
    options = ShadowConfig(route="celery", ignore_paths=("$.at",))
    learner = NoiseLearner()
    assert frozenset({"$.n"}) == learner.observe("w", {"at": 1, "n": 1}, {"at": 2, "n": 2}, options)


def test_thread_safe_observations() -> None:
    """Concurrent observations from many threads are all counted and all learned."""
    learner = NoiseLearner(max_paths=1000)

    def observe(thread: int) -> None:
        for n in range(50):
            learner.observe("w", {f"t{thread}": n}, {f"t{thread}": n + 1}, CONFIG)
            learner.should_rerun_primary("w")

    threads = [threading.Thread(target=observe, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert 400 == learner.observations("w")
    assert frozenset(f"$.t{t}" for t in range(8)) == learner.noisy_paths("w")


def test_forget() -> None:
    """forget() drops what was learned about one worker, or about all."""
    learner = NoiseLearner()
    learner.observe("a", {"x": 1}, {"x": 2}, CONFIG)
    learner.observe("b", {"x": 1}, {"x": 2}, CONFIG)
    learner.forget("a")
    assert (frozenset(), frozenset({"$.x"})) == (learner.noisy_paths("a"), learner.noisy_paths("b"))
    learner.forget()
    assert frozenset() == learner.noisy_paths("b")
