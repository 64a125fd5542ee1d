"""Peak resident memory and CPU time of a process tree, per benchmark cell.

A benchmark cell counts the memory of everything that does its work: the client process and
the engine processes of the route (the Celery worker and its prefork pool; the local Ray
instance: GCS, raylet, its agents and ``ray::`` workers). :class:`PeakRssSampler` sums the
resident set size (RSS) of those processes every ``interval_s`` while the cell runs and keeps
the highest sum, with the per-group breakdown at that moment.

RSS counts a page shared by several processes (a forked pool child, a shared library) once
per process, which is what ``ps`` and most dashboards show; it over-states the physical
memory of forked pools, and the same way for every route.

:class:`CpuAccount` says where a run's time went: the CPU seconds each group used, the CPU
seconds every *other* process of the machine used meanwhile, and the time the hypervisor
took away (steal). On a shared machine the last two explain a run that was slow for reasons
of its own.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType

import psutil

MIB = 1024 * 1024
DEFAULT_INTERVAL_S = 0.05
REFRESH_EVERY = 10
"""Re-list the processes every this many samples (listing reads all of ``/proc``)."""

GroupPids = Callable[[], Mapping[str, set[int]]]
"""Returns, for each group name (``client``, ``celery``, ``ray``), the process ids in it."""


@dataclass
class PeakRss:
    """The highest total RSS seen, in MiB, and each group's share at that moment."""

    total_mb: float = 0.0
    by_group_mb: dict[str, float] = field(default_factory=dict)
    samples: int = 0
    processes: int = 0


class PeakRssSampler:
    """Samples the summed RSS of the processes of ``groups`` until the block ends.

    ``with PeakRssSampler(groups) as sampler: ...`` then ``sampler.peak``. The processes are
    looked up again every few samples, so workers that start during the cell are counted.
    """

    def __init__(self, groups: GroupPids, interval_s: float = DEFAULT_INTERVAL_S) -> None:
        self._groups = groups
        self.interval_s = interval_s
        self.peak = PeakRss()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._cache: dict[int, psutil.Process] = {}
        self._members: dict[str, list[int]] = {}

    def _refresh(self) -> None:
        members: dict[str, list[int]] = {}
        for name, pids in self._groups().items():
            members[name] = sorted(pids)
            for pid in pids:
                if pid not in self._cache:
                    with contextlib.suppress(psutil.Error):
                        self._cache[pid] = psutil.Process(pid)
        self._members = members

    def sample(self) -> float:
        """Take one sample now; returns its total in MiB."""
        by_group: dict[str, float] = {}
        counted = 0
        for name, pids in self._members.items():
            total = 0
            for pid in pids:
                process = self._cache.get(pid)
                if process is None:
                    continue
                try:
                    total += process.memory_info().rss
                    counted += 1
                except psutil.Error:
                    self._cache.pop(pid, None)
            by_group[name] = total / MIB
        grand_total = sum(by_group.values())
        self.peak.samples += 1
        if grand_total > self.peak.total_mb:
            self.peak = PeakRss(grand_total, by_group, self.peak.samples, counted)
        return grand_total

    def _run(self) -> None:
        taken = 0
        while not self._stop.is_set():
            if taken % REFRESH_EVERY == 0:
                self._refresh()
            self.sample()
            taken += 1
            self._stop.wait(self.interval_s)

    def __enter__(self) -> PeakRssSampler:
        self._refresh()
        self.sample()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="cutover-rss-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._refresh()
        self.sample()


def _busy_and_steal() -> tuple[float, float]:
    times = psutil.cpu_times()
    steal = float(getattr(times, "steal", 0.0))
    busy = sum(
        float(getattr(times, name, 0.0)) for name in ("user", "nice", "system", "irq", "softirq")
    )
    return busy, steal


class CpuAccount:
    """CPU seconds of each group, of the rest of the machine, and stolen, over one run.

    ``account = CpuAccount(groups); ...run...; account.finish()`` returns
    ``{"client": s, "celery": s, ..., "other processes": s, "steal": s}``. A process that
    ended during the run is not counted (its time is lost with it).
    """

    def __init__(self, groups: GroupPids) -> None:
        self._processes: dict[str, list[psutil.Process]] = {}
        for name, pids in groups().items():
            found = []
            for pid in pids:
                with contextlib.suppress(psutil.Error):
                    found.append(psutil.Process(pid))
            self._processes[name] = found
        self._start = {name: self._cpu(found) for name, found in self._processes.items()}
        self._machine = _busy_and_steal()

    @staticmethod
    def _cpu(processes: list[psutil.Process]) -> dict[int, float]:
        used = {}
        for process in processes:
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                used[process.pid] = (
                    times.user + times.system + times.children_user + times.children_system
                )
        return used

    def finish(self) -> dict[str, float]:
        """The seconds used since the account was opened."""
        result: dict[str, float] = {}
        for name, processes in self._processes.items():
            before = self._start[name]
            after = self._cpu(processes)
            result[name] = sum(after[pid] - before[pid] for pid in after if pid in before)
        busy, steal = _busy_and_steal()
        result["other processes"] = max(0.0, busy - self._machine[0] - sum(result.values()))
        result["steal"] = max(0.0, steal - self._machine[1])
        return result


__all__ = ["MIB", "CpuAccount", "GroupPids", "PeakRss", "PeakRssSampler"]
