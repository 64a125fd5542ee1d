"""Per-item comparison of batches: which items differ, each with its own diff lines.

``compare`` keeps the first few difference lines of a whole result; these tests pin that
``compare_items`` says which items of a batch differ (all of them counted, the first ones
kept), and that records carry them through JSON and read older records without them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from compat.shadow.compare import MAX_DIFFS, NO_ITEMS, compare_items
from compat.shadow.records import ItemMismatch, ShadowRecord
from compat.shadow.runner import ITEMIZED_OPERATIONS, item_mismatches
from cutover.errors import InvalidArgumentError
from flags import ShadowConfig
from tests.compat.shadow.strategies import make_record


def config(**options: Any) -> ShadowConfig:
    """A shadow configuration with ``options``."""
    return ShadowConfig(route="celery", **options)


def test_two_bad_items_of_a_thousand_are_named_by_index() -> None:
    """A thousand-item batch with items 3 and 998 wrong: exactly those two, each with the
    line that says how, where the whole-result diff would not say how many there are."""
    primary = [{"n": i, "total": i * 2} for i in range(1000)]
    candidate = [dict(item) for item in primary]
    candidate[3]["total"] = -1
    candidate[998]["n"] = "998"
    found = compare_items(primary, candidate, config())
    assert 2 == found.count
    assert [3, 998] == [item.index for item in found.differences]
    assert ("$[3].total: 6 != -1",) == found.differences[0].diffs
    assert ("$[998].n: type int != str",) == found.differences[1].diffs


def test_every_differing_item_is_counted_but_only_the_first_are_kept() -> None:
    """All differing items count; ``limit`` of them are kept, in index order."""
    found = compare_items(list(range(50)), [i + 1 for i in range(50)], config(), limit=4)
    assert 50 == found.count
    assert [0, 1, 2, 3] == [item.index for item in found.differences]


def test_each_item_keeps_its_own_diff_lines() -> None:
    """An item with many differences gets up to MAX_DIFFS lines of its own; its neighbour
    still gets its line (the whole-result walk would have stopped at the first item)."""
    primary = [{f"k{j}": j for j in range(10)}, 1]
    candidate = [{f"k{j}": -j - 1 for j in range(10)}, 2]
    found = compare_items(primary, candidate, config())
    assert MAX_DIFFS == len(found.differences[0].diffs)
    assert ("$[1]: 1 != 2",) == found.differences[1].diffs


def test_items_on_one_side_only_differ() -> None:
    """A shorter candidate: the missing items are the differing ones (a partial batch)."""
    found = compare_items([1, 2, 3, 4], [1, 2], config())
    assert [(2, ("$[2]: only in primary: 3",)), (3, ("$[3]: only in primary: 4",))] == [
        (item.index, item.diffs) for item in found.differences
    ]
    longer = compare_items([1], [1, 5], config())
    assert ("$[1]: only in candidate: 5",) == longer.differences[0].diffs


@pytest.mark.parametrize(
    ("primary", "candidate", "options"),
    [
        ([1, 2], [2, 1], {"unordered_lists": True}),
        ([1, 2], (1, 3), {}),
        ({"a": 1}, {"a": 2}, {}),
        (3, 4, {}),
    ],
)
def test_no_items_without_two_ordered_sequences(
    primary: Any, candidate: Any, options: dict[str, Any]
) -> None:
    """Unordered lists have no index to report, and neither has anything that is not two
    lists (or two tuples): the record then stays per call."""
    assert NO_ITEMS == compare_items(primary, candidate, config(**options))


def test_ignored_and_redacted_paths_hold_per_item() -> None:
    """Ignored paths are not compared per item either; redacted values are not shown."""
    primary = [{"at": 1, "card": "4111", "n": 1}, {"at": 2, "card": "4222", "n": 2}]
    candidate = [{"at": 9, "card": "0000", "n": 1}, {"at": 9, "card": "4222", "n": 2}]
    found = compare_items(primary, candidate, config(ignore_paths=("$[*].at",), redact=("card",)))
    assert [0] == [item.index for item in found.differences]
    assert "4111" not in str(found)
    assert "0000" not in str(found)


def test_item_mismatches_carry_each_items_redacted_input() -> None:
    """What the runner stores: per differing item, its own input, redacted; a pattern
    anchored at the call's input (``$[*].password``) applies to the item as it would to the
    whole input."""
    inputs = [{"user": "a", "password": "hunter2"}, {"user": "b", "password": "s3cret"}]
    found = compare_items([1, 2], [1, 3], config())
    [item] = item_mismatches(found, inputs, ("password",))
    assert (1, {"user": "b", "password": "***"}, ("$[1]: 2 != 3",)) == (
        item.index,
        item.input,
        item.diffs,
    )
    [anchored] = item_mismatches(found, inputs, ("$[*].password",))
    assert {"user": "b", "password": "***"} == anchored.input
    assert "batch" in ITEMIZED_OPERATIONS
    assert "task" not in ITEMIZED_OPERATIONS


def test_records_keep_item_mismatches_through_json() -> None:
    """Stored as JSON (the Redis stream, the JSON lines file) and read back unchanged."""
    record = make_record(
        outcome="mismatch",
        item_mismatches=(ItemMismatch(7, {"id": 7}, ("$[7]: 1 != 2",)),),
        mismatched_items=12,
    )
    assert record == ShadowRecord.from_dict(json.loads(json.dumps(record.to_dict())))


def test_older_records_without_the_fields_still_read() -> None:
    """Records written before per-item comparison existed read with empty fields."""
    data = make_record().to_dict()
    del data["item_mismatches"], data["mismatched_items"]
    record = ShadowRecord.from_dict(data)
    assert ((), 0) == (record.item_mismatches, record.mismatched_items)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("not a list", "item_mismatches"),
        ([{"input": 1, "diffs": []}], "item mismatch without 'index'"),
        ([{"index": "3", "diffs": []}], "index"),
        ([{"index": 3, "diffs": "x"}], "diffs"),
    ],
)
def test_malformed_item_mismatches_are_refused(value: Any, message: str) -> None:
    """A malformed stored item is an InvalidArgumentError naming the field."""
    data = {**make_record().to_dict(), "item_mismatches": value}
    with pytest.raises(InvalidArgumentError, match=message):
        ShadowRecord.from_dict(data)
