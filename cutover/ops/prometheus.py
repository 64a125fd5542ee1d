"""Prometheus metrics of the cutover: a collector over :mod:`compat.metrics` and the flags.

Nothing is counted here: :mod:`compat.metrics` keeps the numbers on the hot path (with no
``prometheus_client`` import), and :class:`CutoverCollector` turns them into metric families
when Prometheus scrapes:

=======================================  ====================================================
``cutover_calls_total``                  calls by ``worker`` and ``route`` (the engine that ran)
``cutover_items_total``                  items of those calls
``cutover_errors_total``                 calls that raised
``cutover_fallbacks_total``              calls moved to legacy because ``route`` was unavailable
``cutover_engine_unavailable_total``     calls whose engine could not start or be reached
``cutover_engine_up``                    per ``route`` whose engine failed in this process:
                                         0 while it cannot take calls, 1 once it takes them
``cutover_call_duration_seconds``        histogram of call latency by ``worker`` and ``route``
``cutover_batch_queue_wait_seconds``     histogram of a batch's wait (publish -> start: the
                                         caller's total minus the worker's execution; 0 on
                                         legacy) by ``worker`` and ``route``
``cutover_batch_execution_seconds``      histogram of a batch's run (start -> finish, on the
                                         worker's own clock) by ``worker`` and ``route``
``cutover_shadow_outcomes_total``        shadow experiments by ``worker``, ``candidate`` and
                                         ``outcome`` (match, mismatch, both_failed,
                                         candidate_error, candidate_timeout, skipped_unsafe,
                                         skipped_saturated, skipped_starting, cancelled)
``cutover_flag_version``                 current flag version per ``worker``
``cutover_flag_percent``                 share of calls on ``route`` (the rest on ``base``)
``cutover_flag_killed``                  1 when the worker's kill switch is on
``cutover_flags_global_kill``            1 when every worker is forced onto legacy
``cutover_flags_stale``                  1 when the flags could not be read at the last try
=======================================  ====================================================

Any other counter of :mod:`compat.metrics` is exported as ``cutover_<name>_total``.

Counters live in the process that makes the calls, so a host application exposes them
itself: :func:`register_collector` adds the collector to its registry (the default one if it
already serves ``/metrics``), :func:`make_wsgi_app` gives a WSGI app to mount, and
:func:`start_metrics_server` serves one on a port. ``cutover metrics --port N`` serves the
flags (and this process's counters, which are zero there) for a fleet-wide view of the
rollout.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client import make_wsgi_app as _prometheus_wsgi_app
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

import flags
from compat import metrics
from flags.model import FlagRecord
from ground.errors import ConfigurationError

PREFIX: Final = "cutover"
SHADOW_PREFIX: Final = "shadow_"

_CALL_COUNTERS: Final = {
    "calls": "Calls routed by the shim, by worker and the engine that ran them.",
    "items": "Items in the calls routed by the shim.",
    "errors": "Routed calls that raised.",
    "fallbacks": "Calls moved to legacy because their engine could not take them.",
    "engine_unavailable": "Calls whose engine could not take them (not started, unreachable).",
}
_NAME = re.compile(r"[^a-zA-Z0-9_]")

FlagView = Callable[[], "flags.FlagTable"]
"""Where the collector reads the flags: a function returning a live flag table."""


def _metric_name(name: str) -> str:
    return _NAME.sub("_", name)


class CutoverCollector(Collector):
    """Every cutover metric, read at scrape time (see the module docstring).

    ``table`` returns the flag table to read (default: the process-wide one the router uses,
    :func:`flags.get_table`).
    """

    def __init__(self, table: FlagView | None = None) -> None:
        self._table = table or flags.get_table

    def describe(self) -> Iterable[Metric]:
        """Nothing up front: the label values are only known at scrape time."""
        return []

    def collect(self) -> Iterable[Metric]:
        """The metric families of this moment."""
        yield from self._counters(metrics.snapshot())
        latency = metrics.latency_snapshot()
        yield self._latency(latency)
        yield from self._split(metrics.split_snapshot(), latency)
        yield self._engines(metrics.engine_states())
        yield from self._flags()

    @staticmethod
    def _engines(states: Mapping[str, tuple[bool, str]]) -> Metric:
        family = GaugeMetricFamily(
            f"{PREFIX}_engine_up",
            "0 while the engine of a route cannot take calls in this process (it could not "
            "start or be reached; see the engine_unavailable log line), 1 once it takes them "
            "again. Only routes whose engine failed here are listed.",
            labels=("route",),
        )
        for route, (up, _) in sorted(states.items()):
            family.add_metric((route,), 1.0 if up else 0.0)
        return family

    def _counters(self, counts: Mapping[tuple[str, str, str], int]) -> Iterable[Metric]:
        families: dict[str, CounterMetricFamily] = {
            name: CounterMetricFamily(f"{PREFIX}_{name}", help_text, labels=("worker", "route"))
            for name, help_text in _CALL_COUNTERS.items()
        }
        shadow = CounterMetricFamily(
            f"{PREFIX}_shadow_outcomes",
            "Shadow experiments by worker, candidate engine and outcome.",
            labels=("worker", "candidate", "outcome"),
        )
        for (name, worker, route), amount in sorted(counts.items()):
            if name.startswith(SHADOW_PREFIX):
                shadow.add_metric((worker, route, name[len(SHADOW_PREFIX) :]), amount)
                continue
            family = families.get(name)
            if family is None:
                family = families[name] = CounterMetricFamily(
                    f"{PREFIX}_{_metric_name(name)}",
                    f"The shim's {name!r} counter.",
                    labels=("worker", "route"),
                )
            family.add_metric((worker, route), amount)
        yield from families.values()
        yield shadow

    @staticmethod
    def _latency(histograms: Mapping[tuple[str, str], metrics.LatencySnapshot]) -> Metric:
        family = HistogramMetricFamily(
            f"{PREFIX}_call_duration_seconds",
            "Latency of routed calls, by worker and the engine that ran them.",
            labels=("worker", "route"),
        )
        for (worker, route), histogram in sorted(histograms.items()):
            buckets = [
                ("+Inf" if bound == float("inf") else repr(bound), float(total))
                for bound, total in histogram.cumulative()
            ]
            family.add_metric((worker, route), buckets, histogram.sum_s)
        return family

    @staticmethod
    def _split(
        histograms: Mapping[tuple[str, str, str], metrics.LatencySnapshot],
        latency: Mapping[tuple[str, str], metrics.LatencySnapshot],
    ) -> list[Metric]:
        families = {
            "queue_wait": HistogramMetricFamily(
                f"{PREFIX}_batch_queue_wait_seconds",
                "How long a batch waited before a worker started it (the caller's publish -> "
                "result time minus the worker's execution; no shared clock), by worker and "
                "the engine that ran it; 0 on legacy, which has no queue.",
                labels=("worker", "route"),
            ),
            "execution": HistogramMetricFamily(
                f"{PREFIX}_batch_execution_seconds",
                "How long a batch ran (start -> finish on the worker's own clock), by worker "
                "and the engine that ran it.",
                labels=("worker", "route"),
            ),
        }
        split = dict(histograms)
        for (worker, route), calls in latency.items():
            # Legacy runs in process: no queue, so its calls wait 0 and run their whole
            # latency. Derived here at scrape time: its hot path observes nothing more.
            if route == "legacy" and (worker, route, "execution") not in split:
                waits = (calls.count,) + (0,) * (len(calls.buckets) - 1)
                split[worker, route, "queue_wait"] = metrics.LatencySnapshot(waits, 0.0)
                split[worker, route, "execution"] = calls
        for (worker, route, phase), histogram in sorted(split.items()):
            buckets = [
                ("+Inf" if bound == float("inf") else repr(bound), float(total))
                for bound, total in histogram.cumulative()
            ]
            families[phase].add_metric((worker, route), buckets, histogram.sum_s)
        return list(families.values())

    def _flags(self) -> Iterable[Metric]:
        table = self._table()
        records: Mapping[str, FlagRecord] = table.workers()
        version = GaugeMetricFamily(
            f"{PREFIX}_flag_version", "Current flag version per worker.", labels=("worker",)
        )
        percent = GaugeMetricFamily(
            f"{PREFIX}_flag_percent",
            "Share of a worker's calls (percent) that take its route; the rest take its base.",
            labels=("worker", "route", "base"),
        )
        killed = GaugeMetricFamily(
            f"{PREFIX}_flag_killed", "1 when a worker's kill switch is on.", labels=("worker",)
        )
        for worker, record in sorted(records.items()):
            version.add_metric((worker,), record.version)
            percent.add_metric((worker, record.route, record.base), record.percent)
            killed.add_metric((worker,), 1.0 if record.kill else 0.0)
        yield version
        yield percent
        yield killed
        yield GaugeMetricFamily(
            f"{PREFIX}_flags_global_kill",
            "1 when the global kill switch forces every worker onto legacy.",
            value=1.0 if table.global_kill else 0.0,
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_flags_stale",
            "1 when the flag store could not be read at the last try.",
            value=1.0 if table.stale else 0.0,
        )


def build_registry(table: FlagView | None = None) -> CollectorRegistry:
    """A registry holding only the cutover collector (what ``cutover metrics`` serves)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CutoverCollector(table))
    return registry


def register_collector(
    registry: CollectorRegistry | None = None, table: FlagView | None = None
) -> CutoverCollector:
    """Add the cutover collector to ``registry`` (default: prometheus_client's global one).

    For a host application that already serves ``/metrics``: call it once at start-up.
    """
    from prometheus_client import REGISTRY

    collector = CutoverCollector(table)
    (registry or REGISTRY).register(collector)
    return collector


def make_wsgi_app(registry: CollectorRegistry | None = None) -> Callable[..., Any]:
    """A WSGI app serving ``registry`` (default: :func:`build_registry`) to mount at a path."""
    return _prometheus_wsgi_app(registry or build_registry())


def start_metrics_server(
    port: int, addr: str = "0.0.0.0", registry: CollectorRegistry | None = None
) -> tuple[WSGIServer, threading.Thread]:
    """Serve ``registry`` (default: :func:`build_registry`) on ``addr:port`` in a thread.

    Returns ``(server, thread)``; ``server.shutdown()`` stops it. A port that cannot be bound
    is a :class:`~ground.errors.ConfigurationError`.
    """
    try:
        return start_http_server(port, addr=addr, registry=registry or build_registry())
    except OSError as exc:
        raise ConfigurationError(
            f"cannot serve metrics on {addr}:{port}: {exc.strerror or exc}; choose another port"
        ) from exc


__all__ = [
    "CutoverCollector",
    "build_registry",
    "make_wsgi_app",
    "register_collector",
    "start_metrics_server",
]
