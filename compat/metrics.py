"""In-process counters and latency histograms of what the shim did, by worker and route.

Calls, items, errors, fallbacks, engines that cannot take calls and shadow outcomes are
counted here, cheaply (a dict and a
lock), so tests and ``cutover`` commands can read them; exporters (Prometheus, see
:mod:`cutover.ops.prometheus`) read this one source instead of every module keeping its own
numbers.

This module is on the hot path of every routed call, so it imports nothing beyond the
standard library (in particular not ``prometheus_client``): :func:`observe_latency` is a
``bisect`` into fixed bucket bounds and one increment under a lock, a few hundred
nanoseconds.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from time import perf_counter
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from adapters.timing import BatchTiming

LATENCY_BUCKETS_S: Final[tuple[float, ...]] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
)
"""Upper bounds (seconds, inclusive) of the latency buckets; one more bucket holds the rest.

Fixed, so every process exports the same ``le`` labels and histograms add up across a fleet.
"""

_lock = threading.Lock()
_counts: Counter[tuple[str, str, str]] = Counter()


_SUM = len(LATENCY_BUCKETS_S) + 1
"""Index of the running sum in a slot (after one count per bucket)."""
_CALLS, _ITEMS, _ERRORS = _SUM + 1, _SUM + 2, _SUM + 3
"""Indexes of the ``calls``, ``items`` and ``errors`` counters in a slot, after the sum."""
_SLOT_SIZE = _SUM + 4
_PER_CALL = (("calls", _CALLS), ("items", _ITEMS), ("errors", _ERRORS))

_latencies: dict[tuple[str, str], list[float]] = {}
"""``(worker, route)`` -> one slot: per-bucket (not cumulative) counts, the sum of seconds,
then the ``calls``, ``items`` and ``errors`` counters that :func:`record_call` keeps beside
the histogram (one lookup for all of them; the other counters are in ``_counts``)."""


@dataclass(frozen=True, slots=True)
class LatencySnapshot:
    """A copy of one histogram: ``buckets[i]`` counts observations in bucket ``i`` alone.

    Bucket ``i`` holds what is ``<= LATENCY_BUCKETS_S[i]`` (and above the bound before it); the
    last one holds what is above every bound.
    """

    buckets: tuple[int, ...]
    sum_s: float

    @property
    def count(self) -> int:
        """How many observations."""
        return sum(self.buckets)

    def cumulative(self) -> list[tuple[float, int]]:
        """``(upper bound, observations <= it)`` per bucket, ending with ``(inf, count)``."""
        running = 0
        out: list[tuple[float, int]] = []
        for bound, amount in zip((*LATENCY_BUCKETS_S, float("inf")), self.buckets, strict=True):
            running += amount
            out.append((bound, running))
        return out


_engines_down: dict[str, str] = {}
"""``route`` -> why its engine could not take the last call that tried it, in this process."""
_engines_back: set[str] = set()
"""Routes whose engine failed and has taken a call since (exported as up)."""


def engine_unavailable(route: str, error: str) -> bool:
    """The engine of ``route`` could not take a call (it could not start, or not be reached);
    True when it was not already known to be down (the caller then logs it once)."""
    with _lock:
        was_down = route in _engines_down
        _engines_down[route] = error
        _engines_back.discard(route)
    return not was_down


def engine_available(route: str) -> bool:
    """The engine of ``route`` took a call; True when it was down until now.

    The router calls it only while some engine is down (:func:`engines_down`), so a healthy
    process pays one dictionary check per call for this.
    """
    with _lock:
        if _engines_down.pop(route, None) is None:
            return False
        _engines_back.add(route)
    return True


def engines_down() -> dict[str, str]:
    """``route`` -> the error of every engine that cannot take calls now (a copy; cheap and
    empty in a healthy process)."""
    if not _engines_down:
        return {}
    with _lock:
        return dict(_engines_down)


def engine_states() -> dict[str, tuple[bool, str]]:
    """``route`` -> ``(up, last error)`` of every engine that failed in this process."""
    with _lock:
        states = {route: (False, error) for route, error in _engines_down.items()}
        states.update({route: (True, "") for route in _engines_back})
    return states


def count(name: str, worker: str, route: str, amount: int = 1) -> None:
    """Add ``amount`` to the counter ``name`` of ``worker`` on ``route``."""
    with _lock:
        _counts[(name, worker, route)] += amount


def observe_latency(worker: str, route: str, seconds: float) -> None:
    """Count one call of ``worker`` that took ``seconds`` on ``route`` (the engine that ran it).

    (The router counts its calls with :func:`record_call`, which folds into the same
    histogram.) It never raises for a number (a negative or NaN duration lands in the first
    bucket).
    """
    index = bisect_left(LATENCY_BUCKETS_S, seconds)
    with _lock:
        _observe_locked(worker, route, index, seconds)


def _observe_locked(worker: str, route: str, index: int, seconds: float) -> list[float]:
    """Add one observation in bucket ``index``; return the slot (the caller holds ``_lock``)."""
    try:
        slot = _latencies[worker, route]
    except KeyError:
        slot = _latencies[worker, route] = [0] * _SLOT_SIZE
    slot[index] += 1
    slot[_SUM] += seconds
    return slot


CallEntry = tuple[str, str, int, int, float, bool, float]
"""One finished call: ``(worker, route, flag_version, items, seconds, failed, finished)``,
``finished`` being ``time.perf_counter()`` at its end."""

FOLD_EVERY: Final = 256
"""Journaled calls folded at once (see :func:`record_call`)."""
FOLD_DELAY_S: Final = 1.0
"""The longest a journaled call waits to be folded while calls keep coming."""

_journal: list[CallEntry] = []
"""Calls not yet folded into the slots (appended without the lock: ``list.append`` is atomic)."""
_fold_due = 0.0
"""``perf_counter`` time by which the next call folds the journal, whatever its length."""
_consumers: list[Callable[[list[CallEntry]], None]] = []


def record_call(
    worker: str,
    route: str,
    flag_version: int,
    items: int,
    seconds: float,
    failed: bool,
    finished: float,
) -> None:
    """Count one routed call: ``calls``, ``items``, ``errors`` (when ``failed``) and the
    latency histogram of ``worker`` on ``route``; and hand it to the consumers (the call log).

    This runs once per routed call, so it only appends the call to a journal; every
    :data:`FOLD_EVERY` calls, or at the first call after :data:`FOLD_DELAY_S` (or after a
    consumer's deadline, :func:`fold_by`), the journal is folded in one pass. Why: a large
    call (a hundred tasks) evicts the slots, locks and code of the bookkeeping from the CPU
    caches, so counting each call on its own cost ~3 µs after a 100-item call; the folding
    pass runs hot. Every reader folds first, so what it reads includes every finished call.
    """
    _journal.append((worker, route, flag_version, items, seconds, failed, finished))
    if finished >= _fold_due or len(_journal) >= FOLD_EVERY:
        fold()


def fold() -> None:
    """Fold the journaled calls into the slots, then give them to the consumers."""
    global _fold_due
    with _lock:
        entries = _journal[:]
        del _journal[: len(entries)]  # calls appended meanwhile stay for the next fold
        _fold_due = perf_counter() + FOLD_DELAY_S
        for worker, route, _, items, seconds, failed, _ in entries:
            slot = _observe_locked(worker, route, bisect_left(LATENCY_BUCKETS_S, seconds), seconds)
            slot[_CALLS] += 1
            slot[_ITEMS] += items
            if failed:
                slot[_ERRORS] += 1
    if entries:
        for consumer in _consumers:
            consumer(entries)


def fold_by(deadline: float) -> None:
    """Fold no later than the first call finished at or after ``deadline`` (``perf_counter``
    time): a consumer's own interval (the call log's summaries) ends then."""
    global _fold_due
    _fold_due = min(_fold_due, deadline)


def on_fold(consumer: Callable[[list[CallEntry]], None]) -> Callable[[], None]:
    """Give ``consumer`` every folded call, oldest first, in batches (after the counters);
    returns the function that stops it."""
    _consumers.append(consumer)
    return lambda: _consumers.remove(consumer)


SPLIT_PHASES: Final[tuple[str, ...]] = ("queue_wait", "execution")
"""The two parts of a batch's latency (:mod:`adapters.timing`), each its own histogram."""

_split: dict[tuple[str, str, str], list[float]] = {}
"""``(worker, route, phase)`` -> per-bucket counts then the sum of seconds (as a slot)."""


def observe_split(worker: str, route: str, queue_wait_s: float, execution_s: float) -> None:
    """One batch of ``worker`` on ``route``: how long it waited and how long it ran.

    Fed from the engines' per-batch timings (queue wait = caller-observed total minus the
    worker-measured execution, so no clock is shared); the legacy route observes each call
    once with a wait of 0 (it has no queue). Batches whose worker did not report its
    execution are not observed: their split is unknown.
    """
    wait_index = bisect_left(LATENCY_BUCKETS_S, queue_wait_s)
    run_index = bisect_left(LATENCY_BUCKETS_S, execution_s)
    with _lock:
        for phase, index, seconds in (
            ("queue_wait", wait_index, queue_wait_s),
            ("execution", run_index, execution_s),
        ):
            try:
                slot = _split[worker, route, phase]
            except KeyError:
                slot = _split[worker, route, phase] = [0] * (_SUM + 1)
            slot[index] += 1
            slot[_SUM] += seconds


def observe_batches(worker: str, timings: Iterable[BatchTiming]) -> None:
    """Every batch of one call that reported its execution, by the engine that ran it."""
    for batch in timings:
        wait = batch.queue_wait_s
        if wait is not None and batch.execution_s is not None:
            observe_split(worker, batch.engine, wait, batch.execution_s)


def split_snapshot() -> dict[tuple[str, str, str], LatencySnapshot]:
    """A copy of every queue-wait / execution histogram: ``(worker, route, phase) -> it``."""
    with _lock:
        return {
            key: LatencySnapshot(tuple(int(n) for n in slot[:_SUM]), float(slot[_SUM]))
            for key, slot in _split.items()
        }


def _all_counts_locked() -> Counter[tuple[str, str, str]]:
    """Every counter, those kept in the slots included (the caller holds ``_lock``)."""
    counts = Counter(_counts)
    for (worker, route), slot in _latencies.items():
        for name, index in _PER_CALL:
            if slot[index]:
                counts[(name, worker, route)] += int(slot[index])
    return counts


def value(name: str, worker: str | None = None, route: str | None = None) -> int:
    """The total of ``name``, optionally for one worker and/or route."""
    fold()
    with _lock:
        counts = _all_counts_locked()
    return sum(
        amount
        for (counted, counted_worker, counted_route), amount in counts.items()
        if counted == name
        and (worker is None or counted_worker == worker)
        and (route is None or counted_route == route)
    )


def snapshot() -> dict[tuple[str, str, str], int]:
    """A copy of every counter: ``(name, worker, route) -> total``."""
    fold()
    with _lock:
        return dict(_all_counts_locked())


def latency_snapshot() -> dict[tuple[str, str], LatencySnapshot]:
    """A copy of every latency histogram: ``(worker, route) -> histogram``."""
    fold()
    with _lock:
        return {
            key: LatencySnapshot(tuple(int(n) for n in slot[:_SUM]), float(slot[_SUM]))
            for key, slot in _latencies.items()
            if any(slot[:_SUM])
        }


def reset() -> None:
    """Forget every counter and histogram (tests)."""
    with _lock:
        _journal.clear()
        _counts.clear()
        _latencies.clear()
        _split.clear()
        _engines_down.clear()
        _engines_back.clear()


__all__ = [
    "FOLD_DELAY_S",
    "FOLD_EVERY",
    "LATENCY_BUCKETS_S",
    "SPLIT_PHASES",
    "CallEntry",
    "LatencySnapshot",
    "count",
    "engine_available",
    "engine_states",
    "engine_unavailable",
    "engines_down",
    "fold",
    "fold_by",
    "latency_snapshot",
    "observe_batches",
    "observe_latency",
    "observe_split",
    "on_fold",
    "record_call",
    "reset",
    "snapshot",
    "split_snapshot",
    "value",
]
