"""The per-call bookkeeping is journaled and folded in bulk (:func:`compat.metrics.record_call`):
no reader ever sees fewer calls than have finished, a fold comes every ``FOLD_EVERY`` calls or
at the first call past its deadline, consumers get every call once and in order, and threads
appending while others read lose nothing."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from time import perf_counter

import pytest

from compat import calllog, metrics

WORKER = "journal"


@pytest.fixture
def folded() -> Iterator[list[metrics.CallEntry]]:
    """What metrics fold, in order (call log silenced, counters reset before and after)."""
    calllog.configure(level=logging.WARNING)
    metrics.reset()
    seen: list[metrics.CallEntry] = []
    stop = metrics.on_fold(seen.extend)
    metrics.fold()  # the next fold is FOLD_DELAY_S away
    yield seen
    stop()
    metrics.reset()
    calllog.configure()


def call(n: int, finished: float, failed: bool = False) -> None:
    metrics.record_call(WORKER, "legacy", 3, n, 0.002, failed, finished)


def test_a_reader_folds_first_so_it_counts_every_finished_call(
    folded: list[metrics.CallEntry],
) -> None:
    """Three calls wait in the journal; the first read counts them all, histogram included,
    and the consumer gets them once, oldest first."""
    now = perf_counter()
    call(1, now)
    call(2, now, failed=True)
    call(4, now)
    assert [] == folded
    assert (3, 7, 1) == tuple(metrics.value(name, WORKER) for name in ("calls", "items", "errors"))
    assert [1, 2, 4] == [entry[3] for entry in folded]
    histogram = metrics.latency_snapshot()[WORKER, "legacy"]
    assert (3, pytest.approx(0.006)) == (histogram.count, histogram.sum_s)
    assert 3 == metrics.value("calls", WORKER)  # a second read folds nothing twice
    assert 3 == len(folded)


def test_a_fold_comes_every_fold_every_calls_and_at_the_first_call_past_its_deadline(
    folded: list[metrics.CallEntry],
) -> None:
    """No reader: ``FOLD_EVERY`` calls fold themselves; then a call finished after the
    deadline set by ``fold_by`` folds with the calls before it."""
    now = perf_counter()
    for _ in range(metrics.FOLD_EVERY - 1):
        call(1, now)
    assert 0 == len(folded)
    call(1, now)
    assert metrics.FOLD_EVERY == len(folded)
    call(1, now)
    metrics.fold_by(now + 0.5)
    call(1, now + 0.25)
    assert metrics.FOLD_EVERY == len(folded)
    call(1, now + 0.5)
    assert metrics.FOLD_EVERY + 3 == len(folded)


def test_threads_appending_while_others_read_lose_and_repeat_nothing(
    folded: list[metrics.CallEntry],
) -> None:
    """Four threads make 5,000 calls each while a fifth reads all along: every call is
    counted once, and the consumer saw each once."""
    done = threading.Event()

    def make_calls(index: int) -> None:
        for n in range(5000):
            call(index, perf_counter() if n % 7 else 0.0)

    def read() -> None:
        while not done.is_set():
            metrics.snapshot()

    reader = threading.Thread(target=read)
    reader.start()
    callers = [threading.Thread(target=make_calls, args=(i,)) for i in (1, 2, 3, 4)]
    for thread in callers:
        thread.start()
    for thread in callers:
        thread.join()
    done.set()
    reader.join()
    assert (20_000, 50_000) == (metrics.value("calls", WORKER), metrics.value("items", WORKER))
    assert [5000] * 4 == [sum(1 for e in folded if e[3] == i) for i in (1, 2, 3, 4)]
