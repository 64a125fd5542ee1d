"""Prometheus metrics: the hot-path histogram in compat.metrics, and the real HTTP endpoint
scraped and parsed as Prometheus would."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from prometheus_client.parser import text_string_to_metric_families

from compat import metrics
from cutover.ops.prometheus import build_registry, make_wsgi_app, start_metrics_server
from flags import FlagRecord, FlagStore, FlagTable, ShadowConfig
from tests.support.services import REPO_ROOT

CUTOVER = Path(sys.executable).with_name("cutover")


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """GET ``url`` and parse it: ``(sample name, sorted labels) -> value``."""
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def simulate_calls() -> None:
    """What the router and the shadow runner count for a few calls of ``billing``."""
    for seconds in (0.004, 0.02, 0.02, 3.0):
        metrics.count("calls", "billing", "celery")
        metrics.count("items", "billing", "celery", 10)
        metrics.observe_latency("billing", "celery", seconds)
    metrics.count("errors", "billing", "celery")
    metrics.count("fallbacks", "billing", "celery")
    metrics.count("calls", "billing", "legacy")
    metrics.observe_latency("billing", "legacy", 0.01)
    metrics.count("shadow_match", "billing", "celery", 7)
    metrics.count("shadow_mismatch", "billing", "celery", 2)
    metrics.count("shadow_skipped_unsafe", "billing", "celery")


def test_observe_latency_fills_fixed_cumulative_buckets() -> None:
    """Each observation lands in the first bucket whose bound is >= it; the sum adds up."""
    for seconds in (0.0004, 0.001, 0.0011, 7.0, 10_000.0):
        metrics.observe_latency("w", "ray", seconds)
    histogram = metrics.latency_snapshot()[("w", "ray")]
    cumulative = dict(histogram.cumulative())
    assert 5 == histogram.count
    assert (1, 2, 3, 4) == (
        cumulative[0.0005],
        cumulative[0.001],
        cumulative[0.0025],
        cumulative[10.0],
    )
    assert 5 == cumulative[float("inf")]
    assert 10_007.0025 == pytest.approx(histogram.sum_s)
    assert len(metrics.LATENCY_BUCKETS_S) + 1 == len(histogram.buckets)


def test_observe_latency_is_thread_safe() -> None:
    """8 threads x 5000 observations: not one lost under contention."""

    def observe() -> None:
        for _ in range(5000):
            metrics.observe_latency("w", "celery", 0.003)

    threads = [threading.Thread(target=observe) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert 40_000 == metrics.latency_snapshot()[("w", "celery")].count


def test_importing_compat_does_not_import_prometheus_client() -> None:
    """The shim stays free of prometheus_client (a fresh interpreter's sys.modules)."""
    code = (
        "import sys, compat, compat.metrics\n"
        "compat.metrics.observe_latency('w', 'legacy', 0.1)\n"
        "print(sorted(m for m in sys.modules if m.startswith('prometheus')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, check=True
    )
    assert "[]" == result.stdout.strip()


@pytest.fixture
def flags_table() -> FlagTable:
    """Fixed flags: billing at 25% on celery (version 4), mail killed."""
    return FlagTable.static(
        {
            "billing": FlagRecord(
                route="celery", percent=25, shadow=ShadowConfig(route="celery"), version=4
            ),
            "mail": FlagRecord(kill=True, version=2),
        }
    )


@pytest.fixture
def server(flags_table: FlagTable) -> Iterator[str]:
    """start_metrics_server on a free port; yields its /metrics URL."""
    http, thread = start_metrics_server(0, "127.0.0.1", build_registry(lambda: flags_table))
    yield f"http://127.0.0.1:{http.server_port}/metrics"
    http.shutdown()
    http.server_close()
    thread.join(5)


def test_the_http_endpoint_serves_calls_latency_shadow_outcomes_and_flags(server: str) -> None:
    """Scraped over real HTTP: every family of the module docstring, with the right values."""
    simulate_calls()
    samples = scrape(server)
    celery = (("route", "celery"), ("worker", "billing"))
    assert 4.0 == samples[("cutover_calls_total", celery)]
    assert 40.0 == samples[("cutover_items_total", celery)]
    assert 1.0 == samples[("cutover_errors_total", celery)]
    assert 1.0 == samples[("cutover_fallbacks_total", celery)]
    assert 1.0 == samples[("cutover_calls_total", (("route", "legacy"), ("worker", "billing")))]
    assert 4.0 == samples[("cutover_call_duration_seconds_count", celery)]
    assert 3.044 == pytest.approx(samples[("cutover_call_duration_seconds_sum", celery)])
    assert 3.0 == samples[("cutover_call_duration_seconds_bucket", (("le", "0.025"), *celery))]
    assert 4.0 == samples[("cutover_call_duration_seconds_bucket", (("le", "+Inf"), *celery))]
    shadow = (("candidate", "celery"), ("outcome", "{}"), ("worker", "billing"))

    def outcome(name: str) -> tuple[tuple[str, str], ...]:
        return tuple((k, v.format(name)) for k, v in shadow)

    assert 7.0 == samples[("cutover_shadow_outcomes_total", outcome("match"))]
    assert 2.0 == samples[("cutover_shadow_outcomes_total", outcome("mismatch"))]
    assert 1.0 == samples[("cutover_shadow_outcomes_total", outcome("skipped_unsafe"))]
    assert 4.0 == samples[("cutover_flag_version", (("worker", "billing"),))]
    percent = (("base", "legacy"), ("route", "celery"), ("worker", "billing"))
    assert 25.0 == samples[("cutover_flag_percent", percent)]
    assert 1.0 == samples[("cutover_flag_killed", (("worker", "mail"),))]
    assert 0.0 == samples[("cutover_flags_global_kill", ())]
    assert 0.0 == samples[("cutover_flags_stale", ())]


def test_make_wsgi_app_mounts_in_a_host_application(flags_table: FlagTable) -> None:
    """The WSGI app, served by a plain wsgiref server as a host would, answers a scrape."""
    metrics.count("calls", "mail", "ray", 3)

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args: object) -> None:
            """No access log on the test's stderr."""

    http: WSGIServer = make_server(
        "127.0.0.1", 0, make_wsgi_app(build_registry(lambda: flags_table)), handler_class=Quiet
    )
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        samples = scrape(f"http://127.0.0.1:{http.server_port}/metrics")
    finally:
        http.shutdown()
        http.server_close()
    assert 3.0 == samples[("cutover_calls_total", (("route", "ray"), ("worker", "mail")))]


@pytest.mark.slow
def test_cutover_metrics_serves_the_flag_store_and_stops_on_sigterm(
    store: FlagStore, redis_url: str
) -> None:
    """``cutover metrics --port 0`` serves the Redis store's flags; SIGTERM exits 0."""
    store.put(
        "billing", FlagRecord(route="ray", percent=5), expected_version=0, actor="a", reason="r"
    )
    env = {**os.environ, "CUTOVER_LOG_LEVEL": "WARNING"}
    process = subprocess.Popen(
        [str(CUTOVER), "metrics", "--port", "0", "--addr", "127.0.0.1", "--flags-url", redis_url],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert process.stderr is not None
        first = process.stderr.readline()
        match = re.search(r"serving (http://\S+/metrics)", first)
        assert match, first
        deadline = time.monotonic() + 20
        samples = scrape(match.group(1))
        while ("cutover_flag_version", (("worker", "billing"),)) not in samples:
            assert time.monotonic() < deadline, samples
            time.sleep(0.2)
            samples = scrape(match.group(1))
        percent = (("base", "legacy"), ("route", "ray"), ("worker", "billing"))
        assert 5.0 == samples[("cutover_flag_percent", percent)]
        assert 1.0 == samples[("cutover_flag_version", (("worker", "billing"),))]
        process.send_signal(signal.SIGTERM)
        _, rest = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert 0 == process.returncode, rest
    assert "metrics: stopped" in rest
