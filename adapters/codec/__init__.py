"""The safe, typed serializer used over the Celery broker and result backend (never pickle).

Values are written as JSON. What JSON carries natively is written as is, so plain data costs
little: ``None``, ``bool``, ``str``, ``int`` (below 2**2000 in magnitude), finite ``float``,
``list`` and ``dict`` with ``str`` keys. Every other supported value is a *tagged object*, a
JSON object with exactly two keys::

    {"$t": "<tag>", "v": <payload>}

========================  ==============================================================
tag                       payload
========================  ==============================================================
``float``                 ``"nan"``, ``"inf"`` or ``"-inf"`` (finite floats are native;
                          ``-0.0`` too)
``int``                   hexadecimal string, for ints of 2**2000 and beyond (the
                          decimal form of such ints is limited by Python itself)
``bytes``, ``bytearray``  base64 string
``tuple``, ``set``,       list of encoded items
``frozenset``
``dict``                  list of ``[key, value]`` pairs; used for dicts with a key that is
                          not a ``str``, and for *any* dict with a ``"$t"`` key, so a user
                          dict that looks like a tag is escaped and round-trips
``datetime``, ``time``    ISO 8601 string when naive or with an unnamed fixed offset of whole
                          seconds and ``fold == 0``; otherwise ``[naive ISO string, fold,
                          encoded tzinfo]``
``date``                  ISO 8601 string
``timedelta``             ``[days, seconds, microseconds]``
``timezone``              ``[encoded offset (a timedelta), name or null]``
``zoneinfo``              the IANA key (``"Europe/Paris"``)
``decimal``               ``str(value)`` (``NaN``, ``sNaN``, ``-Infinity`` included)
``uuid``                  canonical string
``complex``               ``[encoded real, encoded imag]``
``enum``                  ``["module:qualname", member name]`` or, for members without a
                          name of their own (combined flags), ``["module:qualname", null,
                          encoded value]``
========================  ==============================================================

Types are kept exactly: ``True`` stays a ``bool``, an ``IntEnum`` member stays a member, and a
subclass of ``dict``, ``list`` or ``str`` that is not supported raises
:class:`~ground.errors.SerializationError` instead of arriving as its base class. Enum classes
are only carried when their module is in ``CUTOVER_TASK_MODULES`` (see
:mod:`adapters.task_refs`); the decoder imports nothing else.

Payload size is capped by ``CUTOVER_MAX_PAYLOAD_BYTES`` (default 64 MiB), on both sides.

This module encodes, parses and registers the serializer with kombu; the decoder of each tag
lives in :mod:`adapters.codec.decoders`.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal
from enum import Enum
from functools import lru_cache, partial
from typing import Any, NoReturn, cast
from uuid import UUID
from zoneinfo import ZoneInfo

from adapters.codec.decoders import DECODERS as _DECODERS
from adapters.codec.decoders import Malformed as _Malformed
from adapters.codec.decoders import decode_enum as _decode_enum
from adapters.codec.decoders import expect as _expect
from adapters.task_refs import allowed_task_modules, reference_problem
from ground.errors import (
    ConfigurationError,
    PayloadTooLargeError,
    SerializationError,
    TaskRefusedError,
)

CONTENT_TYPE = "application/x-cutover-json"
SERIALIZER_NAME = "cutover-json"
MAX_PAYLOAD_ENV = "CUTOVER_MAX_PAYLOAD_BYTES"
DEFAULT_MAX_PAYLOAD_BYTES = 64 * 1024 * 1024

TAG_KEY = "$t"
VALUE_KEY = "v"

SUPPORTED_TYPES = (
    "None, bool, int, float, str, bytes, bytearray, list, tuple, set, frozenset, dict, "
    "datetime, date, time, timedelta, timezone, ZoneInfo, Decimal, UUID, complex and "
    "members of Enum classes from allow-listed modules (exact types, not subclasses)"
)

_BIG_INT = 1 << 2000
_INF = float("inf")
_JSON_ENCODER = json.JSONEncoder(
    ensure_ascii=True, allow_nan=False, check_circular=False, separators=(",", ":")
)


# --- encoding -------------------------------------------------------------------------------


class _Unsupported(Exception):
    """Internal: a value cannot be carried; :func:`encode` turns it into SerializationError."""

    def __init__(self, value: object, reason: str = "") -> None:
        super().__init__(reason)
        self.value = value
        self.reason = reason


def _tagged(tag: str, payload: Any) -> dict[str, Any]:
    return {TAG_KEY: tag, VALUE_KEY: payload}


def _is_plain_offset(tz: tzinfo | None) -> bool:
    """A tzinfo that an ISO 8601 string restores exactly: none, or an unnamed whole-second
    :class:`~datetime.timezone`."""
    if tz is None:
        return True
    if type(tz) is not timezone:
        return False
    offset = tz.utcoffset(None)
    return offset.microseconds == 0 and len(tz.__getinitargs__()) == 1  # type: ignore[attr-defined]


def _encode_datetime(obj: datetime) -> dict[str, Any]:
    if obj.fold == 0 and _is_plain_offset(obj.tzinfo):
        return _tagged("datetime", obj.isoformat())
    naive = obj.replace(tzinfo=None, fold=0).isoformat()
    return _tagged("datetime", [naive, obj.fold, _encode(obj.tzinfo)])


def _encode_time(obj: time) -> dict[str, Any]:
    if obj.fold == 0 and _is_plain_offset(obj.tzinfo):
        return _tagged("time", obj.isoformat())
    naive = obj.replace(tzinfo=None, fold=0).isoformat()
    return _tagged("time", [naive, obj.fold, _encode(obj.tzinfo)])


def _encode_timezone(obj: timezone) -> dict[str, Any]:
    args = obj.__getinitargs__()  # type: ignore[attr-defined]
    name = args[1] if len(args) > 1 else None
    return _tagged("timezone", [_encode(args[0]), name])


def _encode_zoneinfo(obj: ZoneInfo) -> dict[str, Any]:
    if obj.key is None:
        raise _Unsupported(obj, "a ZoneInfo built from a file has no key to rebuild it by")
    return _tagged("zoneinfo", obj.key)


def _encode_float(obj: float) -> Any:
    if obj != obj:
        return _tagged("float", "nan")
    if -_INF < obj < _INF:
        return obj
    return _tagged("float", "inf" if obj > 0 else "-inf")


def _encode_int(obj: int) -> Any:
    if -_BIG_INT < obj < _BIG_INT:
        return obj
    return _tagged("int", format(obj, "x"))


def _encode_items(obj: list[Any] | tuple[Any, ...] | set[Any] | frozenset[Any]) -> list[Any]:
    return [_encode(item) for item in obj]


def _encode_dict(obj: dict[Any, Any]) -> dict[str, Any]:
    for key in obj:
        if type(key) is not str or key == TAG_KEY:
            return _tagged("dict", [[_encode(key), _encode(value)] for key, value in obj.items()])
    return {key: _encode(value) for key, value in obj.items()}


@lru_cache(maxsize=256)
def _enum_class_problem(cls: type[Enum], allowed: tuple[str, ...]) -> str | None:
    return reference_problem(cls, allowed)


def _encode_enum(obj: Enum) -> dict[str, Any]:
    cls = type(obj)
    problem = _enum_class_problem(cls, allowed_task_modules())
    if problem is not None:
        raise _Unsupported(obj, f"its enum class cannot be rebuilt by the receiver: {problem}")
    reference = f"{cls.__module__}:{cls.__qualname__}"
    name = obj._name_
    if name is not None and cls.__members__.get(name) is obj:
        return _tagged("enum", [reference, name])
    return _tagged("enum", [reference, None, _encode(obj._value_)])


_ENCODERS: dict[type, Callable[[Any], Any]] = {
    tuple: lambda obj: _tagged("tuple", _encode_items(obj)),
    set: lambda obj: _tagged("set", _encode_items(obj)),
    frozenset: lambda obj: _tagged("frozenset", _encode_items(obj)),
    bytes: lambda obj: _tagged("bytes", base64.b64encode(obj).decode("ascii")),
    bytearray: lambda obj: _tagged("bytearray", base64.b64encode(obj).decode("ascii")),
    datetime: _encode_datetime,
    date: lambda obj: _tagged("date", obj.isoformat()),
    time: _encode_time,
    timedelta: lambda obj: _tagged("timedelta", [obj.days, obj.seconds, obj.microseconds]),
    timezone: _encode_timezone,
    ZoneInfo: _encode_zoneinfo,
    Decimal: lambda obj: _tagged("decimal", str(obj)),
    UUID: lambda obj: _tagged("uuid", str(obj)),
    complex: lambda obj: _tagged("complex", [_encode_float(obj.real), _encode_float(obj.imag)]),
}


def _encode(obj: Any) -> Any:
    # The common JSON types first, compared by exact type: a subclass must not slip through.
    kind = type(obj)
    if kind is str:
        return obj
    if kind is dict:
        return _encode_dict(obj)
    if kind is list:
        return [_encode(item) for item in obj]
    if kind is int:
        return obj if -_BIG_INT < obj < _BIG_INT else _encode_int(obj)
    if kind is float:
        return obj if -_INF < obj < _INF else _encode_float(obj)
    if obj is None or kind is bool:
        return obj
    encoder = _ENCODERS.get(kind)
    if encoder is not None:
        return encoder(obj)
    if isinstance(obj, Enum):
        return _encode_enum(obj)
    raise _Unsupported(obj)


# --- where did it fail? (only on the error path) -----------------------------------------------


def _segment_for_key(key: object) -> str:
    if type(key) is str and key.isidentifier():
        return f".{key}"
    text = repr(key)
    return f"[{text if len(text) <= 60 else text[:57] + '...'}]"


def _children(obj: object) -> list[tuple[str, object]]:
    # Exact types, as in _encode: a dict subclass is reported itself, not what it contains.
    kind = type(obj)
    if kind is list or kind is tuple:
        return [(f"[{index}]", item) for index, item in enumerate(cast("Sequence[Any]", obj))]
    if kind is dict:
        pairs: list[tuple[str, object]] = []
        for index, (key, value) in enumerate(cast("dict[Any, Any]", obj).items()):
            pairs.append((f"[<key {index}>]", key))
            pairs.append((_segment_for_key(key), value))
        return pairs
    if kind is set or kind is frozenset:
        members = cast("frozenset[Any]", obj)
        return [(f"[<member {index}>]", item) for index, item in enumerate(members)]
    if kind is datetime or kind is time:
        return [(".tzinfo", cast("datetime | time", obj).tzinfo)]
    if isinstance(obj, Enum):
        return [(".value", obj._value_)]
    return []


def _locate(obj: object, path: str) -> tuple[object, str, str] | None:
    """The first value inside ``obj`` that cannot be encoded: (value, path, reason)."""
    try:
        _encode(obj)
    except _Unsupported as exc:
        for segment, child in _children(obj):
            found = _locate(child, path + segment)
            if found is not None:
                return found
        return obj, path, exc.reason
    return None


def _type_label(value: object) -> str:
    kind = type(value)
    label = repr(kind.__qualname__)
    if kind.__module__ not in ("builtins", None):
        label += f" (from {kind.__module__})"
    for base in (dict, list, tuple, set, frozenset, str, bytes, int, float):
        if isinstance(value, base) and kind is not base and not isinstance(value, Enum):
            label += f" (a subclass of {base.__name__}; subclasses are not carried)"
            break
    return label


def _raise_unsupported(root: object, error: _Unsupported) -> NoReturn:
    try:
        found = _locate(root, "$")
    except RecursionError:
        found = None
    value, path, reason = found if found is not None else (error.value, "$", error.reason)
    detail = reason or f"supported types are {SUPPORTED_TYPES}"
    raise SerializationError(
        f"cannot carry a value of type {_type_label(value)} at {path}: {detail}"
    ) from None


def encode(obj: object) -> Any:
    """``obj`` as a JSON-compatible tree (tags included), ready for :func:`json.dumps`.

    Raises :class:`~ground.errors.SerializationError` naming the type and the path of the
    first value that cannot be carried (``$.items[3].x``).
    """
    try:
        return _encode(obj)
    except _Unsupported as exc:
        _raise_unsupported(obj, exc)
    except RecursionError:
        raise SerializationError(
            "cannot carry a value nested too deeply or containing itself "
            f"(deeper than Python's recursion limit, {sys.getrecursionlimit()})"
        ) from None


def max_payload_bytes() -> int:
    """The payload limit from ``CUTOVER_MAX_PAYLOAD_BYTES`` (default 64 MiB)."""
    raw = os.environ.get(MAX_PAYLOAD_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_PAYLOAD_BYTES
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(
            f"{MAX_PAYLOAD_ENV}={raw!r} is not a whole number of bytes"
        ) from None
    if value <= 0:
        raise ConfigurationError(f"{MAX_PAYLOAD_ENV}={raw!r} must be > 0 bytes")
    return value


def _check_size(size: int, max_bytes: int | None, what: str) -> None:
    limit = max_payload_bytes() if max_bytes is None else max_bytes
    if size > limit:
        raise PayloadTooLargeError(
            f"{what} is {size} bytes, above the limit of {limit} bytes ({MAX_PAYLOAD_ENV}); "
            "send references to large data (a URL, a key) instead of the data itself"
        )


def dumps(obj: object, *, max_bytes: int | None = None) -> bytes:
    """Encode ``obj`` as UTF-8 (in fact ASCII) JSON bytes.

    Raises :class:`~ground.errors.SerializationError` for a value that cannot be carried and
    :class:`~ground.errors.PayloadTooLargeError` when the result is larger than ``max_bytes``
    (default :func:`max_payload_bytes`).
    """
    data = _JSON_ENCODER.encode(encode(obj)).encode("ascii")
    _check_size(len(data), max_bytes, "the encoded message")
    return data


# --- decoding -------------------------------------------------------------------------------


def _decode_object(obj: dict[str, Any], allowed: tuple[str, ...] | None = None) -> Any:
    """``object_hook``: called bottom-up, so a payload's items are already decoded."""
    if TAG_KEY not in obj:
        return obj
    tag = obj[TAG_KEY]
    _expect(len(obj) == 2 and VALUE_KEY in obj, "a tagged object has exactly the keys '$t', 'v'")
    if tag == "enum":
        return _decode_enum(obj[VALUE_KEY], allowed)
    decoder = _DECODERS.get(tag) if type(tag) is str else None
    if decoder is None:
        raise _Malformed(f"unknown tag {tag!r}")
    return decoder(obj[VALUE_KEY])


def _object_hook(allowed: Sequence[str] | None) -> Callable[[dict[str, Any]], Any]:
    if allowed is None:
        return _decode_object
    return partial(_decode_object, allowed=tuple(allowed))


def _refuse_constant(name: str) -> NoReturn:
    raise _Malformed(f"{name} is not JSON; non-finite floats are tagged")


# Exceptions that malformed or hostile input can raise while decoding; all become
# SerializationError. Enum references outside the allow-list raise TaskRefusedError, which is
# reported the same way (a CutoverError, but not a SerializationError).
_DECODE_ERRORS = (
    ValueError,  # JSON syntax, _Malformed, ISO dates, base64, UUID, int digits limit, Unicode
    TypeError,  # unhashable set members / dict keys
    ArithmeticError,  # Decimal InvalidOperation, timedelta OverflowError
    LookupError,  # ZoneInfoNotFoundError
    OSError,  # ZoneInfo keys naming a directory
    RecursionError,
)


def _decode_error(exc: BaseException) -> SerializationError:
    return SerializationError(f"cannot decode a cutover-json message: {exc}")


def decode(tree: Any, *, allowed: Sequence[str] | None = None) -> Any:
    """Rebuild a value from a tree made by :func:`encode` (already parsed JSON).

    Raises :class:`~ground.errors.SerializationError` as :func:`loads` does. ``allowed``
    (default ``CUTOVER_TASK_MODULES``) limits the modules enum classes are imported from.
    """
    hook = _object_hook(allowed)
    try:
        return _decode_tree(tree, hook)
    except _DECODE_ERRORS as exc:
        raise _decode_error(exc) from exc
    except TaskRefusedError as exc:
        raise _decode_error(exc) from exc


def _decode_tree(node: Any, hook: Callable[[dict[str, Any]], Any]) -> Any:
    kind = type(node)
    if kind is list:
        return [_decode_tree(item, hook) for item in node]
    if kind is dict:
        return hook({key: _decode_tree(value, hook) for key, value in node.items()})
    return node


def loads(
    data: bytes | str, *, max_bytes: int | None = None, allowed: Sequence[str] | None = None
) -> Any:
    """Decode a message made by :func:`dumps`.

    Anything that is not a valid message (bad UTF-8, bad JSON, unknown tags, malformed
    payloads, enum classes outside the allow-list) raises
    :class:`~ground.errors.SerializationError` and nothing else; input larger than
    ``max_bytes`` (default :func:`max_payload_bytes`) raises
    :class:`~ground.errors.PayloadTooLargeError` before it is parsed. ``allowed`` (default
    ``CUTOVER_TASK_MODULES``) limits the modules enum classes are imported from.
    """
    if isinstance(data, bytearray | memoryview):
        data = bytes(data)
    if not isinstance(data, bytes | str):
        raise SerializationError(
            f"cannot decode a {type(data).__qualname__}: expected bytes or str"
        )
    _check_size(len(data), max_bytes, "the received message")
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return json.loads(text, object_hook=_object_hook(allowed), parse_constant=_refuse_constant)
    except _DECODE_ERRORS as exc:
        raise _decode_error(exc) from exc
    except TaskRefusedError as exc:
        raise _decode_error(exc) from exc


# --- kombu ----------------------------------------------------------------------------------


def _dumps_for_kombu(obj: object) -> str:
    """kombu expects ``str`` from encoders registered with ``content_encoding='utf-8'``."""
    return dumps(obj).decode("ascii")


_registered_with_kombu = False


def register_with_kombu() -> None:
    """Register the codec with kombu as ``cutover-json`` (idempotent).

    Celery then uses it when ``task_serializer`` / ``result_serializer`` name it. kombu wraps
    errors raised here in ``kombu.exceptions.EncodeError`` / ``DecodeError``; the original
    :class:`~ground.errors.SerializationError` is their ``__cause__``.
    """
    global _registered_with_kombu
    if _registered_with_kombu:
        return
    from kombu.serialization import register

    register(  # type: ignore[no-untyped-call]  # kombu is not typed
        SERIALIZER_NAME,
        _dumps_for_kombu,
        loads,
        content_type=CONTENT_TYPE,
        content_encoding="utf-8",
    )
    _registered_with_kombu = True


__all__ = [
    "CONTENT_TYPE",
    "DEFAULT_MAX_PAYLOAD_BYTES",
    "MAX_PAYLOAD_ENV",
    "SERIALIZER_NAME",
    "SUPPORTED_TYPES",
    "TAG_KEY",
    "VALUE_KEY",
    "decode",
    "dumps",
    "encode",
    "loads",
    "max_payload_bytes",
    "register_with_kombu",
]
