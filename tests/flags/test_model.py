"""The flag model: defaults, JSON round trip, and strict validation with clear refusals."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given

from cutover.errors import FlagValidationError
from flags.model import (
    DEFAULT_RECORD,
    FlagRecord,
    HybridPolicy,
    RetryPolicy,
    ShadowConfig,
    validate_worker_id,
)
from tests.flags.strategies import flag_records


def test_defaults_are_legacy_everywhere() -> None:
    """A worker nobody configured routes every call to legacy, with nothing shadowed."""
    assert ("legacy", "legacy", 100.0) == (
        DEFAULT_RECORD.route,
        DEFAULT_RECORD.base,
        DEFAULT_RECORD.percent,
    )
    assert DEFAULT_RECORD.shadow is None
    assert DEFAULT_RECORD.kill is False
    assert ("legacy", 0) == (DEFAULT_RECORD.fallback, DEFAULT_RECORD.version)
    assert HybridPolicy() == DEFAULT_RECORD.hybrid
    assert ("threshold", 100, "celery", "ray", 0.05) == (
        DEFAULT_RECORD.hybrid.mode,
        DEFAULT_RECORD.hybrid.threshold,
        DEFAULT_RECORD.hybrid.small,
        DEFAULT_RECORD.hybrid.large,
        DEFAULT_RECORD.hybrid.explore,
    )


@given(flag_records)
def test_every_valid_record_survives_a_json_round_trip(record: FlagRecord) -> None:
    """to_dict -> JSON -> from_dict gives back an equal record."""
    assert record == FlagRecord.from_dict(json.loads(json.dumps(record.to_dict())))


def test_a_partial_dict_takes_defaults_for_the_rest() -> None:
    """``{"route": "celery"}`` is a whole record: every other field is the default."""
    record = FlagRecord.from_dict({"route": "celery", "shadow": {"route": "ray"}})
    assert "celery" == record.route
    assert DEFAULT_RECORD.hybrid == record.hybrid
    assert ShadowConfig(route="ray") == record.shadow


REFUSALS: list[tuple[dict[str, Any], str, Any, str]] = [
    ({"route": "kafka"}, "route", "kafka", "'hybrid'"),
    ({"percent": 130}, "percent", 130, "from 0 to 100"),
    ({"percent": -0.5}, "percent", -0.5, "from 0 to 100"),
    ({"percent": True}, "percent", True, "a number"),
    ({"percent": "50"}, "percent", "50", "a number"),
    ({"base": "hybrid"}, "base", "hybrid", "concrete engine"),
    ({"kill": "yes"}, "kill", "yes", "true or false"),
    ({"kill": 1}, "kill", 1, "true or false"),
    ({"priority": 10}, "priority", 10, "from 0 to 9"),
    ({"priority": True}, "priority", True, "an integer"),
    ({"priority": 2.0}, "priority", 2.0, "an integer"),
    ({"fallback": "retry"}, "fallback", "retry", "'legacy', 'fail'"),
    ({"queue": "two words"}, "queue", "two words", "letters, digits"),
    ({"version": -1}, "version", -1, "an integer"),
    ({"updated_at": "yesterday"}, "updated_at", "yesterday", "ISO-8601"),
    ({"colour": "blue"}, "colour", "blue", "known fields"),
    ({"hybrid": {"mode": "smart"}}, "hybrid.mode", "smart", "'threshold', 'adaptive'"),
    ({"hybrid": {"threshold": 1.5}}, "hybrid.threshold", 1.5, "an integer"),
    ({"hybrid": {"small": "hybrid"}}, "hybrid.small", "hybrid", "concrete engine"),
    ({"hybrid": {"explore": 2}}, "hybrid.explore", 2, "from 0 to 1"),
    ({"hybrid": {"speed": 1}}, "hybrid.speed", 1, "known fields"),
    ({"hybrid": 5}, "hybrid", 5, "an object"),
    ({"shadow": {"route": "ray", "sample": -1}}, "shadow.sample", -1, "from 0 to 1"),
    ({"shadow": {"route": "hybrid"}}, "shadow.route", "hybrid", "concrete engine"),
    ({"shadow": {"sample": 0.1}}, "shadow.route", None, "required"),
    ({"shadow": {"route": "ray", "timeout_s": 0}}, "shadow.timeout_s", 0, "greater than 0"),
    ({"shadow": {"route": "ray", "denoise": "no"}}, "shadow.denoise", "no", "true or false"),
    ({"shadow": {"route": "ray", "ignore_paths": "a.b"}}, "shadow.ignore_paths", "a.b", "a list"),
    ({"shadow": {"route": "ray", "extra": 1}}, "shadow.extra", 1, "known fields"),
    ({"shadow": ["ray"]}, "shadow", ["ray"], "an object"),
    ({"retries": {"max": "3"}}, "retries.max", "3", "an integer"),
    ({"retries": {"max": 101}}, "retries.max", 101, "from 0 to 100"),
    ({"retries": {"retryable": ["not a name"]}}, "retries.retryable[0]", "not a name", "class"),
    ({"retries": {"backoff_s": math.inf}}, "retries.backoff_s", math.inf, "a number"),
    ({"rollout": [5, 25, 50]}, "rollout", [5, 25, 50], "ending at 100"),
    ({"rollout": [25, 5, 100]}, "rollout", [25, 5, 100], "strictly increasing"),
    ({"rollout": [5, 5, 100]}, "rollout", [5, 5, 100], "strictly increasing"),
    ({"rollout": [0, 50, 100]}, "rollout[0]", 0, "greater than 0"),
    ({"rollout": [5, "25", 100]}, "rollout[1]", "25", "a number"),
    ({"rollout": "5,25,100"}, "rollout", "5,25,100", "an empty list"),
    ({"rollout": [*range(1, 22), 100]}, "rollout", [*range(1, 22), 100], "at most"),
    (
        {"shadow": {"route": "ray", "max_candidate_error_rate": 1.5}},
        "shadow.max_candidate_error_rate",
        1.5,
        "from 0 to 1",
    ),
    ({"shadow": {"route": "ray", "alpha": 0}}, "shadow.alpha", 0, "greater than 0"),
    ({"shadow": {"route": "ray", "alpha": 0.6}}, "shadow.alpha", 0.6, "at most 0.5"),
]


@pytest.mark.parametrize(("data", "field", "value", "allowed"), REFUSALS)
def test_an_invalid_value_is_refused_naming_field_value_and_what_is_allowed(
    data: dict[str, Any], field: str, value: Any, allowed: str
) -> None:
    """Each refusal carries the field path, the value and a description of what is allowed."""
    with pytest.raises(FlagValidationError) as caught:
        FlagRecord.from_dict(data)
    error = caught.value
    assert field == error.field
    assert value == error.value or (value != value and error.value != error.value)
    assert allowed in error.allowed
    assert repr(field) in str(error)
    assert allowed in str(error)


def test_a_non_object_record_is_refused() -> None:
    """A JSON list or string is not a record."""
    with pytest.raises(FlagValidationError) as caught:
        FlagRecord.from_dict(["route", "celery"])
    assert "record" == caught.value.field


def test_records_built_in_code_are_validated_too() -> None:
    """Direct construction checks the same rules, naming the nested path."""
    with pytest.raises(FlagValidationError) as caught:
        HybridPolicy(threshold=-1)
    assert "hybrid.threshold" == caught.value.field
    with pytest.raises(FlagValidationError) as caught:
        RetryPolicy(max_retries=-1)
    assert "retries.max" == caught.value.field
    with pytest.raises(FlagValidationError) as caught:
        DEFAULT_RECORD.changed(percent=101)
    assert "percent" == caught.value.field


def test_numbers_are_normalised() -> None:
    """An integer percent is stored as a float; lists become tuples (records are hashable)."""
    record = FlagRecord.from_dict({"percent": 25, "retries": {"retryable": ["TimeoutError"]}})
    assert 25.0 == record.percent
    assert isinstance(record.percent, float)
    assert ("TimeoutError",) == record.retries.retryable
    assert isinstance(hash(record), int)


@pytest.mark.parametrize("worker_id", ["billing", "billing-worker.eu:1", "team/a@b"])
def test_valid_worker_ids_are_accepted(worker_id: str) -> None:
    """Ordinary worker ids pass validation unchanged."""
    assert worker_id == validate_worker_id(worker_id)


@pytest.mark.parametrize("worker_id", ["", "two words", "-leading", "*", "x" * 201, 5])
def test_invalid_worker_ids_are_refused(worker_id: Any) -> None:
    """Empty, spaced, punctuation-first, over-long and non-string ids are refused by name."""
    with pytest.raises(FlagValidationError) as caught:
        validate_worker_id(worker_id)
    assert "worker" == caught.value.field


def test_same_flags_ignores_bookkeeping() -> None:
    """Two records that route alike compare equal in flags even with other versions."""
    one = FlagRecord(route="celery", version=1, reason="a")
    two = FlagRecord(route="celery", version=7, reason="b")
    assert one.same_flags(two)
    assert not one.same_flags(two.changed(percent=50))


def test_the_newer_fields_are_left_out_of_the_dict_while_they_have_their_defaults() -> None:
    """``rollout`` and ``shadow.max_candidate_error_rate`` appear in to_dict only when set, so a
    process running the model from before they existed (strict about unknown fields) still
    reads what this one writes; records written before them load with the defaults."""
    old_reader_fields = {
        "route", "percent", "base", "hybrid", "shadow", "kill", "retries", "priority",
        "queue", "fallback", "version", "updated_at", "updated_by", "reason",
    }  # fmt: skip
    default = FlagRecord(shadow=ShadowConfig(route="celery")).to_dict()
    assert old_reader_fields == set(default)
    assert "max_candidate_error_rate" not in default["shadow"]
    assert "alpha" not in default["shadow"]
    loaded = FlagRecord.from_dict(default)
    assert () == loaded.rollout
    assert loaded.shadow is not None
    assert (0.001, 0.05) == (loaded.shadow.max_candidate_error_rate, loaded.shadow.alpha)
    custom = FlagRecord(
        rollout=(10, 100),
        shadow=ShadowConfig(route="ray", max_candidate_error_rate=0.02, alpha=0.01),
    ).to_dict()
    assert [10.0, 100.0] == custom["rollout"]
    assert 0.02 == custom["shadow"]["max_candidate_error_rate"]
    assert 0.01 == custom["shadow"]["alpha"]


def test_a_rollout_plan_is_normalised_to_a_tuple_of_floats() -> None:
    """``[1, 10, 100]`` from JSON becomes ``(1.0, 10.0, 100.0)``."""
    assert (1.0, 10.0, 100.0) == FlagRecord.from_dict({"rollout": [1, 10, 100]}).rollout


def test_the_flag_retry_policy_is_the_policy_engines_apply() -> None:
    """One shape: the flag's policy is an ``adapters.base.RetryPolicy`` as it stands, so no
    layer translates fields (and cannot drop one on the way)."""
    from adapters.base import RetryPolicy as EngineRetryPolicy

    policy = RetryPolicy(max_retries=2, backoff_s=0.5, retryable=("TimeoutError",))
    assert isinstance(policy, EngineRetryPolicy)
    assert policy.is_retryable(TimeoutError())
    assert not policy.is_retryable(ValueError())
    assert 2 == policy.max == policy.max_retries
    assert policy == RetryPolicy(max=2, backoff_s=0.5, retryable=("TimeoutError",))


def test_stored_retry_policies_keep_their_key_and_read_either_name() -> None:
    """Records stored so far say ``max``; they still read, and what is written still says
    ``max`` (older processes refuse unknown fields). ``max_retries`` reads too, and the two
    names disagreeing is refused rather than one silently winning."""
    old = FlagRecord.from_dict({"retries": {"max": 3, "backoff_s": 2.0}})
    assert 3 == old.retries.max_retries
    assert 3 == old.to_dict()["retries"]["max"]
    assert "max_retries" not in old.to_dict()["retries"]
    assert 4 == RetryPolicy.from_dict({"max_retries": 4}).max_retries
    assert 4 == RetryPolicy.from_dict({"max": 4, "max_retries": 4}).max_retries
    with pytest.raises(FlagValidationError) as caught:
        RetryPolicy.from_dict({"max": 4, "max_retries": 5})
    assert "retries.max_retries" == caught.value.field
