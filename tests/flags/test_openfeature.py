"""The OpenFeature provider: the same decisions through a standard client, standard reasons."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

pytest.importorskip(
    "openfeature",
    reason="openfeature-sdk is not installed (pip install 'cutover[openfeature]')",
)

from openfeature import api
from openfeature.client import OpenFeatureClient
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason

from flags import FlagRecord, FlagTable, open_store
from flags.openfeature_provider import CutoverProvider

WORKER = "billing"


@pytest.fixture
def client_for() -> Iterator[Callable[[FlagTable], OpenFeatureClient]]:
    """A client whose provider answers from the given table; providers cleared afterwards."""

    def make(table: FlagTable) -> OpenFeatureClient:
        api.set_provider(CutoverProvider(table))
        return api.get_client()

    yield make
    api.clear_providers()


def _context(key: str | None = None, **attributes: object) -> EvaluationContext:
    return EvaluationContext(targeting_key=key, attributes=attributes)  # type: ignore[arg-type]


def test_a_route_resolves_to_its_engine_with_reason_static(
    client_for: Callable[[FlagTable], OpenFeatureClient],
) -> None:
    """Percent 100 on celery: value and variant 'celery', reason STATIC, version in metadata."""
    client = client_for(FlagTable.static({WORKER: FlagRecord(route="celery", version=4)}))
    details = client.get_string_details(WORKER, "legacy", _context())
    assert ("celery", "celery", Reason.STATIC) == (details.value, details.variant, details.reason)
    assert (4, "route") == (
        details.flag_metadata["flag_version"],
        details.flag_metadata["cutover_reason"],
    )


def test_a_percentage_rollout_is_a_split_sticky_by_targeting_key(
    client_for: Callable[[FlagTable], OpenFeatureClient],
) -> None:
    """Percent 50: reason SPLIT; the targeting key is the routing key, so answers are sticky."""
    client = client_for(FlagTable.static({WORKER: FlagRecord(route="ray", percent=50)}))
    answers = {
        key: client.get_string_details(WORKER, "legacy", _context(key))
        for key in map(str, range(100))
    }
    assert {Reason.SPLIT} == {d.reason for d in answers.values()}
    assert {"ray", "legacy"} == {d.value for d in answers.values()}
    assert all(
        answers[key].value == client.get_string_value(WORKER, "legacy", _context(key))
        for key in answers
    )


def test_hybrid_is_a_targeting_match_on_the_n_items_attribute(
    client_for: Callable[[FlagTable], OpenFeatureClient],
) -> None:
    """Hybrid: the n_items attribute picks small or large; reason TARGETING_MATCH."""
    client = client_for(FlagTable.static({WORKER: FlagRecord(route="hybrid")}))
    small = client.get_string_details(WORKER, "legacy", _context(n_items=5))
    large = client.get_string_details(WORKER, "legacy", _context(n_items=500))
    assert ("celery", "ray") == (small.value, large.value)
    assert {Reason.TARGETING_MATCH} == {small.reason, large.reason}


def test_a_stale_table_answers_cached(
    client_for: Callable[[FlagTable], OpenFeatureClient],
) -> None:
    """A table that cannot reach its store: the answer comes with reason CACHED."""
    table = FlagTable("redis://127.0.0.1:1/0", watch=False)
    client = client_for(table)
    details = client.get_string_details(WORKER, "ray", _context())
    assert ("legacy", Reason.CACHED) == (details.value, details.reason)
    assert details.flag_metadata["stale"] is True


@pytest.mark.parametrize(
    ("flag_key", "context", "error_code"),
    [
        ("two words", _context(), ErrorCode.FLAG_NOT_FOUND),
        (WORKER, _context(n_items="many"), ErrorCode.INVALID_CONTEXT),
    ],
)
def test_a_request_that_cannot_be_evaluated_is_an_error_with_the_default(
    client_for: Callable[[FlagTable], OpenFeatureClient],
    flag_key: str,
    context: EvaluationContext,
    error_code: ErrorCode,
) -> None:
    """A bad worker id or a bad n_items: the caller's default, reason ERROR, an error code."""
    client = client_for(FlagTable.static({WORKER: FlagRecord(route="celery")}))
    details = client.get_string_details(flag_key, "the-default", context)
    assert ("the-default", Reason.ERROR, error_code) == (
        details.value,
        details.reason,
        details.error_code,
    )


def test_a_boolean_request_is_a_type_mismatch(
    client_for: Callable[[FlagTable], OpenFeatureClient],
) -> None:
    """Routes are string flags: asking for a boolean returns the default with TYPE_MISMATCH."""
    client = client_for(FlagTable.static())
    details = client.get_boolean_details(WORKER, True, _context())
    assert (True, ErrorCode.TYPE_MISMATCH) == (details.value, details.error_code)


def test_an_object_request_returns_the_whole_decision_from_a_live_store(
    client_for: Callable[[FlagTable], OpenFeatureClient], file_url: str
) -> None:
    """End to end over the file store: the object flag is the decision as a dict."""
    store = open_store(file_url)
    store.put(WORKER, FlagRecord(route="celery"), expected_version=0, actor="a", reason="b")
    table = FlagTable(file_url)
    try:
        value = client_for(table).get_object_value(WORKER, {}, _context())
    finally:
        table.close()
    assert {
        "engine": "celery",
        "route": "celery",
        "reason": "route",
        "flag_version": 1,
        "stale": False,
    } == value
