"""What Celery's own tools show of a batch: a summary, never the data.

Items and results are production data. Celery shows a task's arguments and result in many
places: ``celery inspect active`` / ``reserved`` / ``scheduled``, the ``task-received`` and
``task-succeeded`` events (so Flower and ``celery events``), and the worker's log line
``Task ... succeeded in 0.01s: <result>``. Each of them gets a summary instead: counts,
sizes and a *redacted* preview, i.e. the shape of the first few values (``int``,
``str(12)``, ``dict(3 keys)``), never a value.

- :func:`summarize_args` is the ``argsrepr`` of our task messages: the publisher sets it, and
  the workers' request class of our tasks (:mod:`adapters.celery.worker_request`) recomputes
  it from the message itself, so a message from any sender (``celery call``, a replay) is
  summarised too; ``inspect`` answers with it in place of the arguments.
- :func:`result_repr` replaces Celery's ``saferepr`` of a result, and :func:`body_summary`
  its dump of a refused or unknown message's body, in the workers of our app
  (:func:`install_result_summaries`, called when such a worker starts).

Standard library only: the publisher (the caller's side) uses it per message.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import islice
from typing import Any

PREVIEW = 3
"""How many values a preview shows the shape of."""
_SHOWN_OPTIONS = ("worker", "call_id")
"""Options of a batch shown in full: who sent it (a worker id and a call id, not data)."""


_SCALARS = frozenset({type(None), bool, int, float})
_SIZED = (str, bytes, bytearray, list, tuple, set, frozenset)
_COLLECTIONS = (list, tuple, set, frozenset)
_SEQUENCES = (list, tuple)


def shape(value: Any) -> str:
    """What a value is, without what it holds: ``int``, ``str(12)``, ``list(3)``."""
    cls = type(value)
    if cls in _SCALARS:
        return cls.__name__
    if isinstance(value, dict | Mapping):
        return f"{cls.__name__}({len(value)} {'key' if len(value) == 1 else 'keys'})"
    if isinstance(value, _SIZED):
        return f"{cls.__name__}({len(value)})"
    return cls.__name__


def preview(values: Any) -> str:
    """The shapes of the first :data:`PREVIEW` values of a collection (``…`` if more)."""
    if isinstance(values, dict | Mapping):
        shown = [f"{_key(key)}: {shape(value)}" for key, value in islice(values.items(), PREVIEW)]
    else:
        shown = [shape(value) for value in islice(values, PREVIEW)]
    return ", ".join(shown) + (", …" if len(values) > PREVIEW else "")


def _key(key: Any) -> str:
    """A mapping key: a short identifier is a field name and shown, anything else is data."""
    if isinstance(key, str) and key.isidentifier() and len(key) <= 32:
        return key
    return shape(key)


def summarize(value: Any) -> str:
    """``<list of 3: int, int, int>``: a count and a redacted preview of ``value``."""
    if isinstance(value, dict | Mapping):
        counted = f"{len(value)} {'key' if len(value) == 1 else 'keys'}"
    elif isinstance(value, _COLLECTIONS):
        counted = f"{len(value)} {'item' if len(value) == 1 else 'items'}"
    else:
        return f"<{shape(value)}>"
    shown = f": {preview(value)}" if value else ""
    return f"<{type(value).__name__} of {counted}{shown}>"


def size(nbytes: int) -> str:
    """``812 B``, ``1.5 kB``, ``2.0 MB``."""
    if nbytes < 1000:
        return f"{nbytes} B"
    if nbytes < 1_000_000:
        return f"{nbytes / 1000:.1f} kB"
    return f"{nbytes / 1_000_000:.1f} MB"


def summarize_args(args: Any, message_bytes: int | None = None) -> str:
    """The ``argsrepr`` of ``run_batch(reference, items, options)`` / ``run_task(reference,
    options)``: the reference (a name, not data), the items summarised, the worker and call
    id of the options, and the message's size when known."""
    if not isinstance(args, _SEQUENCES) or not args:
        return summarize(args)
    parts = [repr(args[0]) if isinstance(args[0], str) else f"<{shape(args[0])}>"]
    if len(args) > 2:
        parts.append(summarize(args[1]))
    options = args[-1] if len(args) > 1 else None
    if isinstance(options, dict | Mapping):
        parts += [f"{key}={options[key]!r}" for key in _SHOWN_OPTIONS if options.get(key)]
    if message_bytes is not None:
        parts.append(f"message {size(message_bytes)}")
    return f"({', '.join(parts)})"


SUMMARIZED_REQUEST = "adapters.celery.worker_request:SummarizedRequest"
"""The ``Request`` option of our tasks: the worker-side request class that summarises (a
name, so that the caller's side never imports it)."""


def result_repr(value: Any, maxlen: int | None = None, *_: Any, **__: Any) -> str:
    """Celery's ``saferepr(result, maxlen)``, as a summary (``maxlen`` does not matter)."""
    return summarize(value)


def body_summary(message: Any, body: Any = None) -> str:
    """Celery's ``dump_body(message, body)`` of a message it refuses or does not know: the
    size and content type, not the body (it holds the items)."""
    raw = message.body if body is None else body
    nbytes = len(raw) if isinstance(raw, bytes | bytearray | str) else None
    shown = size(nbytes) if nbytes is not None else "a body"
    return f"<{shown} of {message.content_type or 'unknown content'}, not shown>"


HIDDEN = "<not shown>"
"""What the ``argsrepr`` / ``kwargsrepr`` headers of a refused message are logged as."""


def hide_argument_headers(message: Any) -> None:
    """Before Celery logs a message it refuses or does not know with its headers: the
    sender's ``argsrepr`` / ``kwargsrepr`` (``celery call`` writes the items' ``repr`` there)
    are replaced, in place; nothing else reads them afterwards."""
    headers = getattr(message, "headers", None)
    if isinstance(headers, dict):
        for key in ("argsrepr", "kwargsrepr"):
            if key in headers:
                headers[key] = HIDDEN


def install_result_summaries() -> None:
    """Make this worker process show summaries where Celery would show data: results (the
    success log line and the ``task-succeeded`` event; Celery's tracer and request read
    ``saferepr`` from their modules when a task ends) and the bodies of messages it refuses
    or does not know (``dump_body``). Only for a worker of cutover's app, whose tasks are all
    ours (see :func:`adapters.celery.app.create_app`); idempotent. Checked against Celery
    5.7."""
    from celery.app import trace
    from celery.worker import request
    from celery.worker.consumer import consumer

    trace.saferepr = result_repr
    request.saferepr = result_repr
    consumer.dump_body = body_summary


__all__ = [
    "HIDDEN",
    "SUMMARIZED_REQUEST",
    "body_summary",
    "hide_argument_headers",
    "install_result_summaries",
    "preview",
    "result_repr",
    "shape",
    "size",
    "summarize",
    "summarize_args",
]
