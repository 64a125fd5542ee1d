"""The decoders of :mod:`adapters.codec`'s tagged values, one per tag, and their table.

Each takes the payload of ``{"$t": tag, "v": payload}`` (its items already decoded, since
JSON's ``object_hook`` runs bottom-up) and rebuilds the value, or raises :class:`Malformed`
for anything that is not what the encoder writes; :func:`adapters.codec.loads` reports both
that and every other error the input can cause as one ``SerializationError``.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from adapters.task_refs import resolve_reference

_INF = float("inf")
_NAN_INF_NAMES = {"nan": float("nan"), "inf": _INF, "-inf": -_INF}


class Malformed(ValueError):
    """The input is JSON but not a valid encoding; :func:`adapters.codec.loads` reports it."""


def expect(condition: bool, message: str) -> None:
    """Raise :class:`Malformed` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise Malformed(message)


def _expect_list(payload: Any, length: int | None, tag: str) -> list[Any]:
    expect(
        type(payload) is list and (length is None or len(payload) == length),
        f"{tag!r} expects a list{'' if length is None else f' of {length}'}",
    )
    return payload  # type: ignore[no-any-return]


def _expect_str(payload: Any, tag: str) -> str:
    expect(type(payload) is str, f"{tag!r} expects a string")
    return payload  # type: ignore[no-any-return]


def _expect_int(payload: Any, tag: str) -> int:
    expect(type(payload) is int, f"{tag!r} expects integers")
    return payload  # type: ignore[no-any-return]


def _decode_bytes(payload: Any) -> bytes:
    return base64.b64decode(_expect_str(payload, "bytes"), validate=True)


def _decode_float(payload: Any) -> float:
    expect(payload in ("nan", "inf", "-inf"), "'float' expects 'nan', 'inf' or '-inf'")
    return _NAN_INF_NAMES[payload]


def _decode_int(payload: Any) -> int:
    return int(_expect_str(payload, "int"), 16)


def _decode_tzinfo(value: Any, tag: str) -> tzinfo | None:
    expect(value is None or isinstance(value, tzinfo), f"{tag!r} expects a tzinfo or null")
    return value  # type: ignore[no-any-return]


def _decode_datetime(payload: Any) -> datetime:
    if type(payload) is str:
        return datetime.fromisoformat(payload)
    naive, fold, tz = _expect_list(payload, 3, "datetime")
    expect(fold in (0, 1) and type(fold) is int, "'datetime' expects a fold of 0 or 1")
    parsed = datetime.fromisoformat(_expect_str(naive, "datetime"))
    expect(parsed.tzinfo is None, "'datetime' expects a naive ISO string with a tzinfo")
    return parsed.replace(tzinfo=_decode_tzinfo(tz, "datetime"), fold=fold)


def _decode_time(payload: Any) -> time:
    if type(payload) is str:
        return time.fromisoformat(payload)
    naive, fold, tz = _expect_list(payload, 3, "time")
    expect(fold in (0, 1) and type(fold) is int, "'time' expects a fold of 0 or 1")
    parsed = time.fromisoformat(_expect_str(naive, "time"))
    expect(parsed.tzinfo is None, "'time' expects a naive ISO string with a tzinfo")
    return parsed.replace(tzinfo=_decode_tzinfo(tz, "time"), fold=fold)


def _decode_timedelta(payload: Any) -> timedelta:
    days, seconds, microseconds = (
        _expect_int(part, "timedelta") for part in _expect_list(payload, 3, "timedelta")
    )
    return timedelta(days=days, seconds=seconds, microseconds=microseconds)


def _decode_timezone(payload: Any) -> timezone:
    offset, name = _expect_list(payload, 2, "timezone")
    expect(type(offset) is timedelta, "'timezone' expects a timedelta offset")
    if name is None:
        return timezone(offset)
    return timezone(offset, _expect_str(name, "timezone"))


def _decode_zoneinfo(payload: Any) -> ZoneInfo:
    return ZoneInfo(_expect_str(payload, "zoneinfo"))


def _decode_complex(payload: Any) -> complex:
    real, imag = _expect_list(payload, 2, "complex")
    expect(type(real) is float and type(imag) is float, "'complex' expects two floats")
    return complex(real, imag)


def _decode_dict(payload: Any) -> dict[Any, Any]:
    pairs = _expect_list(payload, None, "dict")
    for pair in pairs:
        expect(type(pair) is list and len(pair) == 2, "'dict' expects [key, value] pairs")
    return dict(pairs)


def decode_enum(payload: Any, allowed: tuple[str, ...] | None) -> Enum:
    """An enum member by name (or by value), its class imported only from ``allowed``."""
    expect(type(payload) is list and len(payload) in (2, 3), "'enum' expects a list")
    reference = _expect_str(payload[0], "enum")
    cls = resolve_reference(reference, allowed)
    if not (isinstance(cls, type) and issubclass(cls, Enum)):
        raise Malformed(f"{reference!r} is not an Enum class")
    if len(payload) == 2:
        member = cls.__members__.get(_expect_str(payload[1], "enum"))
        expect(member is not None, f"{reference!r} has no member {payload[1]!r}")
        return member  # type: ignore[return-value]
    expect(payload[1] is None, "'enum' by value expects null as its name")
    return cls(payload[2])


DECODERS: dict[str, Callable[[Any], Any]] = {
    "float": _decode_float,
    "int": _decode_int,
    "bytes": _decode_bytes,
    "bytearray": lambda payload: bytearray(_decode_bytes(payload)),
    "tuple": lambda payload: tuple(_expect_list(payload, None, "tuple")),
    "set": lambda payload: set(_expect_list(payload, None, "set")),
    "frozenset": lambda payload: frozenset(_expect_list(payload, None, "frozenset")),
    "dict": _decode_dict,
    "datetime": _decode_datetime,
    "date": lambda payload: date.fromisoformat(_expect_str(payload, "date")),
    "time": _decode_time,
    "timedelta": _decode_timedelta,
    "timezone": _decode_timezone,
    "zoneinfo": _decode_zoneinfo,
    "decimal": lambda payload: Decimal(_expect_str(payload, "decimal")),
    "uuid": lambda payload: UUID(_expect_str(payload, "uuid")),
    "complex": _decode_complex,
}


__all__ = ["DECODERS", "Malformed", "decode_enum", "expect"]
