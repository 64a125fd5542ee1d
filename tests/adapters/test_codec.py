"""The safe typed codec: exact round trips, clear refusals, hostile input, size limits."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters import codec
from cutover.errors import ConfigurationError, PayloadTooLargeError, SerializationError
from tests.adapters.strategies import (
    DictSubclass,
    ListSubclass,
    StrSubclass,
    Unsupported,
    carriable_values,
    same_typed,
    unsupported_values,
)
from tests.adapters.taskmods.sample_tasks import Color, Permission, Priority

SAMPLE_MODULE = "tests.adapters.taskmods.sample_tasks"


@pytest.fixture(autouse=True)
def allow_sample_tasks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Enums of the sample task module may be carried; nothing else is allowed."""
    monkeypatch.setenv("CUTOVER_TASK_MODULES", SAMPLE_MODULE)
    monkeypatch.delenv("CUTOVER_MAX_PAYLOAD_BYTES", raising=False)


# --- round trips ------------------------------------------------------------------------------


@given(carriable_values())
def test_round_trip_keeps_values_and_types(value: Any) -> None:
    """Every carriable value comes back equal, with the same types all the way down."""
    decoded = codec.loads(codec.dumps(value))

    assert same_typed(value, decoded), (value, decoded)


@given(carriable_values())
def test_encode_is_plain_json(value: Any) -> None:
    """``encode`` makes a tree that strict JSON can write, and ``decode`` reverses it."""
    tree = codec.encode(value)

    text = json.dumps(tree, allow_nan=False)

    assert same_typed(value, codec.decode(json.loads(text)))


@pytest.mark.parametrize(
    "value",
    [
        True,
        False,
        1,
        -(2**80),
        2**5000,
        -(2**20000) + 1,
        -0.0,
        math.inf,
        -math.inf,
        b"\x00\xff",
        bytearray(b"ab"),
        (1, (2, (3,))),
        {1, 2},
        frozenset({(1, frozenset({"a"}))}),
        {1: "int key", (1, "a"): "tuple key", frozenset({1}): "set key", None: 0},
        {True: "bool key", 2.5: "float key", b"k": "bytes key", Color.RED: "enum key"},
        {"$t": "tuple", "v": [1, 2]},
        {"$t": "dict"},
        {"v": 1},
        datetime(2024, 5, 1, 12, 30, 15, 123456),
        datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
        datetime(2024, 5, 1, 12, 30, tzinfo=timezone(timedelta(hours=-3, minutes=-30))),
        datetime(2024, 5, 1, tzinfo=timezone(timedelta(hours=2), "CEST")),
        datetime(2024, 5, 1, tzinfo=timezone(timedelta(microseconds=1))),
        datetime(2024, 10, 27, 2, 30, fold=1, tzinfo=ZoneInfo("Europe/Paris")),
        date(1, 1, 1),
        time(23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=5))),
        timedelta(days=-3, microseconds=7),
        Decimal("1.10"),
        Decimal("NaN"),
        Decimal("-Infinity"),
        Decimal("sNaN"),
        UUID("12345678-1234-5678-1234-567812345678"),
        complex(1.5, -0.0),
        complex(math.nan, math.inf),
        Color.BLUE,
        Priority.HIGH,
        Permission.READ | Permission.EXECUTE,
        [Priority.LOW, {"nested": (Color.RED, {Priority.HIGH: [b"x"]})}],
    ],
    ids=lambda value: type(value).__qualname__,
)
def test_round_trip_examples(value: Any) -> None:
    """Hand-picked edge cases: big ints, -0.0, tag look-alikes, zones, folds, enums."""
    decoded = codec.loads(codec.dumps(value))

    assert same_typed(value, decoded), (value, decoded)


def test_bool_stays_bool_and_int_enum_stays_member() -> None:
    """``True`` is not carried as ``1`` and an IntEnum member is not carried as an int."""
    decoded = codec.loads(codec.dumps([True, Priority.HIGH, 1]))

    assert [bool, Priority, int] == [type(item) for item in decoded]
    assert Priority.HIGH is decoded[1]


def test_plain_json_needs_no_tags() -> None:
    """JSON-native data is written as plain JSON: no tags, readable by any JSON parser."""
    value = {"id": 7, "name": "x", "scores": [1.5, -2], "ok": True, "none": None}

    assert value == json.loads(codec.dumps(value))


def test_tag_format() -> None:
    """Non-JSON values are ``{"$t": tag, "v": payload}``; tag look-alike dicts are escaped."""
    encoded = json.loads(codec.dumps([(1, 2), {"$t": "x"}, math.nan]))

    assert [
        {"$t": "tuple", "v": [1, 2]},
        {"$t": "dict", "v": [["$t", "x"]]},
        {"$t": "float", "v": "nan"},
    ] == encoded


def test_enum_from_a_module_outside_the_allow_list_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Enum classes travel only from allow-listed modules, on the sending side too."""
    monkeypatch.setenv("CUTOVER_TASK_MODULES", "somewhere.else")

    with pytest.raises(SerializationError) as caught:
        codec.dumps({"color": Color.RED})

    assert "'Color'" in str(caught.value)
    assert "$.color" in str(caught.value)
    assert "CUTOVER_TASK_MODULES" in str(caught.value)


def test_enum_decoding_respects_the_receivers_allow_list() -> None:
    """A receiver whose allow-list lacks the enum's module refuses it with SerializationError."""
    data = codec.dumps(Color.GREEN)

    with pytest.raises(SerializationError) as caught:
        codec.loads(data, allowed=["somewhere.else"])

    assert "not allowed" in str(caught.value)


# --- refusals -------------------------------------------------------------------------------


@given(unsupported_values())
def test_unsupported_values_raise_naming_the_type(value: Any) -> None:
    """A value of an unsupported type raises SerializationError naming that type."""
    with pytest.raises(SerializationError) as caught:
        codec.dumps({"items": [1, {"x": value}]})

    message = str(caught.value)
    assert f"'{type(value).__qualname__}'" in message
    assert "at $.items[1].x" in message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            {"items": [0, 1, 2, {"x": Unsupported()}]},
            "cannot carry a value of type 'Unsupported' (from tests.adapters.strategies) "
            "at $.items[3].x: supported types are",
        ),
        ([StrSubclass("a")], "type 'StrSubclass'"),
        ({"a": DictSubclass()}, "a subclass of dict; subclasses are not carried"),
        ((ListSubclass(),), "at $[0]"),
        ({(1, Unsupported()): 1}, "at $[<key 0>][1]"),
        ({"k": {Unsupported()}}, "at $.k[<member 0>]"),
        ({"not an identifier": Unsupported()}, "at $['not an identifier']"),
    ],
    ids=repr,
)
def test_refusal_message_names_type_and_path(value: Any, expected: str) -> None:
    """The message says what the value was and where it was found."""
    with pytest.raises(SerializationError) as caught:
        codec.dumps(value)

    assert expected in str(caught.value)


def test_zoneinfo_without_a_key_is_refused() -> None:
    """A ZoneInfo read from a file has no key to rebuild it by: refused, naming the tzinfo."""
    with open("/usr/share/zoneinfo/UTC", "rb") as source:
        zone = ZoneInfo.from_file(source)

    with pytest.raises(SerializationError) as caught:
        codec.dumps([datetime(2024, 1, 1, tzinfo=zone)])

    assert "type 'ZoneInfo' (from zoneinfo) at $[0].tzinfo: a ZoneInfo built from a file" in str(
        caught.value
    )


def test_self_containing_value_is_refused() -> None:
    """A list that contains itself raises SerializationError, not RecursionError."""
    looping: list[Any] = [1]
    looping.append(looping)

    with pytest.raises(SerializationError) as caught:
        codec.dumps(looping)

    assert "containing itself" in str(caught.value)


# --- hostile input --------------------------------------------------------------------------


def _decode_or_refusal(data: bytes | str) -> str:
    """``"decoded"``, or the message of the SerializationError; anything else propagates."""
    try:
        codec.loads(data)
    except SerializationError as exc:
        return str(exc)
    return "decoded"


def _json_like() -> st.SearchStrategy[Any]:
    tags = st.sampled_from(sorted([*codec._DECODERS, "enum", "nope", ""]))
    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(st.text(max_size=3), inner, max_size=3)
            | st.fixed_dictionaries({"$t": tags, "v": inner})
        ),
        max_leaves=10,
    )


@given(st.binary() | st.text())
def test_loads_of_arbitrary_input_returns_or_raises_serialization_error(data: bytes | str) -> None:
    """Random bytes and text decode to a value or raise SerializationError, nothing else."""
    outcome = _decode_or_refusal(data)

    assert outcome == "decoded" or outcome.startswith("cannot decode a cutover-json message: ")


@given(_json_like())
def test_loads_of_forged_tags_returns_or_raises_serialization_error(forged: Any) -> None:
    """Well-formed JSON with forged or malformed tags never raises anything else."""
    outcome = _decode_or_refusal(json.dumps(forged))

    assert outcome == "decoded" or outcome.startswith("cannot decode a cutover-json message: ")


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xfe",
        "[1,",
        "NaN",
        '{"$t": "float", "v": "1.5"}',
        '{"$t": "bytes", "v": "***"}',
        '{"$t": "set", "v": [[1]]}',
        '{"$t": "enum", "v": ["os:system", "x"]}',
        '{"$t": "enum", "v": ["tests.adapters.taskmods.sample_tasks:Color", "PURPLE"]}',
        '{"$t": "zoneinfo", "v": "../../etc/passwd"}',
        '{"$t": "timedelta", "v": [1e9, 0, 0]}',
        '{"$t": "decimal", "v": "one"}',
        '{"$t": "tuple", "v": [], "extra": 1}',
        "[" * 100_000,
        "1" * 5000,
    ],
)
def test_malformed_messages_raise_serialization_error(data: str | bytes) -> None:
    """Typical malformed or hostile messages raise SerializationError."""
    with pytest.raises(SerializationError):
        codec.loads(data)


def test_loads_refuses_non_text_input() -> None:
    """Something that is neither bytes nor str is refused with SerializationError."""
    with pytest.raises(SerializationError):
        codec.loads(12)  # type: ignore[arg-type]


# --- size limit -----------------------------------------------------------------------------


def test_payload_limit_names_size_and_limit() -> None:
    """A message above ``max_bytes`` raises PayloadTooLargeError with the size and the limit."""
    value = "x" * 100
    size = len(codec.dumps(value))

    with pytest.raises(PayloadTooLargeError) as caught:
        codec.dumps(value, max_bytes=size - 1)

    assert f"is {size} bytes, above the limit of {size - 1} bytes" in str(caught.value)
    assert value == codec.loads(codec.dumps(value, max_bytes=size))


def test_payload_limit_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """``CUTOVER_MAX_PAYLOAD_BYTES`` sets the default limit, for dumps and loads alike."""
    monkeypatch.setenv("CUTOVER_MAX_PAYLOAD_BYTES", "10")

    with pytest.raises(PayloadTooLargeError):
        codec.dumps("x" * 20)
    with pytest.raises(PayloadTooLargeError):
        codec.loads('"' + "x" * 20 + '"')
    assert 10 == codec.max_payload_bytes()


def test_default_payload_limit_is_64_mib() -> None:
    """Without the variable, the limit is 64 MiB."""
    assert 64 * 1024 * 1024 == codec.max_payload_bytes()


@pytest.mark.parametrize("raw", ["lots", "0", "-5"])
def test_bad_payload_limit_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    """A limit that is not a positive integer is refused with the variable's name."""
    monkeypatch.setenv("CUTOVER_MAX_PAYLOAD_BYTES", raw)

    with pytest.raises(ConfigurationError) as caught:
        codec.dumps(1)

    assert "CUTOVER_MAX_PAYLOAD_BYTES" in str(caught.value)


# --- kombu ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        (1, "two", (3.0, None)),
        datetime(2024, 5, 1, 12, 30, tzinfo=timezone(timedelta(hours=2))),
    ],
    ids=repr,
)
def test_kombu_round_trip(value: Any) -> None:
    """After registration, kombu's own dumps / loads use the codec under ``cutover-json``."""
    from kombu import serialization as kombu_serialization

    serialization: Any = kombu_serialization  # kombu is untyped
    codec.register_with_kombu()
    codec.register_with_kombu()  # idempotent

    content_type, encoding, payload = serialization.dumps(value, serializer="cutover-json")
    decoded = serialization.loads(payload, content_type, encoding, accept=[content_type])

    assert ("application/x-cutover-json", "utf-8") == (content_type, encoding)
    assert same_typed(value, decoded)
    assert same_typed(value, serialization.loads(payload.encode(), content_type, encoding))
