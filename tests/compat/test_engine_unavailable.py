"""A route whose engine cannot start is an error an operator sees, not only a warning line.

Real engines: a Celery engine pointed at a dead broker (port 1), then the session's live
one; the metrics are read through the Prometheus collector, as a scrape would.
"""

from __future__ import annotations

from typing import Any

import pytest
import structlog
from prometheus_client import generate_latest

import compat
import flags
from adapters.celery.engine import CeleryEngine
from adapters.celery.settings import CelerySettings
from adapters.registry import set_engine
from compat import metrics
from cutover.ops.prometheus import build_registry
from tests.adapters import equiv_tasks
from tests.compat.conftest import SetFlags
from tests.support.services import TEST_BACKEND_URL

pytestmark = pytest.mark.usefixtures("live_engines")

WORKER = "equiv"


def scrape(table: flags.FlagTable) -> str:
    """What Prometheus would read from this process now."""
    return generate_latest(build_registry(lambda: table)).decode()


async def test_an_engine_that_cannot_start_is_one_error_line_and_a_gauge_until_it_is_back(
    set_flags: SetFlags, live_engines: dict[str, Any]
) -> None:
    """Two calls while the broker is down: both fall back to legacy, one error line names
    the engine and the reason, ``cutover_engine_up{route="celery"}`` is 0 and the counter
    is 2. The engine back: the next call runs on it, the gauge is 1, one info line."""
    table = set_flags({WORKER: flags.FlagRecord(route="celery")})
    dead = CeleryEngine(
        CelerySettings(broker_url="redis://127.0.0.1:1/0", result_backend=TEST_BACKEND_URL)
    )
    previous = set_engine("celery", dead)
    optimizer = compat.AsyncWorkerOptimizer(worker_id=WORKER)
    try:
        with structlog.testing.capture_logs() as logs:
            for _ in range(2):
                assert [2, 4] == await optimizer.optimize_batch_processing(
                    [1, 2], equiv_tasks.double
                )
        errors = [line for line in logs if line["event"] == "engine_unavailable"]
        assert 1 == len(errors)
        assert ("error", "celery", WORKER) == (
            errors[0]["log_level"],
            errors[0]["route"],
            errors[0]["worker"],
        )
        assert "127.0.0.1:1" in errors[0]["error"]
        text = scrape(table)
        assert 'cutover_engine_up{route="celery"} 0.0' in text
        assert f'cutover_engine_unavailable_total{{route="celery",worker="{WORKER}"}} 2.0' in text
        assert {"celery"} == set(metrics.engines_down())
    finally:
        set_engine("celery", previous)
    await dead.close()
    with structlog.testing.capture_logs() as logs:
        assert [6] == await optimizer.optimize_batch_processing([3], equiv_tasks.double)
    assert 1 == metrics.value("calls", WORKER, "celery")
    assert ["engine_available"] == [
        line["event"] for line in logs if line["event"].startswith("engine_")
    ]
    assert 'cutover_engine_up{route="celery"} 1.0' in scrape(table)
    assert {} == metrics.engines_down()
