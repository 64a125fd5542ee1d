"""ShadowRecord: outcomes, and a JSON round trip that loses nothing."""

from __future__ import annotations

import json

import pytest
from hypothesis import given

from compat.shadow.records import AGREEMENTS, DISAGREEMENTS, OUTCOMES, ShadowRecord
from cutover.errors import InvalidArgumentError
from tests.compat.shadow.strategies import make_record, records


@given(records())
def test_json_round_trip(record: ShadowRecord) -> None:
    """to_dict -> JSON -> from_dict gives the same record."""
    assert record == ShadowRecord.from_dict(json.loads(json.dumps(record.to_dict())))


def test_outcomes_split_into_agreements_and_disagreements() -> None:
    """Every outcome is exactly one of agreement or disagreement; both_failed agrees."""
    assert set(OUTCOMES) == AGREEMENTS | DISAGREEMENTS
    assert frozenset() == AGREEMENTS & DISAGREEMENTS
    assert make_record(outcome="both_failed").agreed
    assert not make_record(outcome="candidate_timeout").agreed


def test_sequences_are_stored_as_tuples() -> None:
    """Lists given for diffs and noisy paths (what redact returns) become tuples."""
    record = make_record(diffs=["$: 1 != 2"], noisy_paths=["$.at"])
    assert (("$: 1 != 2",), ("$.at",)) == (record.diffs, record.noisy_paths)


def test_unknown_outcome_is_refused() -> None:
    """An outcome outside OUTCOMES is an InvalidArgumentError."""
    with pytest.raises(InvalidArgumentError, match="outcome 'maybe'"):
        make_record(outcome="maybe")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"flag_version": "3"}, "flag_version"),
        ({"diffs": "not a list"}, "diffs"),
        ({"primary_latency_s": None}, "primary_latency_s"),
    ],
)
def test_malformed_data_is_refused(change: dict[str, object], message: str) -> None:
    """from_dict names the field that is wrong."""
    data = {**make_record().to_dict(), **change}
    with pytest.raises(InvalidArgumentError, match=message):
        ShadowRecord.from_dict(data)


def test_missing_field_and_unknown_fields() -> None:
    """A missing required field is refused; unknown fields are ignored (newer writers)."""
    data = make_record().to_dict()
    assert make_record() == ShadowRecord.from_dict({**data, "added_later": 1})
    del data["worker"]
    with pytest.raises(InvalidArgumentError, match="without 'worker'"):
        ShadowRecord.from_dict(data)


@pytest.mark.parametrize("field", ["skipped", "mismatched_items", "candidate_batches"])
def test_counts_added_later_read_0_when_absent_or_null_and_are_checked_when_given(
    field: str,
) -> None:
    """Records written before a count existed read 0 for it (absent or null, the same way for
    every such count); a count that is given must be an integer."""
    data = make_record().to_dict()
    del data[field]
    assert 0 == getattr(ShadowRecord.from_dict(data), field)
    assert 0 == getattr(ShadowRecord.from_dict({**data, field: None}), field)
    with pytest.raises(InvalidArgumentError, match=field):
        ShadowRecord.from_dict({**data, field: "2"})
