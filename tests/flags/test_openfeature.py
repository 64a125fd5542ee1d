"""The OpenFeature provider: the same decisions through a standard client, standard reasons."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip(
    "openfeature",
    reason="openfeature-sdk is not installed (pip install 'cutover[openfeature]')",
)

from openfeature import api
from openfeature.client import OpenFeatureClient
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import EventDetails, ProviderEvent
from openfeature.exception import ErrorCode, ProviderFatalError, ProviderNotReadyError
from openfeature.flag_evaluation import Reason
from openfeature.provider import ProviderStatus

from flags import FlagRecord, FlagTable, open_store
from flags.openfeature_provider import CutoverProvider
from tests.support.waiting import until_sync

WORKER = "billing"


@pytest.fixture
def client_for() -> Iterator[Callable[[FlagTable], OpenFeatureClient]]:
    """A client whose provider answers from the given table; providers cleared afterwards."""

    def make(table: FlagTable) -> OpenFeatureClient:
        api.set_provider_and_wait(CutoverProvider(table))
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


def test_a_store_never_read_is_not_ready_not_cached(tmp_path: Path) -> None:
    """Spec 2.4.2.1, 2.2.7: a store that cannot be read, and no snapshot, is nothing cached.
    Initialization fails with PROVIDER_NOT_READY (the SDK's status is ERROR, not READY), and
    an evaluation returns the caller's default with reason ERROR and that code (it was
    reason CACHED under status READY)."""
    table = FlagTable("redis://127.0.0.1:1/0", watch=False, snapshot_path=tmp_path / "none")
    provider = CutoverProvider(table)
    try:
        with pytest.raises(ProviderNotReadyError, match="no flags were ever read"):
            api.set_provider_and_wait(provider)
        client = api.get_client()
        assert ProviderStatus.ERROR == client.get_provider_status()
        details = client.get_string_details(WORKER, "ray", _context())
        assert ("ray", Reason.ERROR, ErrorCode.PROVIDER_NOT_READY) == (
            details.value,
            details.reason,
            details.error_code,
        )
        assert "redis://127.0.0.1:1/0" in (details.error_message or "")
    finally:
        api.clear_providers()
        table.close()


def test_a_worker_without_flags_resolves_with_reason_default(
    client_for: Callable[[FlagTable], OpenFeatureClient],
) -> None:
    """Spec 2.2.5: the built-in default (legacy) of a worker nobody configured is DEFAULT,
    not STATIC; a kill switch is DISABLED."""
    client = client_for(
        FlagTable.static({"killed": FlagRecord(route="celery", kill=True, version=2)})
    )
    details = client.get_string_details(WORKER, "ray", _context())
    assert ("legacy", "legacy", Reason.DEFAULT) == (
        details.value,
        details.variant,
        details.reason,
    )
    assert (None, None) == (details.error_code, details.error_message)  # spec 2.2.6, 2.3.2
    killed = client.get_string_details("killed", "ray", _context())
    assert ("legacy", Reason.DISABLED) == (killed.value, killed.reason)


def test_a_lost_store_makes_the_provider_stale_and_its_return_ready(
    file_url: str, cutover_home: Path
) -> None:
    """Section 5 and the STALE reason, against a live file store: flags read, then the file
    turns unreadable (STALE event and status, answers from the flags last read with reason
    STALE), then it is fixed (READY, and CONFIGURATION_CHANGED naming the changed worker)."""
    store = open_store(file_url)
    store.put(WORKER, FlagRecord(route="celery"), expected_version=0, actor="a", reason="b")
    table = FlagTable(file_url)
    seen: list[tuple[ProviderEvent, list[str] | None]] = []

    def record(event: ProviderEvent) -> Callable[[EventDetails], None]:
        return lambda details: seen.append((event, details.flags_changed))

    handlers = {event: record(event) for event in ProviderEvent}
    for event, handler in handlers.items():
        api.add_handler(event, handler)
    try:
        api.set_provider_and_wait(CutoverProvider(table))
        client = api.get_client()
        assert ProviderStatus.READY == client.get_provider_status()
        path = Path(cutover_home / "flags.json")
        good = path.read_text()
        path.write_text("{ not json")
        until_sync(lambda: table.stale, 10, "the table to notice the unreadable file")
        until_sync(lambda: client.get_provider_status() == ProviderStatus.STALE, 10, "status STALE")
        details = client.get_string_details(WORKER, "ray", _context())
        assert ("celery", Reason.STALE, None) == (
            details.value,
            details.reason,
            details.error_code,
        )
        path.write_text(good)
        store.update(WORKER, lambda r: r.changed(route="ray"), actor="a", reason="c")
        until_sync(lambda: client.get_provider_status() == ProviderStatus.READY, 10, "status READY")
        until_sync(
            lambda: (ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, [WORKER]) in seen,
            10,
            "CONFIGURATION_CHANGED for the worker",
        )
        assert "ray" == client.get_string_value(WORKER, "legacy", _context())
        stale_at = seen.index((ProviderEvent.PROVIDER_STALE, None))
        assert (ProviderEvent.PROVIDER_READY, None) in seen[stale_at:]
    finally:
        for event, handler in handlers.items():
            api.remove_handler(event, handler)
        api.clear_providers()
        table.close()
        store.close()


def test_shutdown_reverts_to_not_ready_and_keeps_the_table(
    client_for: Callable[[FlagTable], OpenFeatureClient], file_url: str
) -> None:
    """Spec 2.5.2: after shutdown the SDK reports NOT_READY; the table (the router's) stays
    usable, and no event reaches the SDK from it any more."""
    table = FlagTable(file_url)
    provider = CutoverProvider(table)
    try:
        api.set_provider_and_wait(provider)
        client = api.get_client()
        assert ProviderStatus.READY == client.get_provider_status()
        api.clear_providers()
        assert ProviderStatus.NOT_READY == api.provider_registry.get_provider_status(provider)
        assert [] == table._listeners
        assert not table.stale
    finally:
        table.close()


def test_a_flag_store_url_that_cannot_be_opened_is_fatal(tmp_path: Path) -> None:
    """Spec 2.4.2.1: an unusable URL (an unknown scheme) is irrecoverable: PROVIDER_FATAL,
    and the SDK answers every evaluation with the default and that code."""
    table = FlagTable("nosuch://flags", watch=False, snapshot_path=tmp_path / "none")
    try:
        with pytest.raises(ProviderFatalError, match="cannot be opened"):
            api.set_provider_and_wait(CutoverProvider(table))
        client = api.get_client()
        assert ProviderStatus.FATAL == client.get_provider_status()
        details = client.get_string_details(WORKER, "ray", _context())
        assert ("ray", ErrorCode.PROVIDER_FATAL) == (details.value, details.error_code)
    finally:
        api.clear_providers()
        table.close()


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
