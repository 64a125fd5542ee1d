"""Which candidate a worker is proving, and what its shadow records say about it.

``promote``, the guard and the HTML report must agree on one rule, so it lives here:

- the **candidate** of a worker is the engine being rolled out (its ``route``, when that is an
  engine other than its ``base``), else its shadow candidate (``shadow.route``, when that is
  not the base); a worker with neither has nothing to prove;
- the **verdict** on the candidate is :func:`cutover.verdict.report.build_report`'s, over the
  worker's records with that candidate (what ``cutover shadow report`` prints), for the pair
  whose primary is the worker's base (the calls still on the old route); without records
  against the base, the pair with the most comparisons;
- the evidence is **version-scoped**: only records made under the worker's current flags
  count (:func:`made_under`: the record's ``flag_version``, which the worker process stamped
  from the flags it routed the call by, is at least the flags' ``version``). Each promote step
  changes the flags, so each step is judged on what the candidate did at the step before it,
  not on a clean history that drowns a new problem (9,000 clean old records and 1,000 new ones
  at 0.5% read READY 99% of the time under the old rule). Versions, not clocks: a record is
  stamped by the worker's host and a flag change by the operator's, and a skew between the
  two clocks must not move records across a change; the calls a worker made in the moment
  before it saw the change were made under the old flags, and are left out with them.
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


def made_under(record: FlagRecord, shadow_record: ShadowRecord) -> bool:
    """True when ``shadow_record`` was made under ``record``'s flags version or a later one
    (a worker never written, version 0, counts every record)."""
    return shadow_record.flag_version >= record.version


@dataclass(frozen=True, slots=True)
class Evidence:
    """The candidate of one worker and the report of its shadow records (if any)."""

    worker: str
    candidate: str | None
    pair: PairReport | None
    older: int = 0
    """Records of the candidate left out because they were made under older flags."""

    @property
    def ready(self) -> bool:
        """True only with records whose verdict holds."""
        return self.pair is not None and self.pair.verdict.ready


def evidence_for(worker: str, record: FlagRecord, records: Sequence[ShadowRecord]) -> Evidence:
    """Judge ``worker``'s candidate by ``records`` made under its current flags (other
    workers' records, and those made under older flags, are ignored)."""
    candidate = candidate_of(record)
    if candidate is None:
        return Evidence(worker, None, None)
    theirs = [r for r in records if r.worker == worker and r.candidate_route == candidate]
    mine = [r for r in theirs if made_under(record, r)]
    older = len(theirs) - len(mine)
    if not mine:
        return Evidence(worker, candidate, None, older)
    report = build_report(mine, {worker: thresholds_of(record, candidate)})
    against_base = [pair for pair in report.pairs if pair.primary_route == record.base]
    pool = against_base or list(report.pairs)
    best = max(pool, key=lambda pair: pair.comparisons)
    return Evidence(worker, candidate, best, older)


__all__ = [
    "Evidence",
    "candidate_of",
    "evidence_for",
    "made_under",
    "routed_off_base",
    "thresholds_of",
]
