"""The latency split through the real Redis recorder into the HTML page and the CLI report.

Records carrying the split go through the Redis stream the shim writes (so the new fields
survive it), then into ``cutover report``'s HTML page and ``cutover shadow report --json``.
"""

from __future__ import annotations

import time

from compat.shadow.recorders.redis_recorder import RedisShadowRecorder
from cutover.ops.html_report import collect_views, render_html
from flags import FlagRecord, FlagStore, ShadowConfig
from tests.ops.support import WriteRecords


def test_the_page_shows_queue_wait_and_execution_and_the_informational_criteria(
    store: FlagStore, recorder: RedisShadowRecorder, write_records: WriteRecords
) -> None:
    """A candidate that queues (0.2 s wait, 0.1 s run against a 0.1 s legacy call): rows for
    both sides' wait and execution, and the split criteria marked as informational."""
    gate = ShadowConfig(route="celery", max_candidate_p95_ratio=1.5)
    store.put("queued", FlagRecord(shadow=gate), expected_version=0, actor="a", reason="shadow")
    time.sleep(0.05)
    write_records(
        "queued",
        ["match"] * 60,
        at=time.time() + 1,
        primary_latency_s=0.1,
        candidate_latency_s=0.3,
        primary_queue_wait_s=0.0,
        primary_execution_s=0.1,
        candidate_queue_wait_s=0.2,
        candidate_execution_s=0.1,
        candidate_batches=3,
    )
    assert recorder.flush(10.0)
    [read, *_] = recorder.read("queued", limit=1)
    assert (0.2, 0.1, 3) == (
        read.candidate_queue_wait_s,
        read.candidate_execution_s,
        read.candidate_batches,
    )
    page = render_html(collect_views(store, recorder, ["queued"]), source="test")
    assert "candidate: queue wait" in page
    assert "candidate: execution" in page
    assert "latency split (informational, not part of the verdict)" in page
    assert "execution ratio (median per call, informational)" in page
