"""The call log: a summary per worker and route at ``info``, one line per call at ``debug``.

A worker making thousands of calls a second cannot afford a log line per call (rendering one
JSON line costs more than the whole shim), and its logs would drown everything else. So:

- ``event=calls`` (info), once per interval (``CUTOVER_CALL_SUMMARY_S``, default 60 s) per
  worker and route that had calls: ``calls``, ``errors``, ``items``, latency quantiles
  ``p50_ms`` / ``p95_ms`` / ``p99_ms`` / ``max_ms`` (over up to 2048 calls sampled
  uniformly from the interval) and the ``flag_version`` of its last call (no ``call_id``:
  a summary is about many calls, and the legacy route makes no call id nobody reads);
- ``event=call`` (debug), one per call: worker, call_id, route, reason, flag_version, items,
  duration_ms, outcome.

``CUTOVER_CALL_LOG_LEVEL`` is the threshold of the call log alone (like a named logger's
level): ``debug`` shows both, ``info`` the summaries, ``warning`` (or anything above, or
``off``) nothing. Unset, it follows ``CUTOVER_LOG_LEVEL``. It is read whenever logging is
configured (``ground.logs.configure_logging(force=True)``) and by :func:`configure`, so a
process can change it without a restart.

The call log reads the calls that :mod:`compat.metrics` journals and folds in bulk (the
router makes no call of its own here: see :func:`compat.metrics.record_call` for why). A
summary is written by the first call after its interval ended (no thread: the call log asks
metrics to fold by then), by :func:`flush`, or when the process exits (the last interval's
calls are summarised rather than lost with it). Under several threads the summaries may miss
a call; the exact counters are :mod:`compat.metrics`.
"""

from __future__ import annotations

import atexit
import logging
import os
import random
from typing import Any, Final

import structlog

from compat import metrics
from ground.constants import CALL_LOG_LEVEL_ENV, LOG_LEVEL_ENV
from ground.logs import get_logger, on_configure

SUMMARY_INTERVAL_ENV: Final = "CUTOVER_CALL_SUMMARY_S"
DEFAULT_SUMMARY_INTERVAL_S: Final = 60.0
MAX_SAMPLES: Final = 2048
"""Latencies kept per worker, route and interval (a uniform sample of the interval's calls)."""

LOGGER_NAME: Final = "cutover.compat.calls"
_OFF: Final = logging.CRITICAL + 10
_NEVER: Final = float("inf")


def level_from_env() -> int:
    """The call log's threshold: ``CUTOVER_CALL_LOG_LEVEL``, else ``CUTOVER_LOG_LEVEL``."""
    names = logging.getLevelNamesMapping()
    for variable in (CALL_LOG_LEVEL_ENV, LOG_LEVEL_ENV):
        name = os.environ.get(variable, "").strip().upper()
        if name in ("OFF", "NONE"):
            return _OFF
        if name in names:
            return names[name]
    return logging.INFO


def interval_from_env() -> float:
    """Seconds between two summaries of a worker and route (``CUTOVER_CALL_SUMMARY_S``)."""
    try:
        seconds = float(os.environ.get(SUMMARY_INTERVAL_ENV, DEFAULT_SUMMARY_INTERVAL_S))
    except ValueError:
        return DEFAULT_SUMMARY_INTERVAL_S
    return seconds if seconds > 0 else DEFAULT_SUMMARY_INTERVAL_S


class Window:
    """What one worker and route did since the last summary."""

    __slots__ = ("calls", "errors", "flag_version", "items", "samples")

    def __init__(self) -> None:
        self.calls = 0
        self.errors = 0
        self.items = 0
        self.flag_version = 0
        self.samples: list[float] = []

    def add(self, seconds: float) -> None:
        """Count one call's latency into the sample (reservoir sampling past MAX_SAMPLES)."""
        samples = self.samples
        if len(samples) < MAX_SAMPLES:
            samples.append(seconds)
        else:
            slot = int(random.random() * self.calls)
            if slot < MAX_SAMPLES:
                samples[slot] = seconds

    def fields(self) -> dict[str, Any]:
        """The summary line's numbers."""
        ordered = sorted(self.samples)

        def quantile(q: float) -> float:
            index = min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.5) - 1))
            return round(ordered[index] * 1000, 3)

        return {
            "calls": self.calls,
            "errors": self.errors,
            "items": self.items,
            "p50_ms": quantile(0.50),
            "p95_ms": quantile(0.95),
            "p99_ms": quantile(0.99),
            "max_ms": round(ordered[-1] * 1000, 3),
            "flag_version": self.flag_version,
        }


class CallLog:
    """The call log of the process at one configuration (see the module docstring).

    ``per_call`` is the bound ``debug`` method when per-call lines are on, else ``None``;
    ``summaries`` says whether :meth:`record` should be called at all.
    """

    def __init__(self, level: int | None = None, interval_s: float | None = None) -> None:
        self.level = level_from_env() if level is None else level
        self.interval_s = interval_from_env() if interval_s is None else interval_s
        self.summaries = self.level <= logging.INFO
        self.per_call: Any = None
        if self.level <= logging.DEBUG:
            self.per_call = _logger(self.level).bind().debug
        self._windows: dict[tuple[str, str], Window] = {}
        self._due = _NEVER
        """When the current interval ends (``perf_counter`` time; none before a call)."""
        if self.summaries:
            # The next call is folded at once, so the first window starts at it; each window
            # then asks metrics to fold by its end (``record``).
            metrics.fold_by(0.0)

    def record(
        self,
        worker: str,
        route: str,
        flag_version: int,
        items: int,
        seconds: float,
        failed: bool,
        now: float,
    ) -> None:
        """Count one finished call (``now``: ``time.perf_counter()`` at its end)."""
        window = self._windows.get((worker, route))
        if window is None:
            window = self._windows[worker, route] = Window()
            if self._due == _NEVER:
                self._due = now + self.interval_s
                metrics.fold_by(self._due)
        window.calls += 1
        window.items += items
        window.errors += failed
        window.flag_version = flag_version
        samples = window.samples
        if len(samples) < MAX_SAMPLES:
            samples.append(seconds)
        else:
            window.add(seconds)
        if now >= self._due:
            self.flush(now - self._due + self.interval_s)

    def record_all(self, entries: list[metrics.CallEntry]) -> None:
        """Count the calls :mod:`compat.metrics` folded (oldest first)."""
        if self.summaries:
            for worker, route, flag_version, items, seconds, failed, finished in entries:
                self.record(worker, route, flag_version, items, seconds, failed, finished)

    def flush(self, interval_s: float | None = None) -> int:
        """Write the summary of every worker and route with calls; start a new interval.

        Returns how many lines were written.
        """
        windows, self._windows = self._windows, {}
        self._due = _NEVER
        if not self.summaries:
            return 0
        log = _logger(self.level)
        extra = {} if interval_s is None else {"interval_s": round(interval_s, 3)}
        for (worker, route), window in windows.items():
            if window.calls:
                log.info("calls", worker=worker, route=route, **window.fields(), **extra)
        return sum(1 for window in windows.values() if window.calls)


def _logger(level: int) -> Any:
    """A logger of the call log filtering at ``level`` (its own, not ``CUTOVER_LOG_LEVEL``);
    the processors, renderer and output stay those configured by :mod:`ground.logs`."""
    get_logger(LOGGER_NAME)  # logging configured before the first line
    wrapper = structlog.make_filtering_bound_logger(min(level, logging.CRITICAL))
    return structlog.wrap_logger(None, wrapper_class=wrapper, logger_factory_args=(LOGGER_NAME,))


active = CallLog(level=_OFF)
"""The call log in force; replaced whole by :func:`configure` (read it, do not keep it)."""


def configure(level: int | None = None, interval_s: float | None = None) -> CallLog:
    """Re-read the level and interval from the environment (or take them); return the new
    call log. What the old one had counted is summarised first."""
    global active
    metrics.fold()  # what was counted so far belongs to the old configuration
    previous, active = active, CallLog(level, interval_s)
    previous.flush()
    return active


def flush() -> int:
    """Write the pending summaries now (before a shutdown, in tests); how many lines."""
    metrics.fold()
    return active.flush()


def _record_folded(entries: list[metrics.CallEntry]) -> None:
    active.record_all(entries)


def _reconfigure() -> None:
    configure()


def _flush_at_exit() -> None:
    try:
        flush()
    except Exception:  # at exit, a broken log stream must not hide the real exit status
        logging.getLogger(LOGGER_NAME).exception("the call log's last summary was not written")


metrics.on_fold(_record_folded)
atexit.register(_flush_at_exit)
on_configure(_reconfigure)  # now, if logging is configured already; else at configuration
get_logger(LOGGER_NAME)  # configures logging if nothing did yet (and so the call log)

__all__ = [
    "CALL_LOG_LEVEL_ENV",
    "DEFAULT_SUMMARY_INTERVAL_S",
    "MAX_SAMPLES",
    "SUMMARY_INTERVAL_ENV",
    "CallLog",
    "active",
    "configure",
    "flush",
    "interval_from_env",
    "level_from_env",
]
