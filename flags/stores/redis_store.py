"""Flags in Redis (``redis://`` and ``rediss://``): shared by every machine of a deployment.

Layout (names in :mod:`flags.keys`): one hash of worker id -> record JSON, a global kill
key, a revision counter, an audit stream per worker plus a global one, and a pub/sub
channel. A write is one Lua script, so checking the version, storing, appending to both
audit streams and publishing the change happen atomically: two operators cannot silently
overwrite each other, and no change goes unaudited or unannounced.

Errors of redis-py are translated into :class:`~ground.errors.FlagStoreError` here, at the
boundary; messages carry the URL with its password masked.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, cast

import redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.retry import Retry

from flags import keys
from flags.model import FlagRecord
from flags.store import (
    GLOBAL,
    Action,
    AuditEntry,
    FlagSnapshot,
    FlagStore,
    conflict,
    parse_all,
    parse_stored_record,
)
from ground.errors import FlagStoreError

CONNECT_TIMEOUT_S = 1.0
WATCH_CONNECT_TIMEOUT_S = 0.4
"""A watcher reconnecting through a silent partition tries this often: measured on a
healed partition, a change made during it reached the worker ~1.2 s after the heal with a
1 s connect timeout (an attempt begun just before the heal waits out its lost SYN)."""
SOCKET_TIMEOUT_S = 2.0
POLL_TIMEOUT_S = 0.2
"""How long a watcher blocks for a message before it looks at its stop event again."""
REVISION_CHECK_S = 2.0
"""How often a watcher compares the revision counter, in case a message was lost."""

# KEYS: records hash, revision, worker audit stream, global audit stream
# ARGV: worker, expected version, new record JSON, channel, maxlen, audit field/value pairs...
_PUT_SCRIPT = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
local version = 0
if current then
    local ok, decoded = pcall(cjson.decode, current)
    if ok and type(decoded) == 'table' and type(decoded['version']) == 'number' then
        version = decoded['version']
    end
end
if version ~= tonumber(ARGV[2]) then
    return {0, version}
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
local revision = redis.call('INCR', KEYS[2])
local fields = {'old', current or 'null'}
for i = 6, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', unpack(fields))
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[5], '*', unpack(fields))
redis.call('PUBLISH', ARGV[4], cjson.encode({worker = ARGV[1], revision = revision}))
return {1, revision}
"""

# KEYS: global kill key, revision, global audit stream
# ARGV: new JSON, channel, maxlen, audit field/value pairs...
_GLOBAL_KILL_SCRIPT = """
local current = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1])
local revision = redis.call('INCR', KEYS[2])
local fields = {'old', current or 'null', 'version', tostring(revision)}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', unpack(fields))
redis.call('PUBLISH', ARGV[2], cjson.encode({worker = '*', revision = revision}))
return revision
"""


class RedisFlagStore(FlagStore):
    """Flags in Redis, with compare-and-set writes, audit streams and change notifications."""

    scheme = "redis"

    def __init__(self, url: str) -> None:
        super().__init__(url)
        try:
            self._client = self._connect(retries=1)
        except ValueError as exc:  # a malformed URL
            raise FlagStoreError(f"flag store URL {self.display_url!r}: {exc}") from exc
        self._put = self._client.register_script(_PUT_SCRIPT)
        self._set_global_kill = self._client.register_script(_GLOBAL_KILL_SCRIPT)

    def _connect(
        self, *, retries: int, connect_timeout_s: float = CONNECT_TIMEOUT_S
    ) -> redis.Redis:
        retry = (
            Retry(ExponentialBackoff(cap=0.2, base=0.05), retries)
            if retries
            else Retry(NoBackoff(), 0)
        )
        return redis.Redis.from_url(
            self.url,
            decode_responses=True,
            socket_connect_timeout=connect_timeout_s,
            socket_timeout=SOCKET_TIMEOUT_S,
            retry=retry,
            health_check_interval=5,
            client_name="cutover-flags",
        )

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Translate redis-py's errors into FlagStoreError at this boundary."""
        try:
            yield
        except redis.RedisError as exc:
            raise FlagStoreError(
                f"flag store {self.display_url} failed while {doing}: {exc}"
            ) from exc
        except OSError as exc:
            raise FlagStoreError(
                f"flag store {self.display_url} unreachable while {doing}: {exc}"
            ) from exc

    # --- reading ----------------------------------------------------------------------------

    def snapshot(self) -> FlagSnapshot:
        with self._errors("reading the flags"):
            pipe = self._client.pipeline(transaction=True)
            pipe.hgetall(keys.RECORDS_KEY)
            pipe.get(keys.GLOBAL_KILL_KEY)
            pipe.get(keys.REVISION_KEY)
            raw_records, raw_kill, raw_revision = pipe.execute()
        records, problems = parse_all(raw_records)
        return FlagSnapshot(
            records=records,
            global_kill=_global_kill_of(raw_kill),
            revision=int(raw_revision or 0),
            problems=problems,
        )

    def list_workers(self) -> list[str]:
        with self._errors("listing workers"):
            return sorted(str(name) for name in self._client.hkeys(keys.RECORDS_KEY))

    def get_global_kill(self) -> bool:
        with self._errors("reading the global kill switch"):
            return _global_kill_of(self._client.get(keys.GLOBAL_KILL_KEY))

    def _read_record(self, worker_id: str) -> FlagRecord | None:
        with self._errors(f"reading the flags of {worker_id!r}"):
            raw = self._client.hget(keys.RECORDS_KEY, worker_id)
        if raw is None:
            return None
        try:
            return parse_stored_record(raw)
        except ValueError as exc:
            raise FlagStoreError(
                f"the stored flags of {worker_id!r} in {self.display_url} are invalid: {exc}"
            ) from exc

    def history(self, worker_id: str | None, limit: int = 100) -> list[AuditEntry]:
        stream = keys.AUDIT_STREAM if worker_id is None else keys.worker_audit_stream(worker_id)
        if limit <= 0:
            return []
        with self._errors("reading the flag history"):
            rows: list[Any] = cast(Any, self._client.xrevrange(stream, count=limit)) or []
        entries = []
        for _id, fields in reversed(rows):
            with contextlib.suppress(ValueError, KeyError, TypeError):
                entries.append(AuditEntry.from_dict(fields))
        return entries

    def watch(self, on_change: Callable[[], None], stop: threading.Event) -> None:
        # A lost connection must surface, not be hidden; and be retried soon after a heal.
        client = self._connect(retries=0, connect_timeout_s=WATCH_CONNECT_TIMEOUT_S)
        pubsub = client.pubsub()
        try:
            with self._errors("subscribing to flag changes"):
                pubsub.subscribe(keys.CHANGES_CHANNEL)
                deadline = time.monotonic() + SOCKET_TIMEOUT_S
                while True:  # wait until the server confirms, so no change slips past
                    message = pubsub.get_message(timeout=POLL_TIMEOUT_S)
                    if message is not None and message["type"] == "subscribe":
                        break
                    if time.monotonic() > deadline:
                        raise redis.TimeoutError("no confirmation of SUBSCRIBE")
                seen = self._revision()
            on_change()
            next_check = time.monotonic() + REVISION_CHECK_S
            while not stop.is_set():
                with self._errors("watching flag changes"):
                    message = pubsub.get_message(timeout=POLL_TIMEOUT_S)
                    changed = message is not None and message["type"] == "message"
                    while message is not None:  # coalesce a burst into one reload
                        message = pubsub.get_message(timeout=0.0)
                        changed = changed or (message is not None and message["type"] == "message")
                    if not changed and time.monotonic() >= next_check:
                        next_check = time.monotonic() + REVISION_CHECK_S
                        changed = self._revision() != seen
                    if changed:
                        seen = self._revision()
                if changed:
                    on_change()
        finally:
            with contextlib.suppress(Exception):
                pubsub.close()
            with contextlib.suppress(Exception):
                client.close()

    def _revision(self) -> int:
        return int(self._client.get(keys.REVISION_KEY) or 0)

    # --- writing ----------------------------------------------------------------------------

    def _write_record(
        self, worker_id: str, record: FlagRecord, expected_version: int, action: Action
    ) -> None:
        new = json.dumps(record.to_dict(), sort_keys=True)
        audit = _audit_fields(
            worker=worker_id,
            action=action,
            actor=record.updated_by or "",
            at=record.updated_at or "",
            reason=record.reason or "",
            version=str(record.version),
            new=new,
        )
        with self._errors(f"writing the flags of {worker_id!r}"):
            written, current = self._put(
                keys=[
                    keys.RECORDS_KEY,
                    keys.REVISION_KEY,
                    keys.worker_audit_stream(worker_id),
                    keys.AUDIT_STREAM,
                ],
                args=[
                    worker_id,
                    expected_version,
                    new,
                    keys.CHANGES_CHANNEL,
                    keys.AUDIT_MAXLEN,
                    *audit,
                ],
            )
        if not written:
            raise conflict(worker_id, expected_version, int(current))

    def _write_global_kill(self, kill: bool, entry: dict[str, str]) -> None:
        new = json.dumps(
            {
                "kill": kill,
                "updated_at": entry["at"],
                "updated_by": entry["actor"],
                "reason": entry["reason"],
            },
            sort_keys=True,
        )
        audit = _audit_fields(
            worker=GLOBAL,
            action="global-kill" if kill else "global-unkill",
            actor=entry["actor"],
            at=entry["at"],
            reason=entry["reason"],
            new=new,
        )
        with self._errors("setting the global kill switch"):
            self._set_global_kill(
                keys=[keys.GLOBAL_KILL_KEY, keys.REVISION_KEY, keys.AUDIT_STREAM],
                args=[new, keys.CHANGES_CHANNEL, keys.AUDIT_MAXLEN, *audit],
            )

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._client.close()


def _audit_fields(**fields: str) -> list[str]:
    flat: list[str] = []
    for name, value in fields.items():
        flat += [name, value]
    return flat


def _global_kill_of(raw: Any) -> bool:
    """The global kill switch as stored; an unreadable value counts as on (legacy is safe)."""
    if raw is None:
        return False
    try:
        data = json.loads(raw)
    except ValueError:
        return True
    return not isinstance(data, dict) or data.get("kill") is not False


__all__ = ["RedisFlagStore"]
