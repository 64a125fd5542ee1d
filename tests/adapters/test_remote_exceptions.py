"""Exceptions cross processes with their type, args and message, and without pickle."""

from __future__ import annotations

import json
from typing import Any

import pytest

from adapters import codec
from adapters.remote_exceptions import decode_exception, encode_exception
from cutover.errors import RemoteTaskError
from tests.adapters.taskmods import sample_tasks
from tests.adapters.taskmods.sample_tasks import Color, QuotaExceededError, SampleError

SAMPLE = "tests.adapters.taskmods.sample_tasks"


@pytest.fixture(autouse=True)
def allow_sample_tasks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Exception classes of the sample task module may be rebuilt."""
    monkeypatch.setenv("CUTOVER_TASK_MODULES", SAMPLE)


def _raised(exc: BaseException) -> BaseException:
    """``exc`` after being raised, so it has a traceback like a task's exception."""
    try:
        raise exc
    except BaseException as caught:  # noqa: BLE001 — the point is to catch it
        return caught


def _through_the_wire(exc: BaseException, allowed: list[str] | None = None) -> BaseException:
    """Encode on the "worker", carry through the codec, decode on the "caller"."""
    payload = codec.loads(codec.dumps(encode_exception(_raised(exc))))
    return decode_exception(payload, allowed)


@pytest.mark.parametrize(
    "original",
    [
        ValueError("bad value", 3),
        KeyError("x"),
        ZeroDivisionError("division by zero"),
        RuntimeError(),
        OSError(2, "No such file or directory"),
        FileNotFoundError(2, "No such file or directory", "/nope"),
        UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
        StopIteration((1, 2)),
        SampleError("custom", {"detail": (1, 2)}),
        QuotaExceededError("ann", 3),
        ValueError(Color.RED, b"bytes", frozenset({1})),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_round_trip_keeps_type_args_and_message(original: BaseException) -> None:
    """Builtins and allow-listed exceptions come back with the same type, args and str."""
    rebuilt = _through_the_wire(original)

    assert type(original) is type(rebuilt)
    assert original.args == rebuilt.args
    assert str(original) == str(rebuilt)


def test_key_error_message_keeps_its_quotes() -> None:
    """``str(KeyError('x'))`` is ``"'x'"`` on both sides."""
    rebuilt = _through_the_wire(KeyError("x"))

    assert "'x'" == str(rebuilt)


def test_custom_init_attributes_are_restored() -> None:
    """A class whose __init__ refuses its own args is rebuilt with __new__, attributes kept."""
    rebuilt = _through_the_wire(QuotaExceededError("ann", 3))

    assert isinstance(rebuilt, QuotaExceededError)
    assert ("ann", 3) == (rebuilt.user, rebuilt.limit)
    assert "user 'ann' is over the quota of 3" == str(rebuilt)


async def test_exception_raised_by_a_task_function() -> None:
    """What a worker encodes from a failing task is what the caller gets to catch."""
    try:
        await sample_tasks.fail_with_quota("bob")
    except QuotaExceededError as exc:
        payload = encode_exception(exc)

    rebuilt = decode_exception(codec.loads(codec.dumps(payload)))

    assert isinstance(rebuilt, QuotaExceededError)
    assert "bob" == rebuilt.user
    assert "in fail_with_quota" in "\n".join(getattr(rebuilt, "__notes__", []))


def test_remote_traceback_is_attached_as_a_note() -> None:
    """The remote traceback travels and is attached with add_note."""
    rebuilt = _through_the_wire(ValueError("boom"))

    notes = getattr(rebuilt, "__notes__", [])
    assert 1 == len(notes)
    assert notes[0].startswith("remote traceback:\nTraceback (most recent call last):")
    assert notes[0].endswith("ValueError: boom")


def test_payload_is_plain_json() -> None:
    """The payload is JSON-safe: it can go through any JSON encoder, not only the codec."""
    payload = encode_exception(_raised(KeyError((1, 2))))

    rebuilt = decode_exception(json.loads(json.dumps(payload)))

    assert ["builtins", "KeyError", "(1, 2)"] == [
        payload["module"],
        payload["qualname"],
        payload["message"],
    ]
    assert KeyError((1, 2)).args == rebuilt.args


def test_module_outside_the_allow_list_becomes_remote_task_error() -> None:
    """An exception class from a module that is not allowed is never imported or rebuilt."""
    payload = encode_exception(_raised(SampleError("nope")))
    payload["module"] = "tests.adapters.taskmods.never_imported"

    rebuilt = decode_exception(payload)

    assert isinstance(rebuilt, RemoteTaskError)
    assert "tests.adapters.taskmods.never_imported.SampleError" == rebuilt.type_name
    assert "nope" == rebuilt.message
    assert "SampleError: nope" in rebuilt.remote_traceback
    assert rebuilt.remote_traceback.rstrip() in "\n".join(rebuilt.__notes__)


def test_explicit_allow_list_overrides_the_environment() -> None:
    """``allowed`` decides which modules' exceptions are rebuilt."""
    payload = encode_exception(_raised(SampleError("x")))

    refused = decode_exception(payload, allowed=["elsewhere"])
    rebuilt = decode_exception(payload, allowed=["tests.adapters"])

    assert [RemoteTaskError, SampleError] == [type(refused), type(rebuilt)]


def test_uncarriable_args_fall_back_to_the_message() -> None:
    """Args the codec cannot carry are replaced by the message; the type is kept and noted."""
    original = ValueError(object())

    payload = encode_exception(_raised(original))
    rebuilt = decode_exception(codec.loads(codec.dumps(payload)))

    assert False is payload["args_carried"]
    assert ValueError is type(rebuilt)
    assert str(original) == str(rebuilt)
    assert "could not be carried" in rebuilt.__notes__[0]


@pytest.mark.parametrize(
    "original",
    [SystemExit(3), KeyboardInterrupt(), ExceptionGroup("group", [ValueError("inner")])],
    ids=lambda exc: type(exc).__name__,
)
def test_exceptions_that_must_not_be_rebuilt(original: BaseException) -> None:
    """Non-Exception classes (SystemExit...) and unrebuildable ones arrive as RemoteTaskError."""
    rebuilt = _through_the_wire(original)

    assert isinstance(rebuilt, RemoteTaskError)
    assert type(original).__name__ == rebuilt.type_name
    assert str(original) == rebuilt.message


@pytest.mark.parametrize(
    "payload",
    [
        None,
        "ValueError",
        [],
        {},
        {"module": "builtins", "qualname": "print", "args": [], "message": "m"},
        {"module": "builtins", "qualname": "ValueError", "args": {"$t": "nope", "v": 1}},
        {"module": "builtins", "qualname": "ValueError", "args": [1, 2], "message": "m"},
        {"module": "builtins", "qualname": "os.system", "args": [], "message": "m"},
        {"module": "os", "qualname": "error", "args": {"$t": "tuple", "v": []}},
        {"module": 1, "qualname": None, "message": 2, "traceback": 3},
    ],
)
def test_malformed_payloads_still_give_an_exception(payload: Any) -> None:
    """Whatever arrives, decode_exception returns a RemoteTaskError and raises nothing."""
    rebuilt = decode_exception(payload)

    assert RemoteTaskError is type(rebuilt)
