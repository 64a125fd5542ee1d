"""Partial batch failures name the items that raised, beside an unchanged exception.

The remote engines hand back the task's own exception (same type, same message as legacy)
and, as metadata beside it, the indexes in the call's input of the items that raised: the
worker knows them within its batch, the caller adds the batch's offset. Run against real
prefork Celery workers (Redis and RabbitMQ brokers) and a real local Ray; legacy stays
unmarked (its hot path is the legacy code itself).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters import item_errors
from adapters.base import CallOptions, ExecutionEngine
from adapters.legacy.engine import LegacyEngine
from adapters.legacy.marked import MarkedLegacyEngine
from adapters.remote_exceptions import decode_exception, encode_exception
from ground.errors import InvalidArgumentError, RemoteTaskError
from legacy import AsyncWorkerOptimizer
from tests.adapters import equiv_tasks

OPTIONS = CallOptions(worker_id="equiv")


def twelve_items(*failing: int) -> list[int]:
    """0..11 with the ``failing`` positions negative (``fail_on_negative`` raises there)."""
    return [-i if i in failing else i for i in range(12)]


async def legacy_error(items: list[int], batch_size: int) -> BaseException:
    try:
        await AsyncWorkerOptimizer().optimize_batch_processing(
            items, equiv_tasks.fail_on_negative, batch_size, 2
        )
    except Exception as exc:  # noqa: BLE001 - the reference outcome
        return exc
    raise AssertionError("legacy did not raise")


@pytest.mark.parametrize("batch_size", [5, 12, 1])
async def test_item_7_of_12_is_named_and_the_exception_is_unchanged(
    engine: ExecutionEngine, batch_size: int
) -> None:
    """Batch size 5 puts item 7 at index 2 of the second batch: the offset must be added
    once. Type and message are legacy's; remote engines name 7, legacy names nothing."""
    items = twelve_items(7)
    expected = await legacy_error(items, batch_size)
    with pytest.raises(ValueError, match="negative item: -7") as raised:
        await engine.map_batches(items, equiv_tasks.fail_on_negative, batch_size, 2, OPTIONS)
    assert (type(expected), str(expected)) == (type(raised.value), str(raised.value))
    assert expected.args == raised.value.args
    wanted = () if engine.name == "legacy" else (7,)
    assert wanted == item_errors.failed_items(raised.value)


async def test_several_failing_items_of_one_batch_are_all_named(engine: ExecutionEngine) -> None:
    """Items 2 and 7 raise at once in one batch: both are named, the raised one first."""
    if engine.name == "legacy":
        pytest.skip("legacy names no items")
    with pytest.raises(ValueError, match="negative item") as raised:
        await engine.map_batches(twelve_items(2, 7), equiv_tasks.fail_on_negative, 12, 1, OPTIONS)
    failed = item_errors.failed_items(raised.value)
    assert {2, 7} == set(failed)
    assert f"negative item: -{failed[0]}" == str(raised.value)


async def test_pipeline_chunks_name_items_of_the_call(engine: ExecutionEngine) -> None:
    """A pipeline stage's failure names the item's index in the pipeline's input."""
    if engine.name == "legacy":
        pytest.skip("legacy names no items")
    items = list(range(40))
    items[33] = -33
    stages = [equiv_tasks.fail_on_negative, equiv_tasks.fail_on_negative]
    with pytest.raises(ValueError, match="negative item: -33") as raised:
        await engine.run_pipeline(items, stages, OPTIONS)
    assert (33,) == item_errors.failed_items(raised.value)


def test_the_codec_carries_the_indexes_beside_type_args_and_message() -> None:
    """Encoded and rebuilt: same type, args and message, the indexes put back; a payload of
    an older worker (no key) rebuilds with none; a refused type keeps them too."""
    original = ValueError("bad item", 7)
    item_errors.mark(original, [7, 9])
    payload = encode_exception(original)
    assert [7, 9] == payload["failed_items"]
    assert "__cutover" not in str(payload["attributes"])
    rebuilt = decode_exception(payload)
    assert (ValueError, ("bad item", 7), (7, 9)) == (
        type(rebuilt),
        rebuilt.args,
        item_errors.failed_items(rebuilt),
    )
    del payload["failed_items"]
    assert () == item_errors.failed_items(decode_exception(payload))
    refused = {**encode_exception(original), "module": "os", "qualname": "Nope"}
    rebuilt = decode_exception(refused)
    assert isinstance(rebuilt, RemoteTaskError)
    assert (7, 9) == item_errors.failed_items(rebuilt)


@pytest.mark.parametrize("bad", [["7"], [-1], [True], "7", None])
def test_malformed_indexes_are_ignored(bad: Any) -> None:
    """A payload's junk indexes are dropped, never raised over."""
    payload = {**encode_exception(ValueError("x")), "failed_items": bad}
    assert () == item_errors.failed_items(decode_exception(payload))


async def test_gather_marked_names_the_raised_item_first_and_caps() -> None:
    """Every failing task is named, the re-raised one first; siblings are cancelled."""

    async def one(i: int) -> int:
        if i % 2:
            raise ValueError(f"odd {i}")
        await asyncio.sleep(10 if i == 0 else 0)
        return i

    tasks = [asyncio.ensure_future(one(i)) for i in range(100)]
    with pytest.raises(ValueError, match="odd") as raised:
        await item_errors.gather_marked(tasks)
    failed = item_errors.failed_items(raised.value)
    assert len(failed) == item_errors.MAX_FAILED_ITEMS
    assert f"odd {failed[0]}" == str(raised.value)
    assert tasks[0].cancelled()


@given(
    items=st.lists(st.integers(min_value=-50, max_value=50), max_size=30),
    batch_size=st.integers(min_value=1, max_value=12),
    limit=st.integers(min_value=1, max_value=5),
    func=st.sampled_from(
        [
            equiv_tasks.double,
            equiv_tasks.fail_on_negative,
            equiv_tasks.key_error_on_negative,
            equiv_tasks.custom_error_on_negative,
        ]
    ),
)
@settings(max_examples=60)
async def test_the_marked_legacy_engine_is_legacy_plus_the_index(
    items: list[int], batch_size: int, limit: int, func: Any
) -> None:
    """What a shadowed legacy side runs: the same results, or the same exception type, args
    and message as the plain legacy engine, with the index of the item that raised it."""
    plain, marked = LegacyEngine(), MarkedLegacyEngine()

    async def outcome(engine: ExecutionEngine) -> tuple[Any, ...]:
        try:
            return ("ok", await engine.map_batches(items, func, batch_size, limit, OPTIONS))
        except Exception as exc:  # noqa: BLE001 - the outcome compared
            return ("raised", type(exc), exc.args, str(exc), item_errors.failed_items(exc))

    expected, actual = await outcome(plain), await outcome(marked)
    if expected[0] == "raised":
        assert () == expected[-1]  # the plain engine never names anything
        [index] = actual[-1]
        assert items[index] < 0
        assert f"{items[index]}" in actual[3]
        expected, actual = expected[:-1], actual[:-1]
    assert expected == actual


async def test_the_marked_legacy_engine_keeps_legacys_odd_inputs() -> None:
    """Empty input, a tuple and bad arguments behave exactly as on the plain engine."""
    marked = MarkedLegacyEngine()
    assert [] == await marked.map_batches([], equiv_tasks.double, 3, 1)
    assert [2, 4] == await marked.map_batches((1, 2), equiv_tasks.double, 3, 1)
    with pytest.raises(InvalidArgumentError):
        await marked.map_batches([1], equiv_tasks.double, 0, 1)
