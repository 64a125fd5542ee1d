"""The readiness criteria: each one an anytime-valid bound held against a threshold.

A criterion is one of

- ``pass``: the whole confidence sequence is on the good side of the threshold (the upper
  bound is below it): proven good enough, at level ``alpha``, however often this was read;
- ``fail``: the whole sequence is on the bad side (the lower bound is above it): proven worse;
- ``undecided``: the threshold is still inside; ``samples_needed`` estimates how many more
  comparisons would decide if things went on at the rate seen so far.

The verdict on a candidate is ``not_ready`` if any criterion failed, ``ready`` if every one
passed (and the ``min_comparisons`` floor, if set, is met), else ``undecided``.

Rates (:func:`rate_criterion`) use the beta-binomial confidence sequence of
:mod:`cutover.verdict.sequential`. Latency (:func:`latency_criterion`) uses the per-call
ratio candidate / primary of the same call (the pairing cancels the load both saw): the
candidate is non-inferior when the *median* ratio is proven at most the allowed slowdown,
i.e. when the share of calls slower than that is proven under one half (a distribution-free
sign test run as a confidence sequence). A call whose candidate timed out, or that was
sampled but skipped because too many shadows were in flight, counts as slower than allowed:
whatever those calls' latencies were, the bound still holds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from cutover.verdict.sequential import (
    Decision,
    decide,
    median_bounds,
    prior_for,
    rate_bounds,
    samples_needed,
)

State = Literal["pass", "fail", "undecided"]
VerdictState = Literal["ready", "not_ready", "undecided"]

DEFAULT_ALPHA: Final = 0.05
HISTORY_POINTS: Final = 24
"""Sample sizes at which each bound is recomputed for the plot of it narrowing."""


@dataclass(frozen=True, slots=True)
class Criterion:
    """One condition of the verdict: an estimate, its anytime-valid bounds and a threshold."""

    name: str
    key: str
    """JSON key: ``mismatch_rate``, ``error_rate``, ``latency_ratio``, ``comparisons``."""
    estimate: float | None
    lower: float
    upper: float
    alpha: float
    threshold: float
    samples: int
    state: State
    samples_needed: int | None
    detail: str
    history: tuple[tuple[int, float, float], ...] = field(default=())
    """``(samples, lower, upper)`` at growing sample sizes: the bound narrowing."""
    share: float = 1.0
    """The share of all comparisons this criterion sees (one operation's, when split)."""

    @property
    def passed(self) -> bool:
        """True when proven on the good side of the threshold."""
        return self.state == "pass"

    @property
    def mark(self) -> str:
        """``pass``, ``FAIL`` (proven bad) or `` ?? `` (undecided), as reports print it."""
        return _MARKS[self.state]

    def line(self) -> str:
        """``[mark] name: detail``: one line of a verdict, the same everywhere."""
        return f"[{self.mark}] {self.name}: {self.detail}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``inf`` bounds read ``null``: JSON has no infinity)."""
        return {
            "name": self.name,
            "estimate": _finite(self.estimate),
            "lower": _finite(self.lower),
            "upper": _finite(self.upper),
            "alpha": self.alpha,
            "threshold": self.threshold,
            "samples": self.samples,
            "state": self.state,
            "samples_needed": self.samples_needed,
            "detail": self.detail,
            "history": [[n, _finite(low), _finite(high)] for n, low, high in self.history],
        }


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


@dataclass(frozen=True, slots=True)
class Verdict:
    """``ready``, ``not_ready`` or ``undecided``, with every criterion behind it."""

    state: VerdictState
    criteria: tuple[Criterion, ...]
    alpha: float
    samples_needed: int | None
    """While undecided: comparisons still needed at the current rates (``None``: unknown)."""
    thresholds_from: str
    """``"flags"`` or ``"defaults"`` (the worker has no shadow configuration)."""
    informational: tuple[Criterion, ...] = ()
    """Criteria shown beside the verdict but never part of it: the latency split (queue
    wait and execution judged apart, where the engines report them)."""

    @property
    def ready(self) -> bool:
        """True only when every criterion is proven good."""
        return self.state == "ready"

    @property
    def text(self) -> str:
        """``READY``, ``NOT READY`` or ``UNDECIDED``."""
        return {"ready": "READY", "not_ready": "NOT READY", "undecided": "UNDECIDED"}[self.state]

    @property
    def not_ready(self) -> bool:
        """True when some criterion is proven bad (what the guard rolls back on)."""
        return self.state == "not_ready"

    def criterion(self, key: str) -> Criterion:
        """The criterion with JSON key ``key``."""
        for criterion in self.criteria:
            if criterion.key == key:
                return criterion
        raise KeyError(key)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``verdict`` and one object per criterion."""
        return {
            "verdict": self.state,
            "ready": self.ready,
            "alpha": self.alpha,
            "samples_needed": self.samples_needed,
            "thresholds_from": self.thresholds_from,
            "criteria": {criterion.key: criterion.to_dict() for criterion in self.criteria},
            "informational": {c.key: c.to_dict() for c in self.informational},
        }


_MARKS: Final[dict[str, str]] = {"pass": "pass", "fail": "FAIL", "undecided": " ?? "}
_STATES: Final[dict[Decision, State]] = {"below": "pass", "above": "fail", "undecided": "undecided"}


def percent(rate: float | None) -> str:
    """A rate as people read it (two decimals, more digits for tiny nonzero rates)."""
    if rate is None:
        return "-"
    value = rate * 100
    return f"{value:.2f}%" if value == 0 or value >= 0.01 else f"{value:.2g}%"


def _apart(value: float, limit: float) -> tuple[str, str]:
    """Both rates, with as many digits as it takes for unequal values to read unequal
    ("at most 0.10% < 0.10% allowed" would read as a bug)."""
    digits = 2
    while True:
        texts = f"{value * 100:.{digits}f}%", f"{limit * 100:.{digits}f}%"
        if value == limit or texts[0] != texts[1] or digits >= 8:
            return texts
        digits += 1


def _level(alpha: float) -> str:
    """``95%`` for alpha 0.05, ``97.5%`` for 0.025."""
    return f"{(1 - alpha) * 100:.4g}%"


def _checkpoints(total: int) -> list[int]:
    """Up to :data:`HISTORY_POINTS` sample sizes, evenly spread, ending at ``total``."""
    if total <= 0:
        return []
    points = sorted(
        {max(1, round(total * i / HISTORY_POINTS)) for i in range(1, HISTORY_POINTS + 1)}
    )
    return points


def _to_decide(needed: int | None) -> str:
    if needed is None:
        return "more comparisons at this rate would not decide"
    return f"about {needed} more comparisons would decide at this rate"


def rate_criterion(
    name: str,
    key: str,
    events: Sequence[bool],
    threshold: float,
    alpha: float,
    *,
    unit: str = "comparisons",
) -> Criterion:
    """Is the true rate of ``events`` (in the order they happened) below ``threshold``?"""
    prior = prior_for(threshold)
    n = len(events)
    k = sum(events)
    lower, upper = rate_bounds(k, n, alpha, prior)
    decision = decide(k, n, threshold, alpha, prior)
    state = _STATES[decision]
    needed = samples_needed(k, n, threshold, alpha, prior) if state == "undecided" else 0
    seen = f"{percent(k / n if n else None)} ({k} of {n} {unit})"
    level = _level(alpha)
    if state == "pass":
        bound, limit = _apart(upper, threshold)
        detail = f"{seen}: at most {bound} ({level}, anytime) < {limit} allowed"
    elif state == "fail":
        bound, limit = _apart(lower, threshold)
        detail = f"{seen}: at least {bound} ({level}, anytime) > {limit} allowed: proven worse"
    elif n == 0:
        detail = f"no {unit} yet; {percent(threshold)} allowed"
    else:
        detail = (
            f"{seen}: between {percent(lower)} and {percent(upper)} ({level}, anytime), "
            f"{percent(threshold)} allowed is inside; {_to_decide(needed)}"
        )
    counts = [0]
    for event in events:
        counts.append(counts[-1] + event)
    history = tuple((m, *rate_bounds(counts[m], m, alpha, prior)) for m in _checkpoints(n))
    return Criterion(
        name,
        key,
        k / n if n else None,
        lower,
        upper,
        alpha,
        threshold,
        n,
        state,
        needed,
        detail,
        history,
    )


def latency_criterion(
    ratios: Sequence[float],
    allowed: float,
    alpha: float,
    *,
    name: str = "latency ratio (median per call)",
    key: str = "latency_ratio",
) -> Criterion:
    """Is the median per-call latency ratio (candidate / primary) at most ``allowed``?

    ``ratios`` in the order the calls happened; ``inf`` for a call slower than anything
    (a timeout, a shadow skipped under load). ``name`` and ``key``: the same sign test on
    another per-call ratio (the latency split's execution and queue-wait criteria).
    """
    prior = prior_for(0.5)
    n = len(ratios)
    slower = sum(ratio > allowed for ratio in ratios)
    decision = decide(slower, n, 0.5, alpha, prior)
    state = _STATES[decision]
    needed = samples_needed(slower, n, 0.5, alpha, prior) if state == "undecided" else 0
    median = median_bounds(list(ratios), alpha)
    level = _level(alpha)
    seen = f"median {_ratio(median.estimate)} ({slower} of {n} calls slower than {allowed:g}x)"
    if state == "pass":
        detail = (
            f"{seen}: at most {_ratio(median.upper)} ({level}, anytime) <= {allowed:g}x allowed"
        )
    elif state == "fail":
        detail = (
            f"{seen}: at least {_ratio(median.lower)} ({level}, anytime) > {allowed:g}x "
            "allowed: proven slower"
        )
    elif n == 0:
        detail = f"no paired latencies yet; {allowed:g}x allowed"
    else:
        detail = (
            f"{seen}: between {_ratio(median.lower)} and {_ratio(median.upper)} ({level}, "
            f"anytime), {allowed:g}x allowed is inside; {_to_decide(needed)}"
        )
    history = []
    for m in _checkpoints(n):
        bounds = median_bounds(list(ratios[:m]), alpha)
        history.append((m, bounds.lower, bounds.upper))
    return Criterion(
        name,
        key,
        median.estimate,
        median.lower,
        median.upper,
        alpha,
        allowed,
        n,
        state,
        needed,
        detail,
        tuple(history),
    )


def _ratio(value: float | None) -> str:
    if value is None:
        return "-"
    if math.isinf(value):
        return "unbounded"
    return f"{value:.3g}x"


def floor_criterion(comparisons: int, minimum: int, alpha: float) -> Criterion:
    """The ``min_comparisons`` floor: a policy, not statistics; it can hold ``ready`` back
    but never proves a candidate bad."""
    met = comparisons >= minimum
    return Criterion(
        "comparisons",
        "comparisons",
        float(comparisons),
        float(comparisons),
        float(comparisons),
        alpha,
        float(minimum),
        comparisons,
        "pass" if met else "undecided",
        0 if met else minimum - comparisons,
        f"{comparisons} {'>=' if met else '<'} {minimum} required before ready",
    )


def combine(
    criteria: Sequence[Criterion],
    alpha: float,
    thresholds_from: str,
    informational: Sequence[Criterion] = (),
) -> Verdict:
    """The verdict of ``criteria``: any proven bad → not_ready; all proven good → ready.

    ``informational`` criteria are carried along for the reports and never change it.
    """
    shown = tuple(informational)
    if any(c.state == "fail" for c in criteria):
        return Verdict("not_ready", tuple(criteria), alpha, 0, thresholds_from, shown)
    if all(c.state == "pass" for c in criteria):
        return Verdict("ready", tuple(criteria), alpha, 0, thresholds_from, shown)
    needs = [
        None if c.samples_needed is None else math.ceil(c.samples_needed / c.share)
        for c in criteria
        if c.state == "undecided"
    ]
    needed = None if any(n is None for n in needs) else max(n for n in needs if n is not None)
    return Verdict("undecided", tuple(criteria), alpha, needed, thresholds_from, shown)


__all__ = [
    "DEFAULT_ALPHA",
    "Criterion",
    "State",
    "Verdict",
    "VerdictState",
    "combine",
    "floor_criterion",
    "latency_criterion",
    "percent",
    "rate_criterion",
]
