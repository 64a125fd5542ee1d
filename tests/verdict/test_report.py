"""build_report(): rates, percentiles, grouped mismatches and the readiness verdict."""

from __future__ import annotations

import json
from typing import Any

import pytest

from compat.shadow.records import ShadowRecord
from cutover.verdict.report import build_report, percentile
from flags import ShadowConfig
from tests.compat.shadow.strategies import make_record

GATE = ShadowConfig(
    route="celery",
    min_comparisons=100,
    max_mismatch_rate=0.05,
    max_candidate_p95_ratio=1.5,
    max_candidate_error_rate=0.05,
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


def clean(n: int, **changes: Any) -> list[ShadowRecord]:
    """``n`` matching calls, candidate 10% faster than primary, 1 s apart."""
    values: dict[str, Any] = {"primary_latency_s": 0.010, "candidate_latency_s": 0.009}
    values.update(changes)
    return [
        make_record(call_id=f"m{i}", created_at=1_700_000_000.0 + i, **values) for i in range(n)
    ]


def test_verdict_ready_lists_every_criterion() -> None:
    """Enough clean comparisons: ready, every criterion proven with its bounds; printed with
    a strict "<" because the bound really is below the limit."""
    verdict = build_report(clean(200), {"w": GATE}).pair("w").verdict
    assert ("ready", True) == (verdict.state, verdict.ready)
    assert ["mismatch_rate", "error_rate", "latency_ratio", "comparisons"] == [
        c.key for c in verdict.criteria
    ]
    mismatch = verdict.criterion("mismatch_rate")
    assert (0.0, 0.0, 200, 0.05, 0.05) == (
        mismatch.estimate,
        mismatch.lower,
        mismatch.samples,
        mismatch.threshold,
        mismatch.alpha,
    )
    assert 0.0 < mismatch.upper < 0.05
    assert mismatch.detail.startswith("0.00% (0 of 200 comparisons): at most ")
    assert " < 5.00% allowed" in mismatch.detail
    latency = verdict.criterion("latency_ratio")
    assert latency.estimate == pytest.approx(0.9)
    assert latency.upper == pytest.approx(0.9)


def test_a_small_sample_is_undecided_with_samples_needed() -> None:
    """4 mismatches in 100 at a 5% limit (the old rule: READY) proves nothing either way:
    undecided, with an estimate of the comparisons still needed and no "<=" printed."""
    verdict = build_report(batch({"match": 96, "mismatch": 4}), {"w": GATE}).pair("w").verdict
    assert "undecided" == verdict.state
    mismatch = verdict.criterion("mismatch_rate")
    assert "undecided" == mismatch.state
    assert mismatch.lower < 0.05 < mismatch.upper
    assert verdict.samples_needed is not None
    assert verdict.samples_needed > 100
    assert "<=" not in mismatch.detail
    assert "is inside" in mismatch.detail


def test_an_always_mismatching_candidate_is_not_ready_within_ten() -> None:
    """Every comparison a mismatch: proven worse within 10, at the default 0.1%."""
    config = ShadowConfig(route="celery")
    records = clean(10, outcome="mismatch", diffs=("$.total: 1 != 2",))
    first = next(
        n
        for n in range(1, 11)
        if build_report(records[:n], {"w": config}).pair("w").verdict.not_ready
    )
    assert first <= 10
    failed = build_report(records, {"w": config}).pair("w").verdict.criterion("mismatch_rate")
    assert ("fail", True) == (failed.state, failed.lower > 0.001)
    assert "proven worse" in failed.detail
    assert "<=" not in failed.detail


def test_errors_and_timeouts_are_their_own_criterion() -> None:
    """Candidate errors and timeouts count in the error rate (and as mismatches)."""
    records = batch({"match": 50, "candidate_error": 30, "candidate_timeout": 20})
    verdict = build_report(records, {"w": GATE}).pair("w").verdict
    assert "not_ready" == verdict.state
    errors = verdict.criterion("error_rate")
    assert ("fail", 0.5) == (errors.state, errors.estimate)


def test_slow_candidate_fails_the_paired_latency_criterion() -> None:
    """Every call 2x its own primary (primaries spread 10..110 ms): the median per-call ratio
    is proven above 1.5x, though the candidate's p50 is below the primary's p95."""
    records = [
        make_record(
            call_id=str(n), primary_latency_s=0.010 + n / 1000, candidate_latency_s=0.020 + n / 500
        )
        for n in range(100)
    ]
    latency = build_report(records, {"w": GATE}).pair("w").verdict.criterion("latency_ratio")
    assert ("fail", pytest.approx(2.0)) == (latency.state, latency.estimate)
    assert latency.lower > 1.5
    assert "proven slower" in latency.detail


def test_skipped_shadows_count_as_slow_calls() -> None:
    """Shadows skipped under load are the calls made while candidates ran slow: counted as
    slower than allowed, so many of them keep the verdict from ready."""
    assert build_report(clean(200), {"w": GATE}).pair("w").verdict.ready
    pair = build_report(clean(200, skipped=2), {"w": GATE}).pair("w")
    assert 400 == pair.skipped
    assert "fail" == pair.verdict.criterion("latency_ratio").state
    assert "not_ready" == pair.verdict.state


def test_noise_mismatches_are_not_defects() -> None:
    """A mismatch only on a path learned noisy (two primary runs differed there) is noise:
    not counted against the candidate; a mismatch with a real difference still is."""
    records = clean(200, noisy_paths=("$[*].at",))
    records[5] = make_record(
        call_id="n1", outcome="mismatch", diffs=("$[0].at: 1 != 2",), created_at=1_700_000_005.0
    )
    records[6] = make_record(
        call_id="n2",
        outcome="mismatch",
        diffs=("$[0].at: 1 != 2", "$[0].total: 1 != 2"),
        created_at=1_700_000_006.0,
    )
    pair = build_report(records, {"w": GATE}).pair("w")
    assert 1 == pair.noise
    assert 1 / 200 == pair.verdict.criterion("mismatch_rate").estimate


def test_a_broken_rare_operation_does_not_hide_in_the_pooled_rate() -> None:
    """A worker with batch and handler calls: 1,000 clean batches and 20 handler calls that
    all mismatch (2% pooled, under a 5% limit) is not_ready on the handler's own criterion;
    alpha is shared between the two operations."""
    records = clean(1000) + clean(
        20, operation="handler", outcome="mismatch", diffs=("$.total: 1 != 2",)
    )
    verdict = build_report(records, {"w": GATE}).pair("w").verdict
    assert "not_ready" == verdict.state
    handler = verdict.criterion("mismatch_rate:handler")
    batch_rate = verdict.criterion("mismatch_rate:batch")
    assert ("fail", 20, 0.025) == (handler.state, handler.samples, handler.alpha)
    assert ("pass", 1000) == (batch_rate.state, batch_rate.samples)
    assert "mismatch rate (noise-corrected), handler calls" == handler.name


def test_undecided_needs_are_counted_in_all_comparisons() -> None:
    """A criterion seeing a tenth of the calls needs ten times as many comparisons overall."""
    records = clean(90) + clean(10, operation="handler")
    verdict = build_report(records, {"w": GATE}).pair("w").verdict
    handler = verdict.criterion("mismatch_rate:handler")
    assert "undecided" == verdict.state
    assert handler.samples_needed is not None
    assert verdict.samples_needed is not None
    assert verdict.samples_needed >= handler.samples_needed * 10


def test_no_config_uses_default_thresholds() -> None:
    """A worker without shadow flags is judged by ShadowConfig's defaults (0.1%, 0.05)."""
    verdict = build_report(batch({"match": 10}), {}).pair("w").verdict
    assert ("defaults", "undecided", 0.05) == (
        verdict.thresholds_from,
        verdict.state,
        verdict.alpha,
    )
    assert 0.001 == verdict.criterion("mismatch_rate").threshold
    assert "10 < 1000 required before ready" == verdict.criterion("comparisons").detail


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
    """to_dict() is strict JSON with a verdict and per criterion estimate, bounds, alpha,
    threshold and samples; render_text() has the summary table, the criteria and a plot."""
    records = batch({"match": 96, "mismatch": 4}, diffs=("$[1].total: 1 != 2",))
    records.append(
        make_record(call_id="late", outcome="candidate_timeout", candidate_latency_s=None)
    )
    report = build_report(records, {"w": GATE}, source="redis://127.0.0.1:6379/6")
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    pair = data["pairs"][0]
    assert ("undecided", 96 / 101, 4) == (
        pair["verdict"],
        pair["match_rate"],
        pair["outcomes"]["mismatch"],
    )
    for key in ("mismatch_rate", "error_rate", "latency_ratio"):
        criterion = pair["criteria"][key]
        assert {"estimate", "lower", "upper", "alpha", "threshold", "samples"} <= set(criterion)
        assert (0.05, 101) == (criterion["alpha"], criterion["samples"])
    assert pair["samples_needed"] > 0
    text = report.render_text()
    header = text.splitlines()[0].split()
    assert ["WORKER", "PRIMARY", "->", "CANDIDATE", "COMPARISONS", "MATCH"] == header[:6]
    row = text.splitlines()[1].split()
    assert ["w", "legacy", "->", "celery", "101", "95.05%", "4"] == row[:7]
    assert "UNDECIDED" == row[-1]
    assert "[ ?? ] mismatch rate (noise-corrected): 4.95% (5 of 101 comparisons): between" in text
    assert "upper bound: " in text
    assert "$[*].total: value differs" in text
    assert "no shadow records in x\n" == build_report([], {}, source="x").render_text()
