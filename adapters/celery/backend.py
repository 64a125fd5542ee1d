"""The Redis result backend, minus the per-task subscription on the sending side.

Celery's Redis backend subscribes the *sender* to each task's result channel as the message
is published (``on_task_call``) and unsubscribes when the ``AsyncResult`` is collected: two
round trips and a second pub/sub delivery per message. The engine never uses that consumer:
it awaits every result through one ``PSUBSCRIBE`` (:mod:`adapters.celery.results`). Measured
on 1000 trivial items in batches of 10, dropping it saved about a third of the client's CPU
per message. ``AsyncResult.get()`` still works: Celery subscribes when it starts waiting and
then reads the stored result, so nothing published before that is missed.

Workers store each result with one round trip instead of two: the stock backend first reads
the stored result back (a ``GET`` per batch) so that a duplicate run cannot overwrite a
``SUCCESS``. Our callers resolve a batch on the *first* result published for its task id and
then delete the key, so that read can never find anything a caller still needs; it cost the
worker's child a round trip to Redis per batch.

A successful batch's meta also carries ``execution_s``, the worker's own start -> finish time
of the batch (:data:`adapters.celery.tasks.EXECUTION_S_ATTR`): an additive key that older
callers ignore, from which newer ones split their wait into queue and execution.
"""

from __future__ import annotations

from typing import Any

from celery.backends.base import BackendStoreError
from celery.backends.redis import RedisBackend
from kombu.utils.encoding import bytes_to_str

EXECUTION_S_KEY = "execution_s"
"""The meta key of a batch's worker-measured execution time (seconds)."""
EXECUTION_S_ATTR = "cutover_execution_s"
"""The request attribute :mod:`adapters.celery.tasks` leaves it on until the result is stored."""

# The ``result_backend`` URL prefix that selects this class (Celery's ``module:Class+url``).
BACKEND_PREFIX = "adapters.celery.backend:ListenerRedisBackend+"


class ListenerRedisBackend(RedisBackend):  # type: ignore[misc]
    """A :class:`RedisBackend` whose senders do not subscribe per task."""

    def on_task_call(self, producer: Any, task_id: str) -> None:
        """Do nothing: results are awaited through the engine's one pattern subscription."""

    def _store_result(
        self,
        task_id: str,
        result: Any,
        state: str,
        traceback: Any = None,
        request: Any = None,
        **kwargs: Any,
    ) -> Any:
        """Store and publish the result (``SET`` + ``PUBLISH``), without reading it first."""
        meta = self._get_result_meta(
            result=result, state=state, traceback=traceback, request=request
        )
        meta["task_id"] = bytes_to_str(task_id)  # type: ignore[no-untyped-call]
        execution_s = getattr(request, EXECUTION_S_ATTR, None) if request is not None else None
        if execution_s is not None:
            meta[EXECUTION_S_KEY] = execution_s
        try:
            self._set_with_state(self.get_key_for_task(task_id), self.encode(meta), state)
        except BackendStoreError as exc:
            raise BackendStoreError(str(exc), state=state, task_id=task_id) from exc
        return result


def backend_url(url: str) -> str:
    """The ``result_backend`` setting that selects this backend for a Redis URL."""
    return url if url.startswith(BACKEND_PREFIX) else BACKEND_PREFIX + url


def redis_url(setting: str) -> str:
    """The plain Redis URL inside a ``result_backend`` setting (for our own Redis clients)."""
    return setting.removeprefix(BACKEND_PREFIX)


__all__ = [
    "BACKEND_PREFIX",
    "EXECUTION_S_ATTR",
    "EXECUTION_S_KEY",
    "ListenerRedisBackend",
    "backend_url",
    "redis_url",
]
