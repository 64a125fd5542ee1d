"""Which candidate a worker is proving, and what its shadow records say about it.

``promote``, the guard and the HTML report must agree on one rule, so it lives here:

- the **candidate** of a worker is the engine being rolled out (its ``route``, when that is an
  engine other than its ``base``), else its shadow candidate (``shadow.route``, when that is
  not the base); a worker with neither has nothing to prove;
- the **verdict** on the candidate is :func:`cutover.verdict.report.build_report`'s, over the
  worker's records with that candidate (what ``cutover shadow report`` prints), for the pair
  whose primary is the worker's base (the calls still on the old route); without records
  against the base, the pair with the most comparisons.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from compat.shadow.records import ShadowRecord
from cutover.verdict.report import PairReport, build_report
from flags.model import ENGINES, FlagRecord, ShadowConfig


def candidate_of(record: FlagRecord) -> str | None:
    """The engine ``record`` is rolling out or shadowing (``None``: nothing to prove)."""
    if record.route in ENGINES and record.route != record.base:
        return record.route
    if record.shadow is not None and record.shadow.route != record.base:
        return record.shadow.route
    return None


def thresholds_of(record: FlagRecord, candidate: str) -> ShadowConfig | None:
    """The worker's shadow thresholds if they are about ``candidate``; ``None``: defaults."""
    if record.shadow is not None and record.shadow.route == candidate:
        return record.shadow
    return None


def routed_off_base(record: FlagRecord) -> bool:
    """True when some calls of ``record`` take its ``route`` rather than its ``base``."""
    return record.route != record.base and record.percent > 0 and not record.kill


@dataclass(frozen=True, slots=True)
class Evidence:
    """The candidate of one worker and the report of its shadow records (if any)."""

    worker: str
    candidate: str | None
    pair: PairReport | None

    @property
    def ready(self) -> bool:
        """True only with records whose verdict holds."""
        return self.pair is not None and self.pair.verdict.ready


def evidence_for(worker: str, record: FlagRecord, records: Sequence[ShadowRecord]) -> Evidence:
    """Judge ``worker``'s candidate by ``records`` (other workers' records are ignored)."""
    candidate = candidate_of(record)
    if candidate is None:
        return Evidence(worker, None, None)
    mine = [r for r in records if r.worker == worker and r.candidate_route == candidate]
    if not mine:
        return Evidence(worker, candidate, None)
    report = build_report(mine, {worker: thresholds_of(record, candidate)})
    against_base = [pair for pair in report.pairs if pair.primary_route == record.base]
    pool = against_base or list(report.pairs)
    return Evidence(worker, candidate, max(pool, key=lambda pair: pair.comparisons))


__all__ = ["Evidence", "candidate_of", "evidence_for", "routed_off_base", "thresholds_of"]
