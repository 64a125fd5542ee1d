"""The confidence sequence behind the verdict: its bounds, and its guarantee under peeking.

The simulations check the verdict after *every* sample of every run (fixed seeds, 2,000
runs): a verdict that is read after each batch must be wrong at most alpha of the time
over the whole run, not only at one sample size.
"""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.verdict_sim import (
    first_decision,
    first_decision_brute,
    gaps,
    old_rule_ready,
    share,
)
from cutover.verdict.sequential import (
    Prior,
    decide,
    log_evidence,
    median_bounds,
    prior_for,
    rate_bounds,
    samples_needed,
)

THRESHOLD = 0.001
ALPHA = 0.05
RUNS = 2000


def test_bounds_contain_the_observed_rate_and_agree_with_decide() -> None:
    """The interval surrounds k/n, and decide() says below/above exactly when the interval
    is wholly on one side of the threshold (the verdict and the printed bounds never
    disagree)."""
    prior = prior_for(0.01)
    for k, n in [(0, 1), (0, 500), (3, 500), (5, 500), (12, 500), (500, 500), (40, 9000)]:
        lower, upper = rate_bounds(k, n, ALPHA, prior)
        assert lower <= k / n <= upper
        decision = decide(k, n, 0.01, ALPHA, prior)
        expected = "below" if upper < 0.01 else "above" if lower > 0.01 else "undecided"
        assert expected == decision, (k, n, lower, upper)


def test_zero_in_1071_is_not_below_a_tenth_of_a_percent() -> None:
    """The issue's case: 0/1071 bounds the rate only at ~0.3% (fixed n) and wider anytime;
    far from proving <= 0.1%."""
    lower, upper = rate_bounds(0, 1071, ALPHA, prior_for(THRESHOLD))
    assert lower == 0.0
    assert upper > 1 - ALPHA ** (1 / 1071) > THRESHOLD  # wider than the fixed-n bound
    assert "undecided" == decide(0, 1071, THRESHOLD, ALPHA, prior_for(THRESHOLD))


def test_evidence_is_a_likelihood_ratio_with_mean_one() -> None:
    """E[M_n(p)] = 1 under p (what makes Ville's inequality apply): summed exactly over
    every count of a small n."""
    prior = Prior(1.0, 9.0)
    for p in (0.02, 0.1, 0.5):
        n = 30
        mean = sum(
            math.comb(n, k) * p**k * (1 - p) ** (n - k) * math.exp(log_evidence(k, n, p, prior))
            for k in range(n + 1)
        )
        assert mean == pytest.approx(1.0, rel=1e-9)


def test_bad_counts_are_refused() -> None:
    """A count above the trials or an alpha outside (0, 1) is a caller bug, said clearly."""
    with pytest.raises(ValueError, match="not a count"):
        log_evidence(3, 2, 0.1, prior_for(0.1))
    with pytest.raises(ValueError, match="alpha"):
        decide(0, 10, 0.1, 1.0, prior_for(0.1))


def test_samples_needed_at_rate_zero_is_where_ready_comes() -> None:
    """With no mismatch, samples_needed predicts exactly when the verdict turns ready."""
    prior = prior_for(THRESHOLD)
    needed = samples_needed(0, 100, THRESHOLD, ALPHA, prior)
    assert needed is not None
    at = 100 + needed
    assert "below" == decide(0, at, THRESHOLD, ALPHA, prior)
    assert "undecided" == decide(0, at - 1, THRESHOLD, ALPHA, prior)
    assert samples_needed(5, 1000, 0.005, ALPHA, prior_for(0.005)) is None  # at the threshold
    assert 0 == samples_needed(0, at, THRESHOLD, ALPHA, prior)


def test_fast_simulation_equals_checking_every_sample() -> None:
    """The mismatch-to-mismatch simulation finds the same first decision, at the same sample,
    as calling decide() after every sample (so the big simulations below do check every
    sample)."""
    rng = random.Random(7)
    for rate, threshold in [(0.1, 0.05), (0.02, 0.05), (0.05, 0.05), (0.0, 0.05), (1.0, 0.05)]:
        for _ in range(40):
            stream = [rng.random() < rate for _ in range(1500)]
            mismatch_gaps: list[int] = []
            last = 0
            for n, mismatch in enumerate(stream, 1):
                if mismatch:
                    mismatch_gaps.append(n - last)
                    last = n
            fast = first_decision(iter(mismatch_gaps), threshold, ALPHA, len(stream))
            assert first_decision_brute(stream, threshold, ALPHA) == fast


def test_twice_the_threshold_is_ready_in_at_most_alpha_of_runs() -> None:
    """The guarantee: a true rate 2x the limit, read after every sample up to 100,000
    samples, is called ready in <= alpha of 2,000 runs (the old rule: ~48%)."""
    rng = random.Random(15)
    outcomes = [
        first_decision(gaps(rng, 2 * THRESHOLD), THRESHOLD, ALPHA, 100_000) for _ in range(RUNS)
    ]
    assert share([o.decision == "below" for o in outcomes]) <= ALPHA
    assert share([o.decision == "above" for o in outcomes]) >= 0.9  # and it finds it bad


def test_at_the_threshold_both_wrong_calls_stay_under_alpha() -> None:
    """At exactly the limit neither ready nor not_ready is true: each is said in <= alpha
    of runs; the old rule says READY in most of them."""
    rng = random.Random(16)
    outcomes = [first_decision(gaps(rng, THRESHOLD), THRESHOLD, ALPHA, 50_000) for _ in range(RUNS)]
    assert share([o.decision == "below" for o in outcomes]) <= ALPHA
    assert share([o.decision == "above" for o in outcomes]) <= ALPHA
    old = share(
        [old_rule_ready(gaps(rng, THRESHOLD), THRESHOLD, 1000, 50_000) for _ in range(RUNS)]
    )
    assert old > 0.5


def test_latency_median_at_the_limit_is_rarely_called_either_way() -> None:
    """The latency test is the same sequence at 1/2 (a call slower than allowed, or not):
    a candidate whose median ratio is exactly the limit, read after every call, 2,000 runs."""
    rng = random.Random(17)
    outcomes = [first_decision(gaps(rng, 0.5), 0.5, ALPHA, 400) for _ in range(RUNS)]
    assert share([o.decision != "undecided" for o in outcomes]) <= 2 * ALPHA


def test_a_clean_candidate_is_ready_at_the_theoretical_count() -> None:
    """True rate 0: ready at exactly the count samples_needed predicts (4,742 at 0.1%,
    alpha 0.05; a one-look test would need 2,995 but cannot be re-read)."""
    expected = 1 + (samples_needed(0, 1, THRESHOLD, ALPHA, prior_for(THRESHOLD)) or 0)
    outcome = first_decision(gaps(random.Random(1), 0.0), THRESHOLD, ALPHA, 100_000)
    assert ("below", expected) == (outcome.decision, outcome.samples)
    assert 2995 < expected < 5000


def test_an_always_mismatching_candidate_is_not_ready_within_ten_samples() -> None:
    """100% mismatches: proven worse than 0.1% within 10 samples."""
    outcome = first_decision(gaps(random.Random(2), 1.0), THRESHOLD, ALPHA, 1000)
    assert outcome.decision == "above"
    assert outcome.samples <= 10


def test_median_bounds_are_order_statistics_around_the_median() -> None:
    """Bounds bracket the sample median, narrow as samples grow, and stay open (0, inf)
    with too few samples to prove anything."""
    small = median_bounds([1.0, 2.0, 3.0], ALPHA)
    assert (2.0, 0.0, math.inf) == (small.estimate, small.lower, small.upper)
    rng = random.Random(3)
    widths = []
    for n in (100, 1000, 10_000):
        values = [math.exp(rng.gauss(0.0, 0.3)) for _ in range(n)]
        median = median_bounds(values, ALPHA)
        assert median.estimate is not None
        assert median.lower < median.estimate < median.upper
        assert median.lower < 1.0 < median.upper
        widths.append(median.upper - median.lower)
    assert widths[0] > widths[1] > widths[2]


def test_median_bounds_cover_the_true_median() -> None:
    """Lognormal ratios with true median 1: the bounds hold it at every checkpoint of each
    run in at least 1 - alpha of 500 runs (they are the sign test's, mapped to values)."""
    rng = random.Random(4)
    misses = 0
    for _ in range(500):
        values = [math.exp(rng.gauss(0.0, 0.5)) for _ in range(300)]
        for n in (20, 50, 100, 200, 300):
            median = median_bounds(values[:n], ALPHA)
            if not median.lower <= 1.0 <= median.upper:
                misses += 1
                break
    assert misses / 500 <= ALPHA


def test_a_proven_slow_median_has_its_lower_bound_above_the_allowance() -> None:
    """When the sign test proves most calls slower than allowed, the printed lower bound on
    the median is above the allowance too (the verdict and its numbers agree)."""
    rng = random.Random(5)
    seen = {"above": 0, "below": 0}
    for centre in (0.5, 0.2):  # medians 1.65x and 1.22x against 1.5x allowed
        for _ in range(100):
            values = [math.exp(rng.gauss(centre, 0.5)) for _ in range(rng.randrange(5, 400))]
            slower = sum(v > 1.5 for v in values)
            decision = decide(slower, len(values), 0.5, ALPHA, prior_for(0.5))
            if decision == "above":
                assert median_bounds(values, ALPHA).lower > 1.5
            if decision == "below":
                assert median_bounds(values, ALPHA).upper <= 1.5
            seen[decision] = seen.get(decision, 0) + 1
    assert seen["above"] > 10
    assert seen["below"] > 10


@given(
    n=st.integers(min_value=1, max_value=20_000),
    share=st.floats(min_value=0.0, max_value=1.0),
    threshold=st.sampled_from([0.0005, 0.001, 0.01, 0.05, 0.2, 0.5]),
    alpha=st.sampled_from([0.01, 0.05, 0.1]),
)
@settings(max_examples=300, deadline=None)
def test_decide_and_the_printed_bounds_never_disagree(
    n: int, share: float, threshold: float, alpha: float
) -> None:
    """For any count, the O(1) decision and the bisected interval say the same thing: below
    iff the upper bound is under the threshold, above iff the lower bound is over it (up to
    the bisection's last bit at the boundary)."""
    k = round(share * n)
    prior = prior_for(threshold)
    lower, upper = rate_bounds(k, n, alpha, prior)
    decision = decide(k, n, threshold, alpha, prior)
    assert lower <= k / n <= upper
    if decision == "below":
        assert upper <= threshold + 1e-12
    elif decision == "above":
        assert lower >= threshold - 1e-12
    else:
        assert lower - 1e-12 <= threshold <= upper + 1e-12
