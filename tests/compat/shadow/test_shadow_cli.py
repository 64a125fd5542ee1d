"""``cutover shadow report``: a table and JSON, from records written through a recorder."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from compat.shadow.recorders import open_recorder
from compat.shadow.records import ItemMismatch
from cutover.cli import main
from flags import FlagRecord, ShadowConfig, open_store
from tests.compat.shadow.strategies import make_record

GATE = ShadowConfig(
    route="celery", min_comparisons=20, max_mismatch_rate=0.3, max_candidate_error_rate=0.3
)


def write_records(url: str | None = None, *, before_the_flags: int = 0) -> None:
    """Flags with a shadow gate for `billing` (its version 1), and records of `billing` and
    `mail` made under them (plus ``before_the_flags`` mismatches of `billing` made a day
    before, under no flags: version 0)."""
    store = open_store(url)
    try:
        store.put(
            "billing",
            FlagRecord(shadow=GATE),
            expected_version=0,
            actor="test",
            reason="shadow gate",
        )
    finally:
        store.close()
    recorder = open_recorder(url)
    now = time.time()
    for n in range(before_the_flags):
        recorder.record(
            make_record(
                worker="billing",
                call_id=f"old{n}",
                outcome="mismatch",
                diffs=("$[0].total: 1 != 2",),
                created_at=now - 86400 + n,
                flag_version=0,
            )
        )
    for n in range(25):
        outcome = "mismatch" if n == 0 else "match"
        diffs = ("$[0].total: 1 != 2",) if n == 0 else ()
        recorder.record(
            make_record(
                worker="billing",
                call_id=f"b{n}",
                outcome=outcome,
                diffs=diffs,
                created_at=now + n * 0.001,
                flag_version=1,
            )
        )
    recorder.record(make_record(worker="mail", call_id="m0", created_at=now))
    assert recorder.flush()
    recorder.close()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`cutover ARGV` in-process: (status, stdout, stderr)."""
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_report_table(cutover_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The default file store: a summary table, each worker's verdict and its reasons."""
    write_records()
    status, out, err = run(capsys, "shadow", "report")
    assert (0, "") == (status, err)
    rows = [line.split() for line in out.splitlines()[1:3]]
    assert ["billing", "legacy", "->", "celery", "25", "96.00%", "1"] == rows[0][:7]
    assert ["mail", "legacy", "->", "celery", "1", "100.00%", "0"] == rows[1][:7]
    assert "billing: legacy -> celery  [READY]" in out
    assert "[pass] mismatch rate (noise-corrected): 4.00% (1 of 25 comparisons): at most " in out
    assert "mail: legacy -> celery  [UNDECIDED (~" in out
    assert "[ ?? ] comparisons: 1 < 1000 required before ready" in out


def test_report_json_for_one_worker(cutover_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--json prints valid JSON; WORKER restricts it; --limit reads the newest N records."""
    write_records()
    status, out, _ = run(capsys, "shadow", "report", "billing", "--json", "--limit", "10")
    data: dict[str, Any] = json.loads(out)
    assert 0 == status
    (pair,) = data["pairs"]
    assert ("billing", 10, 1.0, "undecided") == (
        pair["worker"],
        pair["comparisons"],
        pair["match_rate"],
        pair["verdict"],
    )
    assert ["comparisons", "error_rate", "latency_ratio", "mismatch_rate"] == sorted(
        pair["criteria"]
    )
    mismatch = pair["criteria"]["mismatch_rate"]
    assert (0.0, 0.0, 0.05, 0.3, 10) == (
        mismatch["estimate"],
        mismatch["lower"],
        mismatch["alpha"],
        mismatch["threshold"],
        mismatch["samples"],
    )
    assert mismatch["upper"] > 0.3


def test_report_from_redis(
    cutover_home: Path, shadow_redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """--flags-url redis://: records and flags read from Redis."""
    write_records(shadow_redis_url)
    status, out, _ = run(capsys, "shadow", "report", "--json", "--flags-url", shadow_redis_url)
    data = json.loads(out)
    assert (0, ["billing", "mail"], shadow_redis_url) == (
        status,
        [pair["worker"] for pair in data["pairs"]],
        data["source"],
    )
    assert 0.3 == data["pairs"][0]["criteria"]["mismatch_rate"]["threshold"]


def test_only_records_since_the_last_flag_change_are_judged(
    cutover_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Like promote, the report judges each worker on the records made since its last flag
    change (40 old mismatches would make billing not_ready) and says how many it left out;
    --all-versions judges them all."""
    write_records(before_the_flags=40)
    status, out, _ = run(capsys, "shadow", "report", "billing")
    assert 0 == status
    assert "billing: legacy -> celery  [READY]" in out
    assert "40 older ones left out; --all-versions includes them" in out
    status, out, _ = run(capsys, "shadow", "report", "billing", "--json", "--all-versions")
    (pair,) = json.loads(out)["pairs"]
    assert (65, "not_ready") == (pair["comparisons"], pair["verdict"])


def write_batch_mismatch() -> None:
    """`billing` flags, 5 matches and one batch call of 20 items of which 4 differ, the first
    two recorded one by one (as the shadow runner records them, inputs already redacted)."""
    write_records()
    recorder = open_recorder(None)
    recorder.record(
        make_record(
            worker="billing",
            call_id="batch-7",
            outcome="mismatch",
            items=20,
            diffs=("$[3].total: 1 != 2",),
            item_mismatches=(
                ItemMismatch(3, {"id": 3, "card": "[REDACTED]"}, ("$.total: 1 != 2",)),
                ItemMismatch(17, {"id": 17}, ("$.total: 5 != 6", "$.tax: 0 != 1")),
            ),
            mismatched_items=4,
            created_at=time.time() + 1,
        )
    )
    assert recorder.flush()
    recorder.close()


def test_report_shows_which_items_of_a_batch_differed(
    cutover_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mismatching batch call: the terminal report names the call, the counts, and each
    recorded item with its index, redacted input and diff lines; --json carries the same.
    Before, only the grouped diff kinds and the call's sample input were shown."""
    write_batch_mismatch()
    status, out, _ = run(capsys, "shadow", "report", "billing")
    assert 0 == status
    lines = out.splitlines()
    start = lines.index("  items that differed: 4 of 20 items in 1 batch call(s); newest 1:")
    assert [
        "    batch call batch-7 (mismatch): 4 of 20 items differ",
        '      item 3, input {"id": 3, "card": "[REDACTED]"}',
        "        $.total: 1 != 2",
        '      item 17, input {"id": 17}',
        "        $.total: 5 != 6",
        "        $.tax: 0 != 1",
        "      ... and 2 more item(s), not recorded one by one",
    ] == lines[start + 1 : start + 8]

    status, out, _ = run(capsys, "shadow", "report", "billing", "--json")
    (pair,) = json.loads(out)["pairs"]
    items = pair["item_mismatches"]
    assert (1, 4, 20) == (items["calls"], items["mismatched_items"], items["items"])
    (call,) = items["newest"]
    assert ("batch-7", 4, 20) == (call["call_id"], call["mismatched_items"], call["items"])
    assert [
        {"index": 3, "input": {"id": 3, "card": "[REDACTED]"}, "diffs": ["$.total: 1 != 2"]},
        {"index": 17, "input": {"id": 17}, "diffs": ["$.total: 5 != 6", "$.tax: 0 != 1"]},
    ] == call["shown"]


def test_report_without_differing_items_says_nothing_about_items(
    cutover_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Mismatches recorded without per-item detail (older records): no items section, and
    --json reports zero calls rather than leaving the key out."""
    write_records()
    status, out, _ = run(capsys, "shadow", "report", "billing")
    assert 0 == status
    assert "items that differed" not in out
    status, out, _ = run(capsys, "shadow", "report", "billing", "--json")
    (pair,) = json.loads(out)["pairs"]
    assert {"calls": 0, "mismatched_items": 0, "items": 0, "newest": []} == pair["item_mismatches"]


def write_batch_failure() -> None:
    """`billing` flags, 5 matches and one batch call of 12 items whose candidate raised on
    item 7 (as the shadow runner records it from a remote engine, input already redacted)."""
    write_records()
    recorder = open_recorder(None)
    recorder.record(
        make_record(
            worker="billing",
            call_id="batch-9",
            outcome="candidate_error",
            items=12,
            candidate_error="ValueError: item 7 refused",
            failed_items=(
                ItemMismatch(
                    7,
                    {"n": 7, "card": "[REDACTED]"},
                    ("$[7]: candidate raised ValueError: item 7 refused",),
                ),
            ),
            created_at=time.time() + 1,
        )
    )
    assert recorder.flush()
    recorder.close()


def test_report_shows_which_items_of_a_batch_raised(
    cutover_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A batch call whose candidate raised on item 7: the terminal report names the call,
    item 7 with its redacted input and the side that raised it; --json carries the same
    under ``failed_items``. Before, only the error's type and message were shown."""
    write_batch_failure()
    status, out, _ = run(capsys, "shadow", "report", "billing")
    assert 0 == status
    lines = out.splitlines()
    start = lines.index("  items that raised: 1 in 1 batch call(s); newest 1:")
    assert [
        "    batch call batch-9 (candidate_error): 1 of 12 items raised",
        '      item 7, input {"n": 7, "card": "[REDACTED]"}',
        "        $[7]: candidate raised ValueError: item 7 refused",
    ] == lines[start + 1 : start + 4]

    status, out, _ = run(capsys, "shadow", "report", "billing", "--json")
    (pair,) = json.loads(out)["pairs"]
    failed = pair["failed_items"]
    assert (1, 1) == (failed["calls"], failed["failed_items"])
    (call,) = failed["newest"]
    assert ("batch-9", 12) == (call["call_id"], call["items"])
    assert [
        {
            "index": 7,
            "input": {"n": 7, "card": "[REDACTED]"},
            "diffs": ["$[7]: candidate raised ValueError: item 7 refused"],
        }
    ] == call["failed_items"]


def test_report_without_failing_items_says_nothing_about_them(
    cutover_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No record names failing items (older records, legacy-only failures): no section,
    and --json reports zero calls rather than leaving the key out."""
    write_records()
    status, out, _ = run(capsys, "shadow", "report", "billing")
    assert (0, False) == (status, "items that raised" in out)
    status, out, _ = run(capsys, "shadow", "report", "billing", "--json")
    assert 0 == status
    (pair,) = json.loads(out)["pairs"]
    assert {"calls": 0, "failed_items": 0, "newest": []} == pair["failed_items"]


def test_no_records(cutover_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Nothing recorded yet: a one-line answer and status 0."""
    status, out, _ = run(capsys, "shadow", "report")
    assert (0, f"no shadow records in {(cutover_home / 'flags.json').as_uri()}\n") == (status, out)


def test_passwords_are_never_printed(
    cutover_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unreachable store is one error line, exit 2, with the password masked."""
    status, out, err = run(
        capsys, "shadow", "report", "--flags-url", "redis://user:s3cret-pw@127.0.0.1:1/6"
    )
    assert (2, "") == (status, out)
    assert "user:***@127.0.0.1:1" in err
    assert "s3cret-pw" not in err


def test_limit_must_be_positive(cutover_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--limit 0 is refused with a clear message."""
    status, _, err = run(capsys, "shadow", "report", "--limit", "0")
    assert 2 == status
    assert "--limit 0: expected at least 1" in err
