"""redact(): sensitive fields out of sample inputs, diff lines and error messages; small samples."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compat.shadow.compare import compare, compare_exceptions
from compat.shadow.redact import MAX_ITEMS, MAX_STRING, REDACTED, redact
from flags import ShadowConfig
from tests.compat.shadow.strategies import values

SECRET = "hunter2-secret"


def order(password: str = SECRET) -> dict[str, Any]:
    """An input carrying secrets at several depths."""
    return {
        "user": {"name": "ann", "password": password, "card": {"number": "4111", "cvc": "123"}},
        "rows": [{"id": 1, "token": "t-1"}, {"id": 2, "token": "t-2"}],
        "note": f"login with password={password} please",
    }


def test_bare_names_match_anywhere() -> None:
    """A bare key name is redacted at any depth, also inside text (`password=...`)."""
    sample = redact(order(), ["password", "token"])
    assert {
        "user": {"name": "ann", "password": REDACTED, "card": {"number": "4111", "cvc": "123"}},
        "rows": [{"id": 1, "token": REDACTED}, {"id": 2, "token": REDACTED}],
        "note": f"login with password={REDACTED} please",
    } == sample


def test_anchored_and_wildcard_paths() -> None:
    """`$.user.card` hides a whole subtree; `$.rows[*].id` hides one field of every row."""
    sample = redact(order(), ["$.user.card", "$.rows[*].id"])
    assert REDACTED == sample["user"]["card"]
    assert [{"id": REDACTED, "token": "t-1"}, {"id": REDACTED, "token": "t-2"}] == sample["rows"]
    assert SECRET == sample["user"]["password"]


def test_secrets_never_reach_diff_lines() -> None:
    """Diff lines of a comparison with `redact` configured show *** instead of values."""
    options = ShadowConfig(route="celery", redact=("password",))
    result = compare(order(), order("other-" + SECRET), options)
    assert ("$.user.password: *** != ***",) == result.diffs[:1]
    assert not any(SECRET in line for line in result.diffs)
    whole = compare([order()], [tuple(order().items())], options)
    assert not any(SECRET in line for line in whole.diffs)


def test_redact_scrubs_diff_lines_made_without_redaction() -> None:
    """The runner redacts diff lines again before storing: a `password` path loses its values."""
    lines = compare(order(), order("x"), ShadowConfig(route="celery")).diffs
    assert any(SECRET in line for line in lines)
    scrubbed = redact(lines, ["password"])
    assert ["$.user.password: ***"] == scrubbed[:1]
    assert not any(SECRET in line for line in scrubbed)


def test_error_messages_are_scrubbed() -> None:
    """`Type: message` texts lose the values of redacted keys in their usual spellings."""
    for message in (
        f"ValueError: bad password={SECRET}",
        f"KeyError: {{'password': '{SECRET}', 'user': 'ann'}}",
        f'RuntimeError: {{"password": "{SECRET}"}}',
        f"AuthError: password: {SECRET}",
    ):
        scrubbed = redact(message, ["password"])
        assert isinstance(scrubbed, str)
        assert SECRET not in scrubbed, scrubbed
        assert REDACTED in scrubbed
    both = compare_exceptions(ValueError(f"password={SECRET}"), ValueError("password=other"))
    assert not any(SECRET in line for line in redact(both.diffs, ["password"]))


def test_sample_is_bounded_and_json_safe() -> None:
    """Long lists and strings are cut; tuples, sets, bytes and objects become JSON values."""
    sample = redact(
        {"items": list(range(100)), "text": "x" * 10_000, "t": (1, 2), "s": {3}, "b": b"\x00"},
        [],
    )
    assert MAX_ITEMS + 1 == len(sample["items"])
    assert "… 80 more items" == sample["items"][-1]
    assert MAX_STRING == len(sample["text"])
    assert ([1, 2], [3], "b'\\x00'") == (sample["t"], sample["s"], sample["b"])
    json.dumps(sample, allow_nan=False)


@given(values())
def test_any_value_gives_a_small_json_sample(value: Any) -> None:
    """Whatever the input, the sample is strict JSON and a few kilobytes at most."""
    text = json.dumps(redact(value, ["password"]), allow_nan=False)
    assert len(text) < 50_000


@pytest.mark.parametrize("deep", [10, 1000])
def test_deep_values_are_cut(deep: int) -> None:
    """Very deep nesting ends in a (scrubbed) repr instead of recursing."""
    value: Any = {"password": SECRET}
    for _ in range(deep):
        value = [value]
    text = json.dumps(redact(value, ["password"]))
    assert SECRET not in text


def with_secrets(secret: str) -> st.SearchStrategy[Any]:
    """Nested values with `{"password": secret}` dicts anywhere in them."""
    return st.recursive(
        st.one_of(st.just({"password": secret}), st.integers(), st.text(max_size=5)),
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.lists(children, max_size=4).map(tuple),
            st.dictionaries(st.text(max_size=4), children, max_size=4),
        ),
        max_leaves=30,
    )


@given(with_secrets(SECRET), with_secrets("other-" + SECRET))
def test_secrets_never_leak(primary: Any, candidate: Any) -> None:
    """Whatever the shape, neither a sample nor a diff line (redacted again) holds the secret."""
    assert SECRET not in json.dumps(redact(primary, ["password"]))
    result = compare(primary, candidate, ShadowConfig(route="celery", redact=("password",)))
    assert not any(SECRET in line for line in result.diffs), result.diffs
    assert not any(SECRET in line for line in redact(result.diffs, ["password"]))
