"""Learn which parts of a worker's results are noise, the way Diffy does.

Some fields differ between two runs of the *same* code: timestamps, generated ids, the pid
of the process that ran the task. Compared against a candidate they would drown the real
differences. With ``shadow.denoise`` on, some sampled calls also run the primary a second
time; every path where the two primary results differ is learned as noisy (list indices
generalised, so "the timestamp of every row" is one path, ``$[*].timestamp``) and from then
on left out of that worker's candidate comparisons, and listed in its shadow records.

Which calls rerun the primary: the first ``warmup`` samples of each worker, then a
``rerun_share`` of them. State lives in this process only, bounded: at most ``max_paths``
paths per worker and ``max_workers`` workers (the least recently seen is forgotten).
"""

from __future__ import annotations

import random
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from compat.shadow.compare import differing_paths
from flags import ShadowConfig
from ground.logs import get_logger

DEFAULT_WARMUP: Final = 20
DEFAULT_RERUN_SHARE: Final = 0.1
MAX_PATHS_PER_WORKER: Final = 200
MAX_WORKERS: Final = 1000
_ANY_OPERATION: Final = ""


@dataclass
class _WorkerNoise:
    samples: int = 0
    observations: int = 0
    paths: dict[str, set[str]] = field(default_factory=dict)
    full_warned: bool = False

    def count(self) -> int:
        return sum(len(paths) for paths in self.paths.values())


class NoiseLearner:
    """Noisy paths per worker (and operation), learned from pairs of primary results."""

    def __init__(
        self,
        *,
        warmup: int = DEFAULT_WARMUP,
        rerun_share: float = DEFAULT_RERUN_SHARE,
        max_paths: int = MAX_PATHS_PER_WORKER,
        max_workers: int = MAX_WORKERS,
        random_fn: Callable[[], float] = random.random,
    ) -> None:
        self.warmup = warmup
        self.rerun_share = rerun_share
        self.max_paths = max_paths
        self.max_workers = max_workers
        self._random = random_fn
        self._lock = threading.Lock()
        self._workers: OrderedDict[str, _WorkerNoise] = OrderedDict()

    def _state(self, worker: str) -> _WorkerNoise:
        """The state of ``worker``, most recently used (caller holds the lock)."""
        state = self._workers.get(worker)
        if state is None:
            state = self._workers[worker] = _WorkerNoise()
            while len(self._workers) > self.max_workers:
                self._workers.popitem(last=False)
        else:
            self._workers.move_to_end(worker)
        return state

    def should_rerun_primary(self, worker: str) -> bool:
        """Should this sampled call of ``worker`` also run the primary a second time?

        Yes for the first ``warmup`` samples, then with probability ``rerun_share``.
        """
        with self._lock:
            state = self._state(worker)
            state.samples += 1
            if state.samples <= self.warmup:
                return True
        return self._random() < self.rerun_share

    def observe(
        self,
        worker: str,
        first_primary: Any,
        second_primary: Any,
        config: ShadowConfig,
        operation: str | None = None,
    ) -> frozenset[str]:
        """Learn the paths where two primary results of one call differ; returns them.

        ``config.ignore_paths`` are not learned (they are ignored anyway).
        """
        found = differing_paths(first_primary, second_primary, config)
        with self._lock:
            state = self._state(worker)
            state.observations += 1
            if not found:
                return found
            known = state.paths.setdefault(operation or _ANY_OPERATION, set())
            room = self.max_paths - state.count()
            new = sorted(found - known)
            known.update(new[: max(room, 0)])
            overflow = len(new) > room and not state.full_warned
            if overflow:
                state.full_warned = True
        if overflow:
            get_logger("cutover.shadow", worker=worker).warning(
                "shadow_noise_limit",
                limit=self.max_paths,
                hint="results differ in many places between two primary runs; "
                "consider shadow.ignore_paths",
            )
        return found

    def noisy_paths(self, worker: str, operation: str | None = None) -> frozenset[str]:
        """The paths learned as noisy for ``worker`` (all operations unless one is named)."""
        with self._lock:
            state = self._workers.get(worker)
            if state is None:
                return frozenset()
            if operation is None:
                return frozenset().union(*state.paths.values())
            return frozenset(
                state.paths.get(operation, set()) | state.paths.get(_ANY_OPERATION, set())
            )

    def observations(self, worker: str) -> int:
        """How many pairs of primary results of ``worker`` were observed."""
        with self._lock:
            state = self._workers.get(worker)
            return 0 if state is None else state.observations

    def forget(self, worker: str | None = None) -> None:
        """Forget what was learned about ``worker`` (every worker when ``None``)."""
        with self._lock:
            if worker is None:
                self._workers.clear()
            else:
                self._workers.pop(worker, None)


__all__ = ["DEFAULT_RERUN_SHARE", "DEFAULT_WARMUP", "NoiseLearner"]
