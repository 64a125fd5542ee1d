"""Shadow records in Redis, beside the flags: one capped stream per worker.

``cutover:shadow:<worker>`` is a stream of records (field ``record``: the JSON of
:meth:`ShadowRecord.to_dict`), trimmed to about :data:`STREAM_MAXLEN` entries on every write
(``XADD MAXLEN ~``); ``cutover:shadow-workers`` is the set of workers that have one. A batch
is one pipelined round trip. Errors of redis-py are translated here: a failed write is the
buffered writer's business (counted, logged once), a failed read is a
:class:`~ground.errors.FlagStoreError` naming the URL with its password masked.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from typing import Any, Final, cast

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from compat.shadow.recorders.base import DEFAULT_READ_LIMIT, BufferedRecorder
from compat.shadow.records import ShadowRecord
from ground.constants import SHADOW_STREAM_PREFIX, SHADOW_WORKERS_KEY
from ground.errors import ConfigurationError, CutoverError, FlagStoreError
from ground.logs import mask_url

STREAM_PREFIX: Final = SHADOW_STREAM_PREFIX
"""The prefix of every worker's stream (``STREAM_PREFIX + worker``)."""
WORKERS_KEY: Final = SHADOW_WORKERS_KEY
"""Set: the workers that have a stream (outside the prefix, so no worker id can clash)."""
STREAM_MAXLEN: Final = 100_000
"""Approximate length a worker's stream is trimmed to."""
RECORD_FIELD: Final = "record"
CONNECT_TIMEOUT_S: Final = 1.0
SOCKET_TIMEOUT_S: Final = 2.0


def stream_key(worker: str) -> str:
    """The stream holding ``worker``'s records."""
    return STREAM_PREFIX + worker


class RedisShadowRecorder(BufferedRecorder):
    """Records in a capped Redis stream per worker (``redis://`` and ``rediss://``)."""

    def __init__(self, url: str, *, maxlen: int = STREAM_MAXLEN, **options: Any) -> None:
        super().__init__(**options)
        self.url = url
        self.maxlen = maxlen
        self.description = f"shadow records at {mask_url(url)}"
        try:
            self._client: redis.Redis = redis.Redis.from_url(
                url,
                decode_responses=True,
                socket_connect_timeout=CONNECT_TIMEOUT_S,
                socket_timeout=SOCKET_TIMEOUT_S,
                retry=Retry(NoBackoff(), 0),  # the writer retries; a read fails fast
                client_name="cutover-shadow",
            )
        except ValueError as exc:
            raise ConfigurationError(f"shadow records URL {mask_url(url)!r}: {exc}") from exc

    def _write_batch(self, records: Sequence[ShadowRecord]) -> None:
        pipe = self._client.pipeline(transaction=False)
        for worker in sorted({record.worker for record in records}):
            pipe.sadd(WORKERS_KEY, worker)
        for record in records:
            payload = json.dumps(record.to_dict(), separators=(",", ":"), default=repr)
            pipe.xadd(
                stream_key(record.worker),
                {RECORD_FIELD: payload},
                maxlen=self.maxlen,
                approximate=True,
            )
        pipe.execute()

    def _release(self) -> None:
        self._client.close()

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except (redis.RedisError, OSError) as exc:
            raise FlagStoreError(f"{self.description}: failed while {doing}: {exc}") from exc

    def workers(self) -> list[str]:
        """Every worker with a stream, sorted."""
        with self._errors("listing workers"):
            members = cast(set[str], self._client.smembers(WORKERS_KEY))
        return sorted(members)

    def read(
        self, worker: str | None = None, limit: int = DEFAULT_READ_LIMIT
    ) -> list[ShadowRecord]:
        """The newest ``limit`` records of ``worker`` (each worker if ``None``), oldest first.

        Entries that do not parse are skipped.
        """
        if limit <= 0:
            return []
        names = [worker] if worker is not None else self.workers()
        records: list[ShadowRecord] = []
        for name in names:
            with self._errors(f"reading the records of {name!r}"):
                rows = cast(list[Any], self._client.xrevrange(stream_key(name), count=limit))
            for _id, fields in reversed(rows or []):
                with contextlib.suppress(ValueError, TypeError, KeyError, CutoverError):
                    records.append(ShadowRecord.from_dict(json.loads(fields[RECORD_FIELD])))
        return records

    def stream_length(self, worker: str) -> int:
        """How many entries ``worker``'s stream holds right now."""
        with self._errors(f"measuring the stream of {worker!r}"):
            return int(self._client.xlen(stream_key(worker)))

    def delete(self, worker: str | None = None) -> None:
        """Delete the records of ``worker`` (of every worker when ``None``)."""
        names = [worker] if worker is not None else self.workers()
        with self._errors("deleting records"):
            pipe = self._client.pipeline(transaction=False)
            for name in names:
                pipe.delete(stream_key(name))
                pipe.srem(WORKERS_KEY, name)
            pipe.execute()


__all__ = [
    "RECORD_FIELD",
    "STREAM_MAXLEN",
    "STREAM_PREFIX",
    "WORKERS_KEY",
    "RedisShadowRecorder",
    "stream_key",
]
