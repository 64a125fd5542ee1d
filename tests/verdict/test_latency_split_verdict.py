"""The latency split in the verdict and the reports: judged apart, never changing the verdict.

Two candidates both three times slower than legacy: one because its queue is backed up
(its execution matches legacy), one because it runs slower (it never waits). The verdict's
latency criterion fails both, as before; the informational split tells them apart.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from compat.shadow.records import ShadowRecord
from cutover.verdict.report import build_report, judge
from flags import ShadowConfig
from tests.compat.shadow.strategies import make_record

GATE = ShadowConfig(route="celery", max_candidate_p95_ratio=1.5)
CALLS = 120


def calls(wait_s: float, run_s: float, **changes: Any) -> list[ShadowRecord]:
    """Matches of a 0.1 s legacy primary; the candidate waited ``wait_s`` and ran ``run_s``."""
    return [
        make_record(
            call_id=f"c{n}",
            outcome="match",
            primary_latency_s=0.1,
            candidate_latency_s=wait_s + run_s,
            primary_queue_wait_s=0.0,
            primary_execution_s=0.1,
            candidate_queue_wait_s=wait_s,
            candidate_execution_s=run_s,
            candidate_batches=2,
            created_at=1000.0 + n,
            **changes,
        )
        for n in range(CALLS)
    ]


def informational(records: list[ShadowRecord]) -> dict[str, str]:
    """``key -> state`` of the informational criteria of ``records``' verdict."""
    return {c.key: c.state for c in judge(records, GATE).informational}


def test_a_backed_up_queue_is_told_apart_from_a_slower_engine() -> None:
    """Both fail the latency criterion; only the split says which part is slow."""
    queued = calls(wait_s=0.2, run_s=0.1)
    slower = calls(wait_s=0.0, run_s=0.3)
    for records in (queued, slower):
        assert "fail" == judge(records, GATE).criterion("latency_ratio").state
    assert {"execution_ratio": "pass", "queue_wait_ratio": "fail"} == informational(queued)
    assert {"execution_ratio": "fail", "queue_wait_ratio": "pass"} == informational(slower)


def test_the_split_never_changes_the_verdict_or_its_criteria() -> None:
    """The same calls without the split fields judge exactly the same."""
    with_split = calls(wait_s=0.02, run_s=0.1)
    without = [
        replace(
            r,
            primary_queue_wait_s=None,
            primary_execution_s=None,
            candidate_queue_wait_s=None,
            candidate_execution_s=None,
            candidate_batches=0,
        )
        for r in with_split
    ]
    judged, plain = judge(with_split, GATE), judge(without, GATE)
    assert judged.state == plain.state
    assert judged.to_dict()["criteria"] == plain.to_dict()["criteria"]
    assert judged.criteria == plain.criteria
    assert () == plain.informational
    assert 2 == len(judged.informational)


def test_reports_show_the_split_in_text_and_json() -> None:
    """Text: queue wait and execution rows and the informational lines; JSON: both
    ``latency_split`` and ``informational``; a report of older records shows neither row."""
    report = build_report(calls(wait_s=0.2, run_s=0.1), {"w": GATE})
    text = report.render_text()
    assert "queue wait" in text
    assert "execution" in text
    assert "latency split (informational, not part of the verdict)" in text
    data = json.loads(json.dumps(report.to_dict()))
    [pair] = data["pairs"]
    assert 0.2 == round(pair["latency_split"]["candidate"]["queue_wait"]["p50_s"], 6)
    assert 0.0 == pair["latency_split"]["primary"]["queue_wait"]["p95_s"]
    assert "fail" == pair["informational"]["queue_wait_ratio"]["state"]
    assert "execution_ratio" not in pair["criteria"]
    split_keys = ("queue_wait", "execution", "batches")
    older = [
        ShadowRecord.from_dict(
            {k: v for k, v in r.to_dict().items() if not any(s in k for s in split_keys)}
        )
        for r in calls(0.2, 0.1)
    ]
    older_text = build_report(older, {"w": GATE}).render_text()
    assert "queue wait" not in older_text
    assert "informational" not in older_text
