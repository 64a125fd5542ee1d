"""The readiness verdict under peeking, simulated: how often is it wrong, how soon does it decide?

The verdict is read after every comparison, so its error rate is the chance that it is
*ever* wrong along a run, not at one sample size. Each simulated run draws a stream of
comparisons with a true mismatch rate and checks the rule after **every** sample:

- the new rule (:func:`cutover.verdict.sequential.decide`, the one the verdict uses);
- the old rule of ``compat/shadow/report.py`` before issue 15: READY once there are at least
  ``min_comparisons`` comparisons and the observed rate is at most the threshold.

Runs are simulated mismatch to mismatch (geometric gaps), and every sample in between is
still checked exactly: with the count of mismatches fixed, ``log M_n`` is convex in ``n``
(each clean sample adds ``log(1 - (a + k) / (a + b + n)) - log(1 - p0)``, which grows with
``n``), so where it first reaches ``log(1 / alpha)`` is found by bisection. A test checks
this against a sample-by-sample loop.

Run: ``python -m benchmarks.verdict_sim [--runs N] [--seed S]``; figures in
``docs/VERDICT.md``.
"""

from __future__ import annotations

import argparse
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from cutover.verdict.sequential import (
    Decision,
    Prior,
    decide,
    log_evidence,
    prior_for,
    rate_bounds,
)


@dataclass(frozen=True, slots=True)
class Outcome:
    """The first decision of one run and the sample count it came at (horizon if none)."""

    decision: Decision
    samples: int


def gaps(rng: random.Random, rate: float) -> Iterator[int]:
    """Samples up to and including each mismatch, for a true mismatch rate ``rate``."""
    if rate <= 0.0:
        return
    if rate >= 1.0:
        while True:
            yield 1
    log_clean = math.log1p(-rate)
    while True:
        yield int(math.log(1.0 - rng.random()) / log_clean) + 1


def _first_at_least(
    k: int, low: int, high: int, level: float, threshold: float, prior: Prior
) -> int | None:
    """The first ``n`` in ``[low, high]`` with evidence >= ``level`` (convex in ``n``)."""
    if low > high:
        return None
    if log_evidence(k, low, threshold, prior) >= level:
        return low
    if log_evidence(k, high, threshold, prior) < level:
        return None
    while high - low > 1:  # below at low, reached at high; the reached part is a suffix
        mid = (low + high) // 2
        low, high = (low, mid) if log_evidence(k, mid, threshold, prior) >= level else (mid, high)
    return high


def _first_in_stretch(
    k: int, low: int, high: int, threshold: float, alpha: float, prior: Prior
) -> Outcome | None:
    """The first decision among ``k`` mismatches in ``n`` samples, ``n`` in ``[low, high]``."""
    level = -math.log(alpha)
    # Observed rate k/n above the threshold for n < k/threshold, below it after.
    if threshold > 0:
        edge = k / threshold
        above_end = min(high, math.ceil(edge) - 1)
        below_start = max(low, math.floor(edge) + 1)
    else:
        above_end, below_start = (high, high + 1) if k else (low - 1, high + 1)
    first = _first_at_least(k, low, above_end, level, threshold, prior)
    if first is not None:
        return Outcome("above", first)
    first = _first_at_least(k, below_start, high, level, threshold, prior)
    return None if first is None else Outcome("below", first)


def first_decision(
    mismatch_gaps: Iterator[int], threshold: float, alpha: float, horizon: int
) -> Outcome:
    """Check the new rule after every sample of one run; its first decision."""
    prior = prior_for(threshold)
    k = n = 0
    while n < horizon:
        gap = next(mismatch_gaps, None)
        end = horizon if gap is None else min(n + gap - 1, horizon)
        found = _first_in_stretch(k, n + 1, end, threshold, alpha, prior)
        if found is not None:
            return found
        if gap is None or n + gap > horizon:
            break
        n, k = n + gap, k + 1
        decision = decide(k, n, threshold, alpha, prior)
        if decision != "undecided":
            return Outcome(decision, n)
    return Outcome("undecided", horizon)


def first_decision_brute(samples: Sequence[bool], threshold: float, alpha: float) -> Outcome:
    """The same, one :func:`decide` per sample (slow; checks :func:`first_decision`)."""
    prior = prior_for(threshold)
    k = 0
    for n, mismatch in enumerate(samples, 1):
        k += mismatch
        decision = decide(k, n, threshold, alpha, prior)
        if decision != "undecided":
            return Outcome(decision, n)
    return Outcome("undecided", len(samples))


def old_rule_ready(
    mismatch_gaps: Iterator[int], threshold: float, min_comparisons: int, horizon: int
) -> bool:
    """Did the old rule say READY at any sample size from ``min_comparisons`` to ``horizon``?

    Its observed rate is lowest just before each mismatch, so those are the only points
    (and ``min_comparisons`` itself) to check.
    """
    k = n = 0
    while True:
        gap = next(mismatch_gaps, None)
        end = horizon if gap is None else min(n + gap - 1, horizon)
        if end >= min_comparisons and k <= threshold * end:
            return True
        if gap is None or n + gap > horizon:
            return False
        n, k = n + gap, k + 1


def old_rule_ready_at(rng: random.Random, rate: float, threshold: float, n: int) -> bool:
    """The old rule read once, at exactly ``n`` comparisons."""
    k = sum(rng.random() < rate for _ in range(n))
    return k <= threshold * n


def share(flags: Sequence[bool]) -> float:
    """The share of ``True``."""
    return sum(flags) / len(flags) if flags else 0.0


def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args()
    threshold, alpha, horizon = 0.001, 0.05, 100_000
    rng = random.Random(args.seed)
    print(f"threshold {threshold:.1%}, alpha {alpha}, {args.runs} runs, seed {args.seed}")
    for multiple in (2.0, 1.0):
        rate = threshold * multiple
        once = share([old_rule_ready_at(rng, rate, threshold, 1000) for _ in range(args.runs)])
        peek = share(
            [old_rule_ready(gaps(rng, rate), threshold, 1000, horizon) for _ in range(args.runs)]
        )
        new = [first_decision(gaps(rng, rate), threshold, alpha, horizon) for _ in range(args.runs)]
        print(
            f"true rate {rate:.2%}: old rule READY at n=1000 {once:.1%}, old rule READY ever "
            f"(n 1000..{horizon}) {peek:.1%}; new rule ready ever "
            f"{share([o.decision == 'below' for o in new]):.2%}, not_ready "
            f"{share([o.decision == 'above' for o in new]):.1%}"
        )
    # promote before issue 15: the newest 10,000 records, 9,000 clean ones from before the last
    # flag change and 1,000 since at 0.5%; the old rule judged all of them, the new one only
    # the 1,000 (version-scoped).
    old_promote = share(
        [sum(rng.random() < 0.005 for _ in range(1000)) <= threshold * 10_000 for _ in range(500)]
    )
    prior = prior_for(threshold)
    scoped = [
        decide(sum(rng.random() < 0.005 for _ in range(1000)), 1000, threshold, alpha, prior)
        for _ in range(500)
    ]
    print(
        f"promote, 9,000 clean + 1,000 at 0.5%: old rule READY {old_promote:.1%}; new rule on "
        f"the 1,000 since the change: ready {share([d == 'below' for d in scoped]):.1%}, "
        f"not_ready {share([d == 'above' for d in scoped]):.1%}"
    )
    _, high = rate_bounds(0, 50, alpha, prior)
    print(
        f"0 mismatches in 50: fixed-n 95% upper bound {1 - alpha ** (1 / 50):.2%}, anytime "
        f"upper bound {high:.2%}; in 1,071: fixed-n {1 - alpha ** (1 / 1071):.3%}, anytime "
        f"{rate_bounds(0, 1071, alpha, prior)[1]:.3%}"
    )
    for rate in (0.0, 0.0005, 1.0):
        runs = [first_decision(gaps(rng, rate), threshold, alpha, horizon) for _ in range(200)]
        decided = sorted(o.samples for o in runs if o.decision != "undecided")
        median = decided[len(decided) // 2] if decided else None
        print(
            f"true rate {rate:.2%}: decided in {len(decided)}/200 runs, median samples "
            f"{median}, verdicts {sorted({o.decision for o in runs})}"
        )


if __name__ == "__main__":
    _main()
