"""Carry an exception raised by a task to the caller's process, without pickle.

The legacy module let an exception from ``task_func`` reach the caller with its own type and
message; a remote engine must do the same. The worker turns the exception into a JSON-safe
dict with :func:`encode_exception`; the caller rebuilds it with :func:`decode_exception`:

- exceptions of :mod:`builtins` and of modules allowed by ``CUTOVER_TASK_MODULES`` come back
  with the same type and the same ``args`` (so ``str(e)`` matches too), and with the
  instance attributes the codec can carry (``e.user``, ``e.limit`` of a custom error);
- anything else, anything that cannot be rebuilt, and any malformed payload comes back as
  :class:`~ground.errors.RemoteTaskError`, carrying the remote type name and message;
- the remote traceback is attached as a note (``add_note``), so it prints with the error;
- the indexes of the batch's items that raised (:mod:`adapters.item_errors`), when the
  worker knew them, travel in ``failed_items`` and are put back beside the rebuilt exception
  (never into its type, args or message); a payload without them rebuilds the same.

Only subclasses of :class:`Exception` are rebuilt: a remote ``SystemExit`` or
``KeyboardInterrupt`` must not stop the caller's process, so it arrives as a
``RemoteTaskError``. Nothing outside builtins and the allow-list is ever imported.

The payload::

    {"module": "builtins", "qualname": "KeyError", "args": <codec tree of a tuple>,
     "args_carried": true, "attributes": <codec tree of a dict>, "message": "'x'",
     "traceback": "Traceback (most recent call last): ...", "failed_items": [7]}
"""

from __future__ import annotations

import builtins
import traceback
from collections.abc import Sequence
from typing import Any

from adapters import codec, item_errors
from adapters.task_refs import allowed_task_modules, module_is_allowed, resolve_reference
from ground.errors import ConfigurationError, RemoteTaskError, SerializationError, TaskRefusedError
from ground.logs import get_logger

_log = get_logger("cutover.adapters.remote_exceptions")

_OS_ERROR_ATTRIBUTES = ("filename", "filename2")
"""``OSError`` keeps these out of ``args`` and ``__dict__``; ``str()`` shows them."""

_ARGS_NOT_CARRIED = (
    "the exception's arguments could not be carried (not serializable); it was rebuilt from "
    "its message"
)


def _carriable_attributes(exc: BaseException) -> dict[str, Any]:
    """Instance attributes the codec can carry; the others are dropped one by one."""
    attributes: dict[str, Any] = {}
    for name, value in vars(exc).items():
        if not isinstance(name, str) or name.startswith("__"):
            continue  # __notes__ travel inside the formatted traceback
        try:
            attributes[name] = codec.encode(value)
        except SerializationError:
            continue
    if isinstance(exc, OSError):
        for name in _OS_ERROR_ATTRIBUTES:
            value = getattr(exc, name, None)
            if value is not None and type(value) in (str, bytes):
                attributes[name] = codec.encode(value)
    return attributes


def encode_exception(exc: BaseException) -> dict[str, Any]:
    """A JSON-safe description of ``exc``: type, args, message, attributes and traceback."""
    cls = type(exc)
    message = str(exc)
    try:
        args = codec.encode(tuple(exc.args))
        args_carried = True
    except SerializationError:
        args = codec.encode((message,))
        args_carried = False
    payload: dict[str, Any] = {
        "module": cls.__module__,
        "qualname": cls.__qualname__,
        "args": args,
        "args_carried": args_carried,
        "attributes": _carriable_attributes(exc),
        "message": message,
        "traceback": "".join(traceback.format_exception(exc)),
    }
    failed = item_errors.failed_items(exc)
    if failed:
        payload["failed_items"] = list(failed)
    return payload


# Where our exceptions live, and where they lived before the ground package: a worker of an
# older release names the old module, and both rebuild the same class.
OUR_ERROR_MODULES = ("ground.errors", "cutover.errors")


def _exception_class(module: str, qualname: str, allowed: Sequence[str]) -> type[Exception]:
    """The class named by the payload, or :class:`LookupError` when it may not be rebuilt."""
    cls: object
    if module == "builtins":
        cls = getattr(builtins, qualname, None) if qualname.isidentifier() else None
    elif module in OUR_ERROR_MODULES:  # our own errors, raised by the worker side itself
        import ground.errors

        cls = getattr(ground.errors, qualname, None) if qualname.isidentifier() else None
    elif module_is_allowed(module, allowed):
        try:
            cls = resolve_reference(f"{module}:{qualname}", allowed)
        except TaskRefusedError as exc:
            raise LookupError(str(exc)) from exc
    else:
        raise LookupError(f"module {module!r} is not builtins nor allow-listed")
    if not (isinstance(cls, type) and issubclass(cls, Exception)):
        raise LookupError(f"{module}.{qualname} is not an Exception class")
    return cls


def _instantiate(cls: type[Exception], args: tuple[Any, ...]) -> Exception:
    """``cls(*args)`` when that reproduces ``args``; otherwise ``__new__`` and set ``args``."""
    try:
        exc = cls(*args)
    except Exception:  # noqa: BLE001 — an __init__ that refuses its own args is expected
        exc = None
    if exc is not None and type(exc) is cls and exc.args == args:
        return exc
    try:
        exc = cls.__new__(cls, *args)
    except Exception:  # noqa: BLE001 — __new__ that refuses args: try without
        exc = cls.__new__(cls)
    exc.args = args
    return exc


def _restore_attributes(exc: Exception, attributes: object) -> None:
    """Put back carried instance attributes; one that cannot be set is skipped, not fatal."""
    if type(attributes) is not dict:
        raise TypeError("attributes is not a dict")
    for name, value in attributes.items():
        if not isinstance(name, str) or name.startswith("__"):
            continue
        if isinstance(exc, OSError) and name in _OS_ERROR_ATTRIBUTES:
            setattr(exc, name, value)
        else:
            # Straight into __dict__: that is where encode_exception found them, and a
            # property of the class must not run (or refuse) here.
            vars(exc)[name] = value


def _fail(type_name: str, message: str, remote_traceback: str) -> RemoteTaskError:
    error = RemoteTaskError(type_name, message, remote_traceback)
    if remote_traceback:
        error.add_note(f"remote traceback:\n{remote_traceback.rstrip()}")
    return error


def decode_exception(payload: object, allowed: Sequence[str] | None = None) -> BaseException:
    """Rebuild the exception described by ``payload`` (from :func:`encode_exception`).

    Returns an exception of the original type for builtins and allow-listed modules
    (``allowed`` defaults to ``CUTOVER_TASK_MODULES``), a
    :class:`~ground.errors.RemoteTaskError` otherwise. Never raises, never returns anything
    but an exception. Either way it carries the payload's ``failed_items``
    (:func:`adapters.item_errors.failed_items`).
    """
    exc = _decode(payload, allowed)
    failed = payload.get("failed_items") if isinstance(payload, dict) else None
    if isinstance(failed, list):
        item_errors.mark(exc, failed)
    return exc


def _decode(payload: object, allowed: Sequence[str] | None) -> BaseException:
    if not isinstance(payload, dict):
        return _fail("<unknown>", f"malformed remote exception payload: {payload!r:.200}", "")
    module = payload.get("module")
    qualname = payload.get("qualname")
    message = payload.get("message")
    remote_traceback = payload.get("traceback")
    remote_traceback = remote_traceback if isinstance(remote_traceback, str) else ""
    message = message if isinstance(message, str) else repr(message)
    if not isinstance(module, str) or not isinstance(qualname, str):
        return _fail("<unknown>", message, remote_traceback)
    type_name = qualname if module == "builtins" else f"{module}.{qualname}"
    try:
        allowed = allowed_task_modules() if allowed is None else tuple(allowed)
        cls = _exception_class(module, qualname, allowed)
        args = codec.decode(payload.get("args"), allowed=allowed)
        if type(args) is not tuple:
            raise TypeError("args is not a tuple")
        exc = _instantiate(cls, args)
        _restore_attributes(exc, codec.decode(payload.get("attributes") or {}, allowed=allowed))
    except (LookupError, TypeError, ValueError, ConfigurationError) as problem:
        _log.info("remote_exception_not_rebuilt", type=type_name, reason=str(problem))
        return _fail(type_name, message, remote_traceback)
    except Exception as problem:  # noqa: BLE001 — user __new__/__init__/setters; reported
        _log.warning("remote_exception_not_rebuilt", type=type_name, reason=repr(problem))
        return _fail(type_name, message, remote_traceback)
    if payload.get("args_carried") is False:
        exc.add_note(_ARGS_NOT_CARRIED)
    if remote_traceback:
        exc.add_note(f"remote traceback:\n{remote_traceback.rstrip()}")
    return exc


__all__ = ["decode_exception", "encode_exception"]
