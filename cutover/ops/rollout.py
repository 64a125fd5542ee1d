"""The rollout plan, and the two moves along it: ``promote`` (gated) and ``rollback`` (at once).

A worker's plan is the percentages its candidate takes, one step at a time: its flags'
``rollout`` if set, else :data:`~flags.model.DEFAULT_ROLLOUT_STEPS` (0 -> 5 -> 25 -> 50 -> 100).

- :func:`promote` moves the worker one step, and only when the shadow verdict on its
  candidate holds (:mod:`cutover.ops.evidence`: the same verdict ``cutover shadow report``
  prints). Otherwise it raises :class:`~ground.errors.NotReadyError` naming the failing
  numbers, and writes nothing. ``force=True`` promotes anyway; the audit entry's reason then
  says ``forced=True`` with the numbers it overrode. The write is a compare-and-set on the
  version the verdict was computed for, so a change made meanwhile refuses the promotion
  instead of being overwritten. A worker routed on its base with a shadow candidate starts
  the plan: its ``route`` becomes the candidate at the first step.
- :func:`rollback` sends every call back to the worker's ``base`` at once (``percent`` 0,
  the ``route`` kept so the next promotion resumes the same plan from 0). It is not gated
  and retries a lost compare-and-set on a fresh read: going back must always work.

Both write through the flag store (validation, version, audit trail with actor and reason;
actions ``promote`` / ``rollback``), so ``cutover flags history`` shows them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

from compat.shadow.recorders import DEFAULT_READ_LIMIT, ShadowRecorder, open_recorder
from cutover.ops.evidence import Evidence, candidate_of, evidence_for
from cutover.verdict.report import state_text
from flags.model import DEFAULT_ROLLOUT_STEPS, MAX_TEXT, FlagRecord
from flags.store import FlagStore, check_change
from flags.stores import open_store
from ground.errors import NotReadyError, RolloutError, UnknownWorkerError
from ground.logs import get_logger

log = get_logger("cutover.ops.rollout")


@dataclass(frozen=True, slots=True)
class RolloutChange:
    """What a promotion or rollback did (``written`` is False when nothing had to change)."""

    worker: str
    action: Literal["promote", "rollback"]
    candidate: str | None
    old: FlagRecord
    new: FlagRecord
    written: bool
    forced: bool = False
    evidence: Evidence | None = None

    @property
    def old_percent(self) -> float:
        """The candidate's share before the change."""
        return position(self.old)

    @property
    def new_percent(self) -> float:
        """The candidate's share after the change."""
        return position(self.new)


def plan_of(record: FlagRecord) -> tuple[float, ...]:
    """The steps of ``record``'s plan after 0: its own ``rollout``, else the default."""
    return record.rollout or DEFAULT_ROLLOUT_STEPS


def position(record: FlagRecord) -> float:
    """The share of calls (percent) that ``record`` sends off its base (0 when killed)."""
    if record.kill or record.route == record.base:
        return 0.0
    return record.percent


def next_step(plan: Sequence[float], current: float) -> float | None:
    """The first step of ``plan`` above ``current`` (``None``: the plan is complete)."""
    return next((step for step in plan if step > current), None)


def describe_plan(plan: Sequence[float], current: float | None = None) -> str:
    """``0 -> 5 -> [25] -> 50 -> 100``: the plan, with ``current`` in brackets if it is a step."""
    steps = [0.0, *plan]
    return " -> ".join(f"[{s:g}]" if s == current else f"{s:g}" for s in steps)


@contextmanager
def _store_or(store: FlagStore | None) -> Iterator[FlagStore]:
    if store is not None:
        yield store
        return
    opened = open_store()
    try:
        yield opened
    finally:
        opened.close()


@contextmanager
def _recorder_or(recorder: ShadowRecorder | None) -> Iterator[ShadowRecorder]:
    if recorder is not None:
        yield recorder
        return
    opened = open_recorder()
    try:
        yield opened
    finally:
        opened.close()


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def _criteria(evidence: Evidence, *, failing_only: bool) -> tuple[str, ...]:
    if evidence.pair is None:
        older = (
            f" ({evidence.older} older ones were made under earlier flags and do not count)"
            if evidence.older
            else ""
        )
        return (
            f"[ ?? ] no shadow records of candidate {evidence.candidate} since the last flag "
            f"change{older}",
        )
    return tuple(
        criterion.line()
        for criterion in evidence.pair.verdict.criteria
        if not (failing_only and criterion.passed)
    )


def _unknown_worker(worker: str, store: FlagStore) -> UnknownWorkerError:
    known = store.list_workers()
    close = difflib.get_close_matches(worker, known, n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    listed = ", ".join(known[:10]) + (", ..." if len(known) > 10 else "") if known else "none"
    return UnknownWorkerError(
        f"no flags are recorded for worker {worker!r} in {store.display_url} (workers with "
        f"flags: {listed}); {hint}check the name (cutover flags list), or pass --allow-new "
        "if this worker really has never had flags (nothing is written for it either way)"
    )


def _state(evidence: Evidence) -> str:
    """The verdict as the refusal and the audit trail say it (no records: ``NO EVIDENCE``)."""
    if evidence.pair is None:
        return "NO EVIDENCE"
    return state_text(evidence.pair.verdict)


def promote(
    worker: str,
    reason: str,
    actor: str,
    force: bool = False,
    *,
    store: FlagStore | None = None,
    recorder: ShadowRecorder | None = None,
    read_limit: int = DEFAULT_READ_LIMIT,
) -> RolloutChange:
    """Move ``worker`` one step along its plan if the shadow verdict holds (or ``force``).

    ``store`` / ``recorder`` default to the configured ones (``CUTOVER_FLAGS_URL``).
    Raises :class:`NotReadyError` (verdict), :class:`RolloutError` (killed, nothing to
    promote, plan complete) or a flag error; nothing is written then.
    """
    actor, reason = check_change(actor, reason)
    with _store_or(store) as flag_store:
        record = flag_store.get(worker)
        if flag_store.get_global_kill():
            raise RolloutError(
                f"cannot promote {worker}: the global kill switch routes every worker on legacy; "
                "turn it off first (cutover flags unkill --all --reason TEXT)"
            )
        if record.kill:
            raise RolloutError(
                f"cannot promote {worker}: its kill switch routes it on legacy; turn it off "
                f"first (cutover flags unkill {worker} --reason TEXT)"
            )
        candidate = candidate_of(record)
        if candidate is None:
            raise RolloutError(
                f"nothing to promote for {worker}: route and base are both {record.base} and no "
                "shadow candidate is set; name the candidate first (cutover flags set "
                f"{worker} --route {record.route} --shadow ENGINE --sample 0.05 --reason TEXT)"
            )
        plan = plan_of(record)
        current = position(record)
        target = next_step(plan, current)
        if target is None:
            raise RolloutError(
                f"{worker} is already at the end of its plan ({describe_plan(plan, current)}): "
                f"{current:g}% of its calls on {candidate}; nothing left to promote"
            )
        with _recorder_or(recorder) as shadow_records:
            records = shadow_records.read(worker, limit=read_limit)
        evidence = evidence_for(worker, record, records)
        move = f"promote {candidate} {current:g}% -> {target:g}%"
        if evidence.ready:
            note = f"{move}; verdict READY: " + "; ".join(_criteria(evidence, failing_only=False))
        else:
            failing = _criteria(evidence, failing_only=True)
            state = _state(evidence)
            if not force:
                raise NotReadyError(
                    f"{worker} is not ready to go from {current:g}% to {target:g}% on "
                    f"{candidate} (verdict {state}): " + "; ".join(failing) + ". See `cutover "
                    f"shadow report {worker}`; wait for more comparisons or fix the candidate, "
                    "or promote with --force (the audit trail records it as forced)",
                    failing,
                )
            note = f"{move}; forced=True, verdict {state}: " + "; ".join(failing)

        def step(current_record: FlagRecord) -> FlagRecord:
            return current_record.changed(route=candidate, percent=target)

        old, new = flag_store.update(
            worker,
            step,
            actor=actor,
            reason=_clip(f"{reason} ({note})"),
            action="promote",
            expected_version=record.version,
        )
    log.warning(
        "rollout_promoted",
        worker=worker,
        route=candidate,
        flag_version=new.version,
        percent=target,
        actor=actor,
        forced=not evidence.ready,
    )
    return RolloutChange(
        worker, "promote", candidate, old, new, True, forced=not evidence.ready, evidence=evidence
    )


def rollback(
    worker: str,
    reason: str,
    actor: str,
    *,
    store: FlagStore | None = None,
    allow_new: bool = False,
) -> RolloutChange:
    """Send every call of ``worker`` back to its base now (``percent`` 0); not gated.

    Writes nothing (``written`` False) when no call leaves the base already. A worker with no
    flags in the store is most likely a typo, and "already on its base" would hide it while
    the real worker keeps its calls off legacy: it raises :class:`UnknownWorkerError` unless
    ``allow_new`` (then nothing is written either).
    """
    actor, reason = check_change(actor, reason)
    with _store_or(store) as flag_store:
        record = flag_store.get(worker)
        if record.version == 0 and not allow_new:
            raise _unknown_worker(worker, flag_store)
        candidate = candidate_of(record)
        if record.route == record.base or record.percent <= 0:
            return RolloutChange(worker, "rollback", candidate, record, record, False)
        note = f"rollback {record.route} {record.percent:g}% -> 0%: every call on {record.base}"
        old, new = flag_store.update(
            worker,
            lambda current: current.changed(percent=0.0),
            actor=actor,
            reason=_clip(f"{reason} ({note})"),
            action="rollback",
        )
    log.warning(
        "rollout_rolled_back",
        worker=worker,
        route=new.base,
        flag_version=new.version,
        previous_route=old.route,
        previous_percent=old.percent,
        actor=actor,
        reason=reason,
    )
    return RolloutChange(worker, "rollback", candidate, old, new, True)


__all__ = [
    "RolloutChange",
    "describe_plan",
    "next_step",
    "plan_of",
    "position",
    "promote",
    "rollback",
]
