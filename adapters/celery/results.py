"""Await Celery results on the caller's event loop: one pub/sub connection, no thread.

Celery's ``AsyncResult.get()`` blocks the calling thread, and redis-py's synchronous PubSub
is not thread-safe, so neither is usable from a busy event loop. The Redis result backend
already *publishes* every state change on a channel named like the result key
(``celery-task-meta-<task_id>``). We choose the task ids: every id sent by this listener
starts with its own random prefix, so one ``PSUBSCRIBE celery-task-meta-<prefix>.*`` made
once covers every result this process will ever wait for. Per result there is no command at
all: one message arrives, one future resolves.

A message can still be missed (the pub/sub connection dropped while a worker published), so
a sweeper reads the result keys of waits older than a second with one ``MGET`` and removes
consumed keys with ``UNLINK``; results therefore never pile up in Redis either. A result
nobody waits for any more (its call gave up, or a redelivered batch's second run) is
unlinked as it arrives, and :meth:`ResultListener.flush` removes a finished call's keys at
once, so none outlive a process that exits right after its call.

A backend that restarted without persistence lost every result stored in it and, when it
is also the broker, every batch still queued: the listener notes the server's ``run_id``,
and when it changes while results are awaited on a server without an append-only file, it
fails those waits at once with :class:`~ground.errors.InFlightLostError` instead of
letting them run into their deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from adapters import codec
from ground.errors import EngineUnavailableError, InFlightLostError
from ground.logs import get_logger, mask_url

KEY_PREFIX = "celery-task-meta-"
READY_STATES = frozenset({"SUCCESS", "FAILURE", "REVOKED"})
SWEEP_INTERVAL_S = 1.0

log = get_logger("cutover.celery.results", engine="celery")


@dataclass
class _Waiter:
    future: asyncio.Future[dict[str, Any]]
    since: float = field(default_factory=time.monotonic)


class ResultListener:
    """Resolves futures for task ids as their results are published. One per event loop."""

    def __init__(self, backend_url: str, *, ssl: dict[str, Any] | None = None) -> None:
        """``ssl``: redis-py TLS options for a ``rediss://`` backend (certificate, CA file)."""
        self._backend_url = backend_url
        self._redis = aioredis.Redis.from_url(backend_url, **(ssl or {}))
        self._pubsub = self._redis.pubsub()
        self.prefix = uuid.uuid4().hex[:16]
        self._waiters: dict[str, _Waiter] = {}
        self._consumed: list[str] = []
        self._background: list[asyncio.Task[None]] = []
        self._run_id: str | None = None
        self._connection_trouble = False  # a read or sweep failed since the last run_id check
        # One command at a time on the (non pub/sub) client: concurrent flushes of many calls
        # would each take a pooled connection, and the pool would keep them all.
        self._io_lock = asyncio.Lock()

    async def start(self) -> None:
        """Subscribe once; raises ``EngineUnavailableError`` if the backend is unreachable."""
        try:
            await self._pubsub.psubscribe(f"{KEY_PREFIX}{self.prefix}.*")
        except (RedisError, OSError) as exc:
            await self._redis.aclose()
            raise EngineUnavailableError(
                f"the Celery result backend {mask_url(self._backend_url)} is unreachable: {exc}"
            ) from exc
        self._run_id = await self._server_run_id()
        self._background = [
            asyncio.create_task(self._read_forever(), name="cutover-celery-results"),
            asyncio.create_task(self._sweep_forever(), name="cutover-celery-sweeper"),
        ]

    def new_task_id(self) -> str:
        """A task id this listener's subscription covers."""
        return f"{self.prefix}.{uuid.uuid4().hex}"

    def expect(self, task_id: str) -> asyncio.Future[dict[str, Any]]:
        """A future for the ready meta of ``task_id``. Call before the task is sent."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters[task_id] = _Waiter(future)
        return future

    def forget(self, task_id: str) -> None:
        """Stop waiting for ``task_id`` (its call failed or timed out)."""
        waiter = self._waiters.pop(task_id, None)
        if waiter is not None and not waiter.future.done():
            waiter.future.cancel()
        self._consumed.append(task_id)

    async def flush(self) -> None:
        """Remove the result keys consumed so far now (a call just finished), not at the next
        sweep: a process that exits right after its call leaves nothing behind."""
        try:
            async with self._io_lock:
                await self._unlink_consumed()
        except (RedisError, OSError) as exc:
            log.warning("result_cleanup_failed", error=str(exc))

    @property
    def pending(self) -> int:
        """How many results are awaited."""
        return len(self._waiters)

    async def close(self) -> None:
        """Cancel background tasks and waiters, release the connections."""
        for task in self._background:
            task.cancel()
        for task in self._background:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for waiter in self._waiters.values():
            waiter.future.cancel()
        self._waiters.clear()
        with contextlib.suppress(RedisError, OSError):
            await self._unlink_consumed()
        await self._pubsub.aclose()
        await self._redis.aclose()

    def _deliver(self, key: str, raw: bytes | str) -> None:
        task_id = key[len(KEY_PREFIX) :]
        waiter = self._waiters.get(task_id)
        if waiter is None:
            # Nobody waits (its call gave up, or this is a redelivered batch's second run):
            # never delivered twice, and its key is removed at the next sweep.
            self._consumed.append(task_id)
            return
        meta = codec.loads(raw)
        if meta.get("status") not in READY_STATES:
            return  # RETRY / STARTED: keep waiting for the final state
        del self._waiters[task_id]
        self._consumed.append(task_id)
        if not waiter.future.done():
            waiter.future.set_result(meta)

    async def _read_forever(self) -> None:
        backoff = 0.1
        while True:
            try:
                message = await self._pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=None
                )
                backoff = 0.1
            except (RedisError, OSError) as exc:
                self._connection_trouble = True
                log.warning("result_listener_disconnected", error=str(exc), retry_in_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if message is None or message.get("type") != "pmessage":
                continue
            channel = message["channel"]
            key = channel.decode() if isinstance(channel, bytes) else channel
            try:
                self._deliver(key, message["data"])
            except Exception:
                log.exception("result_decode_failed", key=key)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_S)
            try:
                async with self._io_lock:
                    await self._check_restart()
                    await self._sweep_once()
            except (RedisError, OSError) as exc:
                self._connection_trouble = True
                log.warning("result_sweep_failed", error=str(exc))
            except Exception:
                log.exception("result_sweep_crashed")

    async def _sweep_once(self) -> None:
        await self._unlink_consumed()
        cutoff = time.monotonic() - SWEEP_INTERVAL_S
        stale = [task_id for task_id, w in self._waiters.items() if w.since < cutoff]
        if not stale:
            return
        keys = [f"{KEY_PREFIX}{task_id}" for task_id in stale]
        for key, raw in zip(keys, await self._redis.mget(keys), strict=True):
            if raw is not None:
                self._deliver(key, raw)

    async def _server_run_id(self) -> str | None:
        """The backend server's ``run_id`` (new at every start); ``None`` if INFO is refused."""
        try:
            info = await self._redis.info("server")
        except ResponseError:  # INFO renamed away (some managed Redis): no restart detection
            return None
        run_id = info.get("run_id")
        return str(run_id) if run_id else None

    async def _check_restart(self) -> None:
        """After connection trouble: did the backend restart, and lose what was in flight?"""
        if not self._connection_trouble or self._run_id is None:
            return
        run_id = await self._server_run_id()
        self._connection_trouble = False
        if run_id is None or run_id == self._run_id:
            return
        self._run_id = run_id
        persistence = await self._redis.info("persistence")
        durable = int(persistence.get("aof_enabled") or 0) == 1
        where = mask_url(self._backend_url)
        if durable:
            log.warning("result_backend_restarted", backend=where, aof=True, pending=self.pending)
            return
        lost = [task_id for task_id, w in self._waiters.items() if not w.future.done()]
        log.error("result_backend_lost_in_flight", backend=where, aof=False, pending=len(lost))
        for task_id in lost:
            waiter = self._waiters.pop(task_id)
            waiter.future.set_exception(
                InFlightLostError(
                    f"the Redis at {where} restarted without persistence (no append-only "
                    "file) while this batch was in flight: its result, and its message if "
                    "that Redis is also the broker, are gone. It was not re-sent; turn on "
                    "appendonly (appendfsync everysec or always) on that Redis"
                )
            )

    async def _unlink_consumed(self) -> None:
        if not self._consumed:
            return
        consumed, self._consumed = self._consumed, []
        await self._redis.unlink(*(f"{KEY_PREFIX}{task_id}" for task_id in consumed))


__all__ = ["KEY_PREFIX", "READY_STATES", "ResultListener"]
