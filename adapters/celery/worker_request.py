"""The worker-side request class of cutover's tasks: arguments shown as summaries.

Celery takes a request's ``argsrepr`` from the message's headers, as the sender wrote it
(``celery call`` and plain ``send_task`` write the items' ``repr``), and ``celery inspect
active`` answers with the raw arguments. :class:`SummarizedRequest` recomputes the summary
from the message itself (:func:`adapters.celery.summaries.summarize_args`) and answers
``inspect`` with it, so no item is shown whoever sent the message. Imported by workers only
(the tasks name it by :data:`SUMMARIZED_REQUEST`).
"""

from __future__ import annotations

from typing import Any

from celery.worker.request import Request

from adapters.celery.summaries import SUMMARIZED_REQUEST, summarize, summarize_args


class SummarizedRequest(Request):  # type: ignore[misc]  # celery is untyped
    """Celery's request, whose ``argsrepr`` / ``kwargsrepr`` and ``info()`` are summaries."""

    def __init__(self, message: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(message, *args, **kwargs)
        body = self._body
        self._argsrepr = summarize_args(
            self._args, len(body) if isinstance(body, bytes | str) else None
        )
        self._kwargsrepr = summarize(self._kwargs) if self._kwargs else "{}"
        # What the pool child gets as ``task.request`` (its log lines read it from there).
        self._request_dict["argsrepr"] = self._argsrepr
        self._request_dict["kwargsrepr"] = self._kwargsrepr

    def info(self, safe: bool = False) -> dict[str, Any]:
        """What ``inspect active`` / ``reserved`` / ``scheduled`` answer: summaries only."""
        data: dict[str, Any] = super().info(safe=True)
        return data


__all__ = ["SUMMARIZED_REQUEST", "SummarizedRequest"]
