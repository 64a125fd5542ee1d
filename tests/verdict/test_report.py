"""build_report(): rates, percentiles, grouped mismatches and the readiness verdict."""

from __future__ import annotations

import json
from typing import Any

import pytest

from compat.shadow.records import ShadowRecord
from cutover.verdict.report import Criterion, build_report, percentile
from flags import ShadowConfig
from tests.compat.shadow.strategies import make_record

GATE = ShadowConfig(
    route="celery", min_comparisons=100, max_mismatch_rate=0.05, max_candidate_p95_ratio=1.5
)


def batch(outcomes: dict[str, int], **changes: Any) -> list[ShadowRecord]:
    """Records with the given number of each outcome; latencies 1, 2, 3 ... ms in order."""
    made: list[ShadowRecord] = []
    for outcome, count in outcomes.items():
        for _ in range(count):
            n = len(made) + 1
            made.append(
                make_record(
                    call_id=f"c{n}",
                    outcome=outcome,
                    primary_latency_s=n / 1000,
                    candidate_latency_s=None if outcome == "candidate_timeout" else n / 1000,
                    **changes,
                )
            )
    return made


def test_percentiles_are_nearest_rank() -> None:
    """p50 and p95 of 1..100 are 50 and 95; none without values."""
    values = [float(n) for n in range(100, 0, -1)]
    assert (50.0, 95.0, 100.0, None) == (
        percentile(values, 0.5),
        percentile(values, 0.95),
        percentile(values, 1.0),
        percentile([], 0.5),
    )


def test_rates_and_counts_by_outcome() -> None:
    """both_failed agrees like a match; errors and timeouts count as mismatches."""
    records = batch(
        {"match": 90, "both_failed": 5, "mismatch": 3, "candidate_error": 1, "candidate_timeout": 1}
    )
    pair = build_report(records, {"w": GATE}).pair("w")
    assert 100 == pair.comparisons
    assert {
        "match": 90,
        "both_failed": 5,
        "mismatch": 3,
        "candidate_error": 1,
        "candidate_timeout": 1,
    } == dict(pair.outcomes)
    assert (0.95, 0.05) == (pair.match_rate, pair.mismatch_rate)


def test_latency_percentiles() -> None:
    """p50/p95 of primary and candidate latencies (1..100 ms here)."""
    pair = build_report(batch({"match": 100}), {"w": GATE}).pair("w")
    assert (0.050, 0.095, 100) == (
        pair.primary_latency.p50,
        pair.primary_latency.p95,
        pair.primary_latency.samples,
    )
    assert (0.050, 0.095) == (pair.candidate_latency.p50, pair.candidate_latency.p95)


def test_timeouts_count_at_the_timeout() -> None:
    """A timed-out candidate took at least timeout_s: that is what its latency counts as."""
    config = ShadowConfig(route="celery", timeout_s=2.0)
    pair = build_report(batch({"match": 9, "candidate_timeout": 1}), {"w": config}).pair("w")
    assert (2.0, 10) == (pair.candidate_latency.p95, pair.candidate_latency.samples)


def test_verdict_ready_lists_every_criterion() -> None:
    """Enough comparisons, few mismatches, a fast candidate: ready, with the numbers."""
    report = build_report(batch({"match": 96, "mismatch": 4}), {"w": GATE})
    verdict = report.pair("w").verdict
    assert verdict.ready
    assert (
        Criterion("comparisons", 100.0, 100.0, True, "100 >= 100 required"),
        Criterion("mismatch rate", 0.04, 0.05, True, "4.00% (4 of 100) <= 5.00% allowed"),
        Criterion(
            "candidate p95",
            0.095,
            pytest.approx(0.1425),  # type: ignore[arg-type]
            True,
            "95.0 ms <= 142.5 ms (1.5 x primary p95 95.0 ms)",
        ),
    ) == verdict.criteria


@pytest.mark.parametrize(
    ("records", "failing"),
    [
        (batch({"match": 99}), "comparisons"),
        (batch({"match": 90, "mismatch": 10}), "mismatch rate"),
        (batch({"match": 90, "candidate_error": 6, "candidate_timeout": 4}), "mismatch rate"),
    ],
)
def test_verdict_fails_with_the_reason(records: list[ShadowRecord], failing: str) -> None:
    """Each criterion alone can block readiness, and says which one did."""
    verdict = build_report(records, {"w": GATE}).pair("w").verdict
    assert not verdict.ready
    assert [failing] == [c.name for c in verdict.criteria if not c.passed]


def test_slow_candidate_fails_the_latency_criterion() -> None:
    """A candidate p95 above ratio x primary p95 blocks readiness."""
    records = [
        make_record(call_id=str(n), primary_latency_s=0.010, candidate_latency_s=0.020)
        for n in range(100)
    ]
    verdict = build_report(records, {"w": GATE}).pair("w").verdict
    assert not verdict.ready
    (failed,) = [c for c in verdict.criteria if not c.passed]
    assert ("candidate p95", "20.0 ms <= 15.0 ms (1.5 x primary p95 10.0 ms)") == (
        failed.name,
        failed.detail,
    )


def test_no_config_uses_default_thresholds() -> None:
    """A worker without shadow flags is judged by ShadowConfig's defaults (1000 comparisons)."""
    verdict = build_report(batch({"match": 10}), {}).pair("w").verdict
    assert ("defaults", False) == (verdict.thresholds_from, verdict.ready)
    assert "10 >= 1000 required" == verdict.criteria[0].detail


def test_mismatches_grouped_by_signature_with_one_sample_each() -> None:
    """Diffs differing only in index and values are one group, most frequent first."""
    records = [
        make_record(
            call_id=f"t{n}",
            outcome="mismatch",
            diffs=(f"$[{n}].total: {n} != {n + 1}",),
            sample_input={"n": n},
        )
        for n in range(3)
    ] + [
        make_record(call_id="type", outcome="mismatch", diffs=("$: type tuple != list",)),
        make_record(call_id="e1", outcome="candidate_error", candidate_error="KeyError: 'a'"),
        make_record(call_id="e2", outcome="candidate_error", candidate_error="KeyError: 'b'"),
    ]
    pair = build_report(records, {"w": GATE}).pair("w")
    first, second = pair.top_mismatches
    assert ("$[*].total: value differs", 3, "$[0].total: 0 != 1", "t0", {"n": 0}) == (
        first.signature,
        first.count,
        first.example,
        first.call_id,
        first.sample_input,
    )
    assert ("$: type tuple != list", 1) == (second.signature, second.count)
    (errors,) = pair.candidate_errors
    assert ("KeyError", 2, "KeyError: 'a'") == (errors.signature, errors.count, errors.example)


def test_pairs_noise_and_versions() -> None:
    """One report entry per worker and route pair; noisy paths and flag versions are collected."""
    records = [
        make_record(worker="a", noisy_paths=("$[*].at",), flag_version=3),
        make_record(worker="a", noisy_paths=("$.pid",), flag_version=5),
        make_record(worker="a", candidate_route="ray"),
        make_record(worker="b"),
    ]
    report = build_report(records, {})
    assert [("a", "legacy", "celery"), ("a", "legacy", "ray"), ("b", "legacy", "celery")] == [
        (pair.worker, pair.primary_route, pair.candidate_route) for pair in report.pairs
    ]
    pair = report.pair("a", "celery")
    assert (("$.pid", "$[*].at"), (3, 5)) == (pair.noisy_paths, pair.flag_versions)


def test_json_and_text_renderings() -> None:
    """to_dict() is strict JSON; render_text() has the summary table and the verdict lines."""
    records = batch({"match": 96, "mismatch": 4}, diffs=("$[1].total: 1 != 2",))
    report = build_report(records, {"w": GATE}, source="redis://127.0.0.1:6379/6")
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    pair = data["pairs"][0]
    assert (True, 0.96, 4) == (
        pair["verdict"]["ready"],
        pair["match_rate"],
        pair["outcomes"]["mismatch"],
    )
    text = report.render_text()
    header = text.splitlines()[0].split()
    assert ["WORKER", "PRIMARY", "->", "CANDIDATE", "COMPARISONS", "MATCH"] == header[:6]
    assert ["w", "legacy", "->", "celery", "100", "96.00%", "4"] == text.splitlines()[1].split()[:7]
    assert "[pass] mismatch rate: 4.00% (4 of 100) <= 5.00% allowed" in text
    assert "$[*].total: value differs" in text
    assert "no shadow records in x\n" == build_report([], {}, source="x").render_text()


def test_a_failed_latency_bound_never_reads_as_equal_values() -> None:
    """``[FAIL] candidate p95: 50.4 ms <= 50.4 ms`` read as a bug in the walkthrough: close
    values get the digits that tell them apart; distinct ones keep the short form."""
    from cutover.verdict.report import _distinct_durations

    assert ("50.41 ms", "50.39 ms") == _distinct_durations(0.05041, 0.05039)
    assert ("42.9 ms", "47.4 ms") == _distinct_durations(0.0429, 0.0474)
    assert ("1.50 s", "1.50 s") == _distinct_durations(1.5, 1.5)
