"""Guarded promotion and instant rollback, against real flags and records in Redis."""

from __future__ import annotations

import time

import pytest

from compat.shadow.recorders.redis_recorder import RedisShadowRecorder
from cutover.cli import main
from cutover.errors import NotReadyError, RolloutError
from cutover.ops.rollout import describe_plan, next_step, plan_of, position, promote, rollback
from flags import FlagRecord, FlagStore, ShadowConfig
from flags.model import DEFAULT_ROLLOUT_STEPS
from tests.ops.support import WriteRecords, outcomes

GATE = ShadowConfig(
    route="celery",
    sample=0.5,
    min_comparisons=200,
    max_mismatch_rate=0.05,
    max_candidate_error_rate=0.05,
)
"""A gate small enough to fill in a test: 5% limits (ready after ~93 clean comparisons)
and a floor of 200."""


def settle() -> float:
    """Let the last flag change fall behind the records about to be written (they span the
    0.3 s before ``at``, and only records since the change count); returns ``at``."""
    time.sleep(0.35)
    return time.time()


def shadowing(store: FlagStore, worker: str = "billing", **flags: object) -> FlagRecord:
    """Put ``worker`` on legacy with celery shadowed behind it (plus ``flags``)."""
    record = FlagRecord(shadow=GATE).changed(**flags)
    written = store.put(worker, record, expected_version=0, actor="test", reason="start shadow")
    settle()
    return written


def test_default_plan_is_0_5_25_50_100() -> None:
    """The plan after 0 is 5, 25, 50, 100, and each step is the next one above the current."""
    assert (5.0, 25.0, 50.0, 100.0) == DEFAULT_ROLLOUT_STEPS
    assert DEFAULT_ROLLOUT_STEPS == plan_of(FlagRecord())
    assert [5.0, 25.0, 50.0, 100.0, None] == [
        next_step(DEFAULT_ROLLOUT_STEPS, current) for current in (0, 5, 25, 50, 100)
    ]
    assert 25.0 == next_step(DEFAULT_ROLLOUT_STEPS, 10.0)  # off-plan percent: the next step
    assert "0 -> 5 -> [25] -> 50 -> 100" == describe_plan(DEFAULT_ROLLOUT_STEPS, 25.0)


def test_position_is_the_share_off_the_base() -> None:
    """Route == base or a kill switch means nothing leaves the base, whatever the percent."""
    assert 0.0 == position(FlagRecord())
    assert 25.0 == position(FlagRecord(route="celery", percent=25))
    assert 0.0 == position(FlagRecord(route="celery", percent=25, kill=True))


def test_promote_refuses_when_the_verdict_fails_and_names_the_numbers(
    store: FlagStore, recorder: RedisShadowRecorder, write_records: WriteRecords
) -> None:
    """20% mismatches is proven over the 5% gate: refused with the numbers and bounds, and
    nothing is written."""
    shadowing(store)
    write_records("billing", outcomes(match=160, mismatch=40), at=time.time())
    with pytest.raises(NotReadyError) as refused:
        promote("billing", "looks fine", "alice", store=store, recorder=recorder)
    message = str(refused.value)
    assert "billing is not ready to go from 0% to 5% on celery (verdict NOT READY)" in message
    line = "[FAIL] mismatch rate (noise-corrected): 20.00% (40 of 200 comparisons): at least "
    assert line in message
    assert "--force" in message
    (failing,) = refused.value.failing
    assert failing.startswith(line)
    assert failing.endswith("> 5.00% allowed: proven worse")
    assert 1 == store.get("billing").version
    assert ["set"] == [entry.action for entry in store.history("billing")]


def test_promote_refuses_without_enough_comparisons(
    store: FlagStore, recorder: RedisShadowRecorder, write_records: WriteRecords
) -> None:
    """Perfect agreement over too few comparisons is not evidence enough: undecided, with
    the comparisons still needed."""
    shadowing(store)
    write_records("billing", ["match"] * 50, at=time.time())
    with pytest.raises(NotReadyError) as refused:
        promote("billing", "r", "alice", store=store, recorder=recorder)
    message = str(refused.value)
    assert "(verdict UNDECIDED (~" in message
    assert "[ ?? ] mismatch rate (noise-corrected): 0.00% (0 of 50 comparisons): between" in message
    assert "more comparisons would decide at this rate" in message
    assert "[ ?? ] comparisons: 50 < 200 required before ready" in message


def test_promote_walks_the_plan_one_step_at_a_time_then_stops(
    store: FlagStore, recorder: RedisShadowRecorder, write_records: WriteRecords
) -> None:
    """With a holding verdict each promotion takes exactly one step, audited as ``promote``;
    each step needs evidence of its own (records since the last flag change)."""
    shadowing(store)
    seen = []
    for step in DEFAULT_ROLLOUT_STEPS:
        write_records("billing", outcomes(match=299, mismatch=1), at=settle())
        change = promote("billing", "verdict holds", "alice", store=store, recorder=recorder)
        seen.append((change.old_percent, change.new_percent, change.new.route, change.forced))
        if step == DEFAULT_ROLLOUT_STEPS[0]:
            with pytest.raises(
                NotReadyError, match=r"300 older ones were made under earlier flags"
            ):
                promote("billing", "again", "alice", store=store, recorder=recorder)
    assert [
        (0.0, 5.0, "celery", False),
        (5.0, 25.0, "celery", False),
        (25.0, 50.0, "celery", False),
        (50.0, 100.0, "celery", False),
    ] == seen
    assert "legacy" == store.get("billing").base
    with pytest.raises(RolloutError, match=r"already at the end of its plan"):
        promote("billing", "more", "alice", store=store, recorder=recorder)
    history = store.history("billing")
    assert ["set", "promote", "promote", "promote", "promote"] == [e.action for e in history]
    last = history[-1]
    assert "alice" == last.actor
    assert last.reason.startswith("verdict holds (promote celery 50% -> 100%; verdict READY:")
    assert "[pass] mismatch rate (noise-corrected): 0.33% (1 of 300 comparisons): at most " in (
        last.reason
    )


def test_force_promotes_and_the_audit_entry_says_forced(
    store: FlagStore, recorder: RedisShadowRecorder, write_records: WriteRecords
) -> None:
    """``force`` overrides a failing verdict; the audit reason records forced=True and why."""
    shadowing(store)
    write_records("billing", outcomes(match=150, mismatch=50), at=time.time())
    change = promote("billing", "deadline", "bob", force=True, store=store, recorder=recorder)
    assert (True, 5.0, "celery") == (change.forced, change.new.percent, change.new.route)
    entry = store.history("billing")[-1]
    assert ("promote", "bob") == (entry.action, entry.actor)
    assert "forced=True" in entry.reason
    assert "[FAIL] mismatch rate (noise-corrected): 25.00% (50 of 200 comparisons)" in entry.reason


def test_a_worker_may_name_its_own_plan(
    store: FlagStore, recorder: RedisShadowRecorder, write_records: WriteRecords
) -> None:
    """A ``rollout`` of [1, 10, 100] in the flags is the plan promote follows."""
    shadowing(store, rollout=(1, 10, 100))
    steps = []
    for _ in range(3):
        write_records("billing", ["match"] * 200, at=settle())
        steps.append(promote("billing", "r", "a", store=store, recorder=recorder).new_percent)
    assert [1.0, 10.0, 100.0] == steps


def test_promote_judges_only_evidence_since_the_last_flag_change(
    store: FlagStore, recorder: RedisShadowRecorder, write_records: WriteRecords
) -> None:
    """900 clean records from before a flag change plus 100 since at 10% mismatches: the old
    rule judged all 1,000 (1% mismatches, under the limit: READY); only the 100 count, and
    they are proven worse than 5%."""
    shadowing(store)
    write_records("billing", ["match"] * 900, at=time.time())
    store.update(
        "billing",
        lambda record: record.changed(shadow=GATE),
        actor="test",
        reason="touch the flags",
    )
    write_records("billing", outcomes(match=80, mismatch=20), at=settle())
    with pytest.raises(NotReadyError) as refused:
        promote("billing", "r", "alice", store=store, recorder=recorder)
    assert "20.00% (20 of 100 comparisons)" in str(refused.value)
    assert 2 == store.get("billing").version


def test_evidence_goes_by_flags_version_not_by_the_hosts_clocks(
    store: FlagStore, recorder: RedisShadowRecorder, write_records: WriteRecords
) -> None:
    """A worker host whose clock runs a minute behind stamps its records before the change
    as the operator's clock saw it: made under the new flags, they count. Records a worker
    made under the old flags after the change (it had not seen it yet) do not."""
    shadowing(store)
    store.update(
        "billing", lambda record: record.changed(shadow=GATE), actor="test", reason="touch"
    )
    behind = time.time() - 60
    write_records("billing", ["match"] * 200, at=behind)
    write_records("billing", ["mismatch"] * 100, at=settle(), flag_version=1)
    change = promote("billing", "r", "alice", store=store, recorder=recorder)
    assert (2, 5.0) == (change.old.version, change.new.percent)
    assert "(0 of 200 comparisons)" in store.history("billing")[-1].reason


@pytest.mark.parametrize(
    ("flags", "refusal"),
    [
        ({"kill": True}, "its kill switch routes it on legacy"),
        ({"shadow": None}, "nothing to promote for billing"),
    ],
)
def test_promote_refuses_a_killed_worker_or_one_without_candidate(
    store: FlagStore, recorder: RedisShadowRecorder, flags: dict[str, object], refusal: str
) -> None:
    """Even ``force`` does not promote a killed worker or one with nothing to promote."""
    shadowing(store, **flags)
    with pytest.raises(RolloutError, match=refusal):
        promote("billing", "r", "a", force=True, store=store, recorder=recorder)
    assert 1 == store.get("billing").version


def test_rollback_sends_every_call_to_the_base_at_once(store: FlagStore) -> None:
    """From 50% on celery, one rollback: percent 0 (all on legacy), route kept, audited."""
    store.put(
        "billing",
        FlagRecord(route="celery", percent=50, shadow=GATE),
        expected_version=0,
        actor="test",
        reason="halfway",
    )
    change = rollback("billing", "p99 doubled", "carol", store=store)
    assert change.written
    assert (0.0, "celery", "legacy") == (change.new.percent, change.new.route, change.new.base)
    assert 0.0 == position(store.get("billing"))
    entry = store.history("billing")[-1]
    assert ("rollback", "carol") == (entry.action, entry.actor)
    assert "p99 doubled (rollback celery 50% -> 0%: every call on legacy)" == entry.reason
    again = rollback("billing", "again", "carol", store=store)
    assert not again.written
    assert 2 == store.get("billing").version


def test_cli_promote_refusal_and_rollback(
    store: FlagStore,
    redis_url: str,
    write_records: WriteRecords,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``cutover promote`` exits 2 with the numbers; ``--force`` and ``rollback`` print the move."""
    shadowing(store)
    write_records("billing", outcomes(match=160, mismatch=40), at=time.time())
    url = ["--flags-url", redis_url]
    status = main(["promote", "billing", "--reason", "try", *url])
    out, err = capsys.readouterr()
    assert 2 == status
    assert "mismatch rate (noise-corrected): 20.00% (40 of 200 comparisons): at least" in err
    status = main(["promote", "billing", "--reason", "anyway", "--force", "--actor", "dan", *url])
    out, err = capsys.readouterr()
    assert 0 == status, err
    assert "billing: celery 0% -> 5% (version 1 -> 2; plan 0 -> [5] -> 25 -> 50 -> 100)" in out
    assert "FORCED" in out
    status = main(["rollback", "billing", "--reason", "no", *url])
    out, err = capsys.readouterr()
    assert 0 == status, err
    assert "billing: rolled back, every call on legacy (celery 5% -> 0%, version 2 -> 3)" in out
