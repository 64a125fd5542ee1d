"""The FlagStore contract, run against every store (file and Redis), plus each one's specifics."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis

from cutover.errors import (
    ConfigurationError,
    FlagConflictError,
    FlagStoreError,
    FlagValidationError,
)
from flags import keys
from flags.model import DEFAULT_RECORD, FlagRecord, ShadowConfig
from flags.store import GLOBAL, FlagStore, diff
from flags.stores import open_store
from flags.stores.file_store import FileFlagStore, path_from_url
from flags.stores.redis_store import RedisFlagStore
from tests.flags.services import REDIS_URL

ACTOR = "alice@ops-1"


def _set(store: FlagStore, worker: str, reason: str = "test", **changes: object) -> FlagRecord:
    _old, new = store.update(
        worker, lambda current: current.changed(**changes), actor=ACTOR, reason=reason
    )
    return new


# --- reading and writing ------------------------------------------------------------------------


def test_an_unknown_worker_reads_as_the_defaults(store: FlagStore) -> None:
    """get() of a worker never written is the default record, version 0."""
    assert DEFAULT_RECORD == store.get("never-written")
    assert [] == store.list_workers()


def test_a_write_is_read_back_with_its_bookkeeping(store: FlagStore) -> None:
    """put() stores the record with version + 1, time, actor and reason; get() returns it."""
    before = datetime.now(UTC).replace(microsecond=0)  # updated_at has millisecond precision
    written = store.put(
        "billing",
        FlagRecord(route="celery", percent=25, shadow=ShadowConfig(route="ray", sample=0.1)),
        expected_version=0,
        actor=ACTOR,
        reason="start the cutover",
    )
    assert written == store.get("billing")
    assert (1, ACTOR, "start the cutover") == (
        written.version,
        written.updated_by,
        written.reason,
    )
    assert written.updated_at is not None
    assert before <= datetime.fromisoformat(written.updated_at) <= datetime.now(UTC)
    assert ["billing"] == store.list_workers()
    assert ["billing"] == sorted(store.snapshot().records)


def test_versions_increment_on_every_change(store: FlagStore) -> None:
    """Each write bumps the version by one."""
    versions = [_set(store, "w", percent=p).version for p in (10, 20, 30)]
    assert [1, 2, 3] == versions


# --- refusals write nothing ---------------------------------------------------------------------


def test_an_invalid_change_is_refused_and_nothing_is_written(store: FlagStore) -> None:
    """A change that fails validation raises FlagValidationError; store and audit stay empty."""
    with pytest.raises(FlagValidationError) as caught:
        _set(store, "billing", percent=130)
    assert ("percent", 130) == (caught.value.field, caught.value.value)
    with pytest.raises(FlagValidationError) as caught:
        store.update(
            "billing",
            lambda current: FlagRecord.from_dict({**current.to_dict(), "shadow": {"sample": -1}}),
            actor=ACTOR,
            reason="bad",
        )
    assert "shadow.route" == caught.value.field
    assert [] == store.list_workers()
    assert [] == store.history("billing")
    assert [] == store.history(None)


@pytest.mark.parametrize(("actor", "reason", "field"), [(ACTOR, "", "reason"), (" ", "x", "actor")])
def test_a_change_without_reason_or_actor_is_refused(
    store: FlagStore, actor: str, reason: str, field: str
) -> None:
    """Every change must be attributable: an empty reason or actor is refused, nothing written."""
    with pytest.raises(FlagValidationError) as caught:
        store.put("billing", FlagRecord(), expected_version=0, actor=actor, reason=reason)
    assert field == caught.value.field
    with pytest.raises(FlagValidationError):
        store.set_global_kill(True, actor=actor, reason=reason)
    assert [] == store.list_workers()
    assert [] == store.history(None)
    assert store.get_global_kill() is False


def test_an_invalid_worker_id_is_refused_before_anything_is_written(store: FlagStore) -> None:
    """A worker id with a space is refused by name; the store stays empty."""
    with pytest.raises(FlagValidationError) as caught:
        store.put("two words", FlagRecord(), expected_version=0, actor=ACTOR, reason="x")
    assert "worker" == caught.value.field
    assert [] == store.list_workers()


# --- compare-and-set ------------------------------------------------------------------------------


def test_the_second_of_two_writers_on_the_same_version_loses(store_url: str) -> None:
    """Two operators read version 0; the first write wins, the second gets FlagConflictError."""
    alice, bob = open_store(store_url), open_store(store_url)
    try:
        seen_by_alice, seen_by_bob = alice.get("billing"), bob.get("billing")
        alice.put(
            "billing",
            seen_by_alice.changed(route="celery"),
            expected_version=seen_by_alice.version,
            actor="alice",
            reason="move to celery",
        )
        with pytest.raises(FlagConflictError, match="expected version 0, the store has version 1"):
            bob.put(
                "billing",
                seen_by_bob.changed(route="ray"),
                expected_version=seen_by_bob.version,
                actor="bob",
                reason="move to ray",
            )
        stored = bob.get("billing")
        assert ("celery", "alice", 1) == (stored.route, stored.updated_by, stored.version)
        assert ["alice"] == [entry.actor for entry in bob.history("billing")]
    finally:
        alice.close()
        bob.close()


def test_of_many_simultaneous_writers_exactly_one_wins(store_url: str) -> None:
    """Eight threads, each with its own store, write on version 0 at once: one wins."""
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def write(n: int) -> None:
        own = open_store(store_url)
        try:
            barrier.wait()
            own.put(
                "billing",
                FlagRecord(priority=n),
                expected_version=0,
                actor=f"op{n}",
                reason="race",
            )
            outcomes.append("won")
        except FlagConflictError:
            outcomes.append("lost")
        finally:
            own.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (1, 7) == (outcomes.count("won"), outcomes.count("lost"))
    winner = open_store(store_url).get("billing")
    assert 1 == winner.version
    assert f"op{winner.priority}" == winner.updated_by


def test_concurrent_read_modify_writes_lose_no_update(store_url: str) -> None:
    """Four writers each add 1 to retries.max five times: the result is exactly 20."""

    def bump() -> None:
        own = open_store(store_url)
        try:
            for _ in range(5):
                while True:
                    try:
                        own.update(
                            "billing",
                            lambda r: r.changed(retries=r.retries.__class__(max=r.retries.max + 1)),
                            actor="bumper",
                            reason="count",
                        )
                        break
                    except FlagConflictError:
                        continue
        finally:
            own.close()

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    store = open_store(store_url)
    assert (20, 20) == (store.get("billing").retries.max, store.get("billing").version)
    assert list(range(1, 21)) == [entry.version for entry in store.history("billing")]


def test_update_with_a_stale_expected_version_is_refused(store: FlagStore) -> None:
    """update(expected_version=V) refuses when the stored version is not V, writing nothing."""
    _set(store, "billing", route="celery")
    with pytest.raises(FlagConflictError):
        store.update(
            "billing",
            lambda r: r.changed(route="ray"),
            actor=ACTOR,
            reason="x",
            expected_version=0,
        )
    assert "celery" == store.get("billing").route


# --- the audit trail ----------------------------------------------------------------------------


def test_every_change_is_audited_with_who_when_why_and_old_to_new(store: FlagStore) -> None:
    """history() lists each change: actor, time, reason, action, version, old and new."""
    first = _set(store, "billing", reason="start", route="celery", percent=10)
    _old, second = store.update(
        "billing", lambda r: r.changed(kill=True), actor="bob@ops-2", reason="errors", action="kill"
    )
    _set(store, "other", reason="unrelated", route="ray")
    history = store.history("billing")
    assert [("set", ACTOR, "start", 1), ("kill", "bob@ops-2", "errors", 2)] == [
        (e.action, e.actor, e.reason, e.version) for e in history
    ]
    assert history[0].old is None
    assert first.to_dict() == history[0].new
    assert first.to_dict() == history[1].old
    assert second.to_dict() == history[1].new
    assert {"kill": (False, True)} == history[1].changes()
    assert {"percent": (100.0, 10.0), "route": ("legacy", "celery")} == history[0].changes()
    for entry in history:
        assert abs((datetime.now(UTC) - datetime.fromisoformat(entry.at)).total_seconds()) < 60
    assert ["billing", "billing", "other"] == [e.worker for e in store.history(None)]
    assert 1 == len(store.history("billing", limit=1))
    assert "kill" == store.history("billing", limit=1)[0].action


def test_adding_or_removing_a_shadow_shows_only_what_it_set() -> None:
    """Turning a shadow on lists its route, sample and non-default thresholds; turning it off
    lists the same fields going to nothing, not "back" to defaults the flags no longer hold."""
    shadowed = FlagRecord(
        shadow=ShadowConfig(route="ray", sample=1.0, max_candidate_p95_ratio=2.0)
    ).to_dict()
    plain = FlagRecord().to_dict()
    expected = {
        "shadow.max_candidate_p95_ratio": (2.0, None),
        "shadow.route": ("ray", None),
        "shadow.sample": (1.0, None),
    }
    assert expected == diff(shadowed, plain)
    assert {path: (new, old) for path, (old, new) in expected.items()} == diff(plain, shadowed)
    # A worker's first write, with a shadow, lists the same (it was listing every threshold).
    first_write = {path: (new, old) for path, (old, new) in expected.items()}
    assert first_write == diff(None, shadowed)


def test_promote_and_rollback_are_audited_under_their_own_actions(store: FlagStore) -> None:
    """Every store keeps the ``promote`` / ``rollback`` action of the rollout commands."""
    store.update(
        "w", lambda r: r.changed(route="celery", percent=5), actor="a", reason="up",
        action="promote",
    )  # fmt: skip
    store.update("w", lambda r: r.changed(percent=0), actor="g", reason="down", action="rollback")
    assert [("promote", "a"), ("rollback", "g")] == [
        (entry.action, entry.actor) for entry in store.history("w")
    ]


def test_the_global_kill_switch_is_stored_and_audited(store: FlagStore) -> None:
    """set_global_kill flips the switch and appends a global-kill entry to the global history."""
    assert store.get_global_kill() is False
    store.set_global_kill(True, actor=ACTOR, reason="incident 42")
    assert store.get_global_kill() is True
    assert store.snapshot().global_kill is True
    store.set_global_kill(False, actor="bob", reason="resolved")
    assert store.get_global_kill() is False
    entries = store.history(None)
    assert [
        (GLOBAL, "global-kill", ACTOR, "incident 42"),
        (GLOBAL, "global-unkill", "bob", "resolved"),
    ] == [(e.worker, e.action, e.actor, e.reason) for e in entries]
    assert {"kill": (True, False)} == entries[1].changes()


# --- watching -----------------------------------------------------------------------------------


def test_watch_calls_back_once_established_and_after_each_change(store: FlagStore) -> None:
    """watch() calls on_change at once, then after a write, and returns when stopped."""
    calls: list[float] = []
    stop = threading.Event()
    watcher = threading.Thread(target=store.watch, args=(lambda: calls.append(time.time()), stop))
    watcher.start()
    try:
        deadline = time.monotonic() + 5
        while not calls and time.monotonic() < deadline:
            time.sleep(0.01)
        assert 1 == len(calls)
        written_at = time.time()
        _set(store, "billing", route="celery")
        while len(calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert 2 == len(calls)
        assert calls[1] - written_at < 1.0
    finally:
        stop.set()
        watcher.join(timeout=5)
    assert not watcher.is_alive()


# --- choosing a store by URL --------------------------------------------------------------------


def test_open_store_picks_the_implementation_by_scheme(
    monkeypatch: pytest.MonkeyPatch, cutover_home: Path
) -> None:
    """No URL: the file store in CUTOVER_HOME; CUTOVER_FLAGS_URL and redis(s):// pick Redis."""
    default = open_store()
    assert isinstance(default, FileFlagStore)
    assert cutover_home / "flags.json" == default.path
    monkeypatch.setenv("CUTOVER_FLAGS_URL", REDIS_URL)
    assert isinstance(open_store(), RedisFlagStore)
    assert isinstance(open_store("rediss://example.invalid:6380/0"), RedisFlagStore)
    assert isinstance(open_store("file:///tmp/x.json"), FileFlagStore)


def test_an_unknown_scheme_is_a_configuration_error_without_the_password() -> None:
    """A typo in the URL scheme is refused clearly, and the password is masked."""
    with pytest.raises(ConfigurationError, match="unknown scheme 'reddis'") as caught:
        open_store("reddis://:hunter2@localhost:6379/0")
    assert "hunter2" not in str(caught.value)


def test_file_urls_map_to_paths(cutover_home: Path) -> None:
    """file:// alone is the default file; file:///abs and file://localhost/abs are paths."""
    assert cutover_home / "flags.json" == path_from_url("file://")
    assert Path("/srv/flags.json") == path_from_url("file:///srv/flags.json")
    assert Path("/srv/flags.json") == path_from_url("file://localhost/srv/flags.json")


# --- Redis specifics ----------------------------------------------------------------------------


def test_an_unreachable_redis_is_a_store_error_that_hides_the_password() -> None:
    """Reads and writes against a dead port raise FlagStoreError; the password is masked."""
    dead = open_store("redis://:hunter2@127.0.0.1:1/0")
    for attempt in (
        lambda: dead.get("billing"),
        lambda: dead.snapshot(),
        lambda: dead.put("billing", FlagRecord(), expected_version=0, actor="a", reason="b"),
    ):
        with pytest.raises(FlagStoreError) as caught:
            attempt()
        assert "hunter2" not in str(caught.value)
        assert "***" in str(caught.value)


def test_redis_keys_all_live_under_the_one_prefix(redis_url: str) -> None:
    """Every key the Redis store writes starts with flags.keys.PREFIX."""
    store = open_store(redis_url)
    _set(store, "billing", route="celery")
    store.set_global_kill(True, actor=ACTOR, reason="x")
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    written = sorted(client.keys("*"))
    assert written
    assert all(key.startswith(keys.PREFIX) for key in written)
    assert keys.worker_audit_stream("billing") in written


def test_a_corrupt_redis_record_is_reported_not_loaded(redis_url: str) -> None:
    """A hand-edited invalid record: snapshot() leaves it out and names it; get() refuses it."""
    store = open_store(redis_url)
    _set(store, "good", route="celery")
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.hset(keys.RECORDS_KEY, "bad", json.dumps({"route": "kafka"}))
    snapshot = store.snapshot()
    assert ["good"] == sorted(snapshot.records)
    assert "kafka" in snapshot.problems["bad"]
    with pytest.raises(FlagStoreError, match="invalid"):
        store.get("bad")


# --- file specifics -----------------------------------------------------------------------------


def test_the_file_store_writes_atomically_and_audits_in_json_lines(file_url: str) -> None:
    """After writes: one valid JSON file, no temporary files left, one audit line per change."""
    store = open_store(file_url)
    assert isinstance(store, FileFlagStore)
    _set(store, "billing", route="celery")
    _set(store, "billing", percent=50)
    document = json.loads(store.path.read_text())
    assert 2 == document["revision"]
    assert "celery" == document["workers"]["billing"]["route"]
    assert [] == [p.name for p in store.path.parent.iterdir() if p.name.endswith(".tmp")]
    lines = store.audit_path.read_text().splitlines()
    assert [1, 2] == [json.loads(line)["version"] for line in lines]
    assert store.audit_path.name == "flags.audit.jsonl"


def test_a_corrupt_flag_file_is_a_store_error(file_url: str) -> None:
    """A flag file that is not JSON is reported as FlagStoreError, never half-read."""
    store = open_store(file_url)
    assert isinstance(store, FileFlagStore)
    store.path.parent.mkdir(parents=True, exist_ok=True)
    store.path.write_text("{not json")
    with pytest.raises(FlagStoreError, match="not valid JSON"):
        store.snapshot()
    with pytest.raises(FlagStoreError):
        _set(store, "billing", route="celery")
    assert "{not json" == store.path.read_text()
