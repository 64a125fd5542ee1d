"""Anytime-valid bounds on a rate: the beta-binomial mixture confidence sequence.

Why not a plain confidence interval: the readiness verdict is re-read after every batch of
comparisons, and a fixed-n interval checked again and again is wrong far more often than
its level says (peeking). A *confidence sequence* is a sequence of intervals that hold at
every sample size at once: whenever the report is read, however often, the chance that the
true rate was ever outside its interval is at most ``alpha``.

The method (Robbins 1970; Howard, Ramdas, McAuliffe, Sekhon 2021, "Time-uniform,
nonparametric, nonasymptotic confidence sequences", the beta-binomial case): for a rate
``p0`` and ``k`` successes in ``n`` Bernoulli trials, the mixture likelihood ratio

    M_n(p0) = B(a + k, b + n - k) / B(a, b)  /  (p0^k (1 - p0)^(n - k))

is a nonnegative martingale with mean 1 under ``p0`` (it is the Bayes factor of a
``Beta(a, b)`` prior against the point ``p0``). By Ville's inequality
``P(sup_n M_n(p0) >= 1 / alpha) <= alpha``, so ``{p0 : M_n(p0) < 1 / alpha}`` is a
confidence sequence. ``log M_n`` is convex in ``p0`` with its minimum (at most 0) at
``k / n``, so the set is an interval around the observed rate and can never be empty.

Any fixed prior keeps the guarantee; the prior only decides where the bound is tight.
:func:`prior_for` centres it on the threshold being tested (mean ``threshold``, one pseudo
success), which is where the verdict needs its precision.

Pure functions, standard library only (:func:`math.lgamma`): no engine, no flags.
Every test of a threshold is O(1) (:func:`log_evidence`); the bounds themselves need a
bisection (:func:`rate_bounds`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, Literal

Decision = Literal["below", "above", "undecided"]
"""Where a confidence sequence puts the true rate relative to a threshold."""

MIN_PRIOR_MEAN: Final = 1e-6
"""A threshold of 0 still gets a proper prior (its verdict can never be ``below``)."""
BISECTION_STEPS: Final = 60
MAX_SAMPLES_SEARCH: Final = 10**9


@dataclass(frozen=True, slots=True)
class Prior:
    """A ``Beta(a, b)`` mixing distribution (both above 0)."""

    a: float
    b: float

    def __post_init__(self) -> None:
        if not (self.a > 0 and self.b > 0 and math.isfinite(self.a) and math.isfinite(self.b)):
            raise ValueError(f"a Beta prior needs a > 0 and b > 0, not ({self.a}, {self.b})")


def prior_for(threshold: float) -> Prior:
    """The prior used to test ``threshold``: ``Beta(1, (1 - t) / t)``, mean ``t``.

    Chosen before any data, from the threshold alone, so the guarantee holds.
    """
    mean = min(max(threshold, MIN_PRIOR_MEAN), 0.5)
    return Prior(1.0, (1.0 - mean) / mean)


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def _check(successes: int, trials: int) -> None:
    if trials < 0 or successes < 0 or successes > trials:
        raise ValueError(f"{successes} successes in {trials} trials is not a count")


def log_evidence(successes: int, trials: int, rate: float, prior: Prior) -> float:
    """``log M_n(rate)``: the evidence against the true rate being ``rate`` (O(1)).

    ``+inf`` when the data rule ``rate`` out (a success with ``rate`` 0, a failure with 1).
    """
    _check(successes, trials)
    k, n = successes, trials
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate {rate!r} is not in [0, 1]")
    if (k > 0 and rate == 0.0) or (k < n and rate == 1.0):
        return math.inf
    log_likelihood = (k * math.log(rate) if k else 0.0) + (
        (n - k) * math.log1p(-rate) if n - k else 0.0
    )
    marginal = _log_beta(prior.a + k, prior.b + n - k) - _log_beta(prior.a, prior.b)
    return marginal - log_likelihood


def decide(successes: int, trials: int, threshold: float, alpha: float, prior: Prior) -> Decision:
    """``below`` when the whole confidence sequence is under ``threshold``, ``above`` when it
    is over it, else ``undecided`` (O(1): one evidence value at the threshold).

    The interval contains ``k / n``; it excludes ``threshold`` iff the evidence against the
    threshold reached ``log(1 / alpha)``; which side is the side of ``k / n``.
    """
    _check_alpha(alpha)
    if trials == 0:
        return "undecided"
    if log_evidence(successes, trials, threshold, prior) < -math.log(alpha):
        return "undecided"
    observed = successes / trials
    if observed < threshold:
        return "below"
    if observed > threshold:
        return "above"
    return "undecided"


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha {alpha!r} is not in (0, 1)")


def rate_bounds(successes: int, trials: int, alpha: float, prior: Prior) -> tuple[float, float]:
    """The confidence sequence's interval ``(lower, upper)`` at this sample size.

    ``(0, 1)`` without trials. Found by bisection on each side of ``k / n`` (where
    ``log M_n`` is monotone), to about 1e-15.
    """
    _check_alpha(alpha)
    _check(successes, trials)
    if trials == 0:
        return 0.0, 1.0
    level = -math.log(alpha)
    observed = successes / trials

    def outside(rate: float) -> bool:
        return log_evidence(successes, trials, rate, prior) >= level

    lower = 0.0
    if outside(0.0):
        low, high = 0.0, observed  # outside at low, inside at high
        for _ in range(BISECTION_STEPS):
            mid = (low + high) / 2
            low, high = (mid, high) if outside(mid) else (low, mid)
        lower = low
    upper = 1.0
    if outside(1.0):
        low, high = observed, 1.0  # inside at low, outside at high
        for _ in range(BISECTION_STEPS):
            mid = (low + high) / 2
            low, high = (low, mid) if outside(mid) else (mid, high)
        upper = high
    return lower, upper


def samples_needed(
    successes: int, trials: int, threshold: float, alpha: float, prior: Prior
) -> int | None:
    """How many more trials would decide, if the rate went on as observed so far.

    With no success yet the observed rate is taken as 0 (the most hopeful estimate: fewer
    would not do). ``0`` when already decided; ``None`` when the observed rate is the
    threshold itself (no amount of such data decides) or no trial has been seen.
    """
    _check(successes, trials)
    if trials == 0:
        return None
    if decide(successes, trials, threshold, alpha, prior) != "undecided":
        return 0
    rate = successes / trials
    if rate == threshold:
        return None

    def decided(total: int) -> bool:
        k = min(max(round(rate * total), successes), total - (trials - successes))
        return decide(k, total, threshold, alpha, prior) != "undecided"

    high = max(trials * 2, trials + 1)
    while not decided(high):
        if high >= MAX_SAMPLES_SEARCH:
            return None
        high *= 2
    low = trials  # undecided at low, decided at high
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if decided(mid) else (mid, high)
    return high - trials


@dataclass(frozen=True, slots=True)
class Median:
    """A confidence sequence on the median of a sample (distribution-free)."""

    estimate: float | None
    lower: float
    upper: float


def median_bounds(values: list[float], alpha: float) -> Median:
    """Anytime-valid bounds on the true median of the distribution ``values`` come from.

    For a value ``m``, whether each draw is at most ``m`` is a Bernoulli trial with rate
    ``F(m)``; the median is above ``m`` when ``F(m) < 1/2`` is proven, below it when
    ``F(m) > 1/2`` is. Both only depend on how many sorted values lie under ``m``, so the
    bounds are two order statistics. ``values`` may hold ``inf`` (a call that never
    finished); ``lower`` is 0 and ``upper`` ``inf`` while nothing is proven. The true median
    is at least ``lower`` and at most ``upper``.
    """
    _check_alpha(alpha)
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        return Median(None, 0.0, math.inf)
    prior = prior_for(0.5)
    estimate = ordered[(n - 1) // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2
    # Counts at or under a value that prove F > 1/2 (upper) / F < 1/2 (lower): monotone in
    # the count on each side of n / 2, so bisect for the first / last one.
    upper = math.inf
    if decide(n, n, 0.5, alpha, prior) == "above":
        low, high = n // 2, n  # not proven at low, proven at high
        while high - low > 1:
            mid = (low + high) // 2
            low, high = (low, mid) if decide(mid, n, 0.5, alpha, prior) == "above" else (mid, high)
        upper = ordered[high - 1]
    lower = 0.0
    if decide(0, n, 0.5, alpha, prior) == "below":
        low, high = 0, (n + 1) // 2  # proven at low, not proven at high
        while high - low > 1:
            mid = (low + high) // 2
            low, high = (mid, high) if decide(mid, n, 0.5, alpha, prior) == "below" else (low, mid)
        # Any value under the (low + 1)-th smallest has at most ``low`` draws at or under it:
        # F < 1/2 is proven there, so the median is at least that value.
        lower = ordered[low]
    return Median(estimate, lower, upper)


__all__ = [
    "Decision",
    "Median",
    "Prior",
    "decide",
    "log_evidence",
    "median_bounds",
    "prior_for",
    "rate_bounds",
    "samples_needed",
]
