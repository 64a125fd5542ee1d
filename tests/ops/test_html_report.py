"""``cutover report --html``: built from real flags and shadow records in Redis, then opened
in a real headless Chromium whose DOM is checked; a screenshot is kept as an artefact."""

from __future__ import annotations

import time
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest

from compat.shadow.recorders.redis_recorder import RedisShadowRecorder
from compat.shadow.records import ItemMismatch
from cutover.cli import main
from cutover.ops.html_report import collect_views, match_rate_series, render_html, write_report
from cutover.ops.rollout import promote, rollback
from flags import FlagRecord, FlagStore, ShadowConfig
from tests.compat.shadow.strategies import make_record
from tests.ops.browser import dump_dom, require_chromium, screenshot
from tests.ops.support import WriteRecords, keep_artifact, outcomes

HOSTILE = '<script>alert("pwned")</script> & <img src=x onerror=alert(1)>'
"""A mismatch diff that contains markup: it must be shown as text, never run."""
HOSTILE_ITEM = "<b onmouseover=alert(2)>item input</b>"
"""A differing item's (redacted) input that contains markup: text only, too."""


class Page(HTMLParser):
    """What the tests read from a page: tags, text per worker section, URLs referenced."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: Counter[str] = Counter()
        self.sections: dict[str, list[str]] = {}
        self.section_tags: dict[str, Counter[str]] = {}
        self.urls: list[str] = []
        self._current: str | None = None
        self._depth = 0
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Count the tag; enter a worker section; collect src/href values."""
        self.tags[tag] += 1
        values = dict(attrs)
        for name in ("src", "href", "xlink:href", "action"):
            if values.get(name):
                self.urls.append(str(values[name]))
        if tag == "section" and values.get("data-worker"):
            self._current = str(values["data-worker"])
            self.sections[self._current] = []
            self.section_tags[self._current] = Counter()
            self._depth = 0
        elif self._current is not None:
            self.section_tags[self._current][tag] += 1
            if tag == "section":
                self._depth += 1

    def handle_endtag(self, tag: str) -> None:
        """Leave the worker section at its closing tag."""
        if tag == "section" and self._current is not None:
            if self._depth == 0:
                self._current = None
            else:
                self._depth -= 1

    def handle_data(self, data: str) -> None:
        """Keep the text of the section it is in."""
        if self._current is not None:
            self.sections[self._current].append(data)

    def text(self, worker: str) -> str:
        """All text of ``worker``'s section, whitespace-joined."""
        return " ".join(" ".join(self.sections[worker]).split())


def after_change() -> float:
    """A moment the records about to be written (up to 0.2 s before it) all follow the last
    flag change: only those count in the verdict."""
    time.sleep(0.25)
    return time.time()


@pytest.fixture
def cutover_week(
    store: FlagStore, recorder: RedisShadowRecorder, write_records: WriteRecords
) -> FlagStore:
    """A week in Redis: billing promoted twice then rolled back by the guard, with mismatches
    (one of them hostile markup) and candidate errors; mail shadowed and ready; search only
    configured."""
    now = time.time()
    gate = ShadowConfig(route="celery", sample=0.2, min_comparisons=100, max_mismatch_rate=0.02)
    store.put(
        "billing", FlagRecord(shadow=gate), expected_version=0, actor="alice", reason="shadow"
    )
    for index, outcome in enumerate(outcomes(match=385, mismatch=5)):
        recorder.record(
            make_record(
                worker="billing",
                call_id=f"b-{index}",
                outcome=outcome,
                primary_latency_s=0.008 + (index % 13) * 0.001,
                candidate_latency_s=0.010 + (index % 17) * 0.0008,
                diffs=(f"$[{index}].note: 'ok' != 'late'",) if outcome == "mismatch" else (),
                created_at=now - 3600 + index * 5,
                flag_version=0,
            )
        )
    assert recorder.flush(10.0)
    # The records predate the flags (and the evidence since a change is not enough yet):
    # the week's promotions were forced.
    promote("billing", "first step", "alice", force=True, store=store, recorder=recorder)
    promote("billing", "second step", "bob", force=True, store=store, recorder=recorder)
    rollback(
        "billing",
        "auto-guard: mismatch rate proven above 2.00%",
        "auto-guard",
        store=store,
    )
    write_records("billing", ["mismatch"] * 30, at=after_change(), diffs=(HOSTILE,))
    write_records("billing", ["candidate_error"] * 5, at=time.time())
    recorder.record(
        make_record(
            worker="billing",
            call_id="billing-batch",
            flag_version=store.get("billing").version,
            outcome="mismatch",
            items=50,
            diffs=("$[41].total: 7 != 8",),
            item_mismatches=(
                ItemMismatch(41, {"note": HOSTILE_ITEM}, ("$.total: 7 != 8",)),
                ItemMismatch(45, {"id": 45}, ("$.tax: 0 != 1", "$.due: 'mon' != 'tue'")),
            ),
            mismatched_items=3,
            created_at=time.time(),
        )
    )
    recorder.record(
        make_record(
            worker="billing",
            call_id="billing-failed-batch",
            flag_version=store.get("billing").version,
            outcome="candidate_error",
            items=12,
            candidate_error="ValueError: item 7 refused",
            failed_items=(
                ItemMismatch(
                    7, {"note": HOSTILE_ITEM}, ("$[7]: candidate raised ValueError: item 7",)
                ),
            ),
            created_at=time.time(),
        )
    )
    assert recorder.flush(10.0)
    mail_gate = ShadowConfig(
        route="ray", min_comparisons=100, max_mismatch_rate=0.05, max_candidate_error_rate=0.05
    )
    store.put(
        "mail", FlagRecord(shadow=mail_gate), expected_version=0, actor="carol", reason="shadow"
    )
    write_records("mail", ["match"] * 150, at=after_change(), candidate="ray")
    store.put(
        "search", FlagRecord(route="ray", percent=5), expected_version=0, actor="dan", reason="try"
    )
    return store


def test_the_page_is_self_contained_and_escapes_everything(
    cutover_week: FlagStore, recorder: RedisShadowRecorder, tmp_path: Path
) -> None:
    """No script, no external reference, the hostile diff only as escaped text."""
    target = tmp_path / "report.html"
    views = write_report(target, cutover_week, recorder)
    text = target.read_text(encoding="utf-8")
    page = Page(text)
    assert ["billing", "mail", "search"] == [view.worker for view in views]
    assert 0 == page.tags["script"]
    assert 0 == page.tags["img"]
    assert 0 == page.tags["link"]
    assert all(url.startswith("#") for url in page.urls), page.urls
    assert "http://" not in text.replace("http://www.w3.org", "")
    assert "https://" not in text
    assert "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;" in text
    assert HOSTILE in page.text("billing")
    assert "&lt;b onmouseover=alert(2)&gt;item input&lt;/b&gt;" in text
    assert 0 == page.section_tags["billing"]["b"]
    billing = page.text("billing")
    assert "Items that raised" in billing
    assert "batch call billing-failed-batch (candidate_error): 1 of 12 items raised" in billing
    assert "$[7]: candidate raised ValueError: item 7" in billing
    assert "Items that raised" not in page.text("mail")


def test_match_rate_series_bins_records_by_time() -> None:
    """Two halves of an hour: all matches, then half mismatches -> rates 1.0 then 0.5."""
    records = [make_record(created_at=1000.0 + i, outcome="match") for i in range(10)]
    records += [
        make_record(created_at=2000.0 + i, outcome="match" if i % 2 else "mismatch")
        for i in range(10)
    ]
    series = match_rate_series(records, bins=2)
    assert [1.0, 0.5] == [rate for _, rate in series]


def test_cli_report_writes_the_page(
    cutover_week: FlagStore, redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``cutover report --html FILE WORKER`` writes that worker's page and says so."""
    target = tmp_path / "mail.html"
    status = main(["report", "--html", str(target), "mail", "--flags-url", redis_url])
    out, err = capsys.readouterr()
    assert 0 == status, err
    assert f"wrote {target}: 1 workers, 1 ready" in out
    assert ["mail"] == list(Page(target.read_text(encoding="utf-8")).sections)


def test_chromium_renders_every_part_of_the_report(
    cutover_week: FlagStore, recorder: RedisShadowRecorder, tmp_path: Path
) -> None:
    """Opened in headless Chromium: per worker the flags, rollout timeline, match rate line,
    latency histograms, top diffs and verdict are in the DOM; a screenshot is kept."""
    chromium = require_chromium()
    target = tmp_path / "cutover-report.html"
    page_text = render_html(collect_views(cutover_week, recorder), source=cutover_week.display_url)
    target.write_text(page_text, encoding="utf-8")
    dom = Page(dump_dom(chromium, target, tmp_path / "profile-dom"))

    assert ["billing", "mail", "search"] == list(dom.sections)
    assert 0 == dom.tags["script"]
    billing = dom.text("billing")
    for part in (
        "Readiness verdict",
        "Current flags",
        "Rollout timeline",
        "Shadow match rate over time",
        "Latency: primary vs candidate",
        "Top mismatch diffs",
        "Candidate errors",
        "Items that differed",
        "Rollout history",
    ):
        assert part in billing, part
    assert "3 of 50 items in 1 batch call(s); newest 1 shown" in billing
    assert "batch call billing-batch (mismatch): 3 of 50 items differ; 1 more" in billing
    assert f'41 {{"note": "{HOSTILE_ITEM}"}} $.total: 7 != 8' in billing
    assert """45 {"id": 45} $.tax: 0 != 1 $.due: 'mon' != 'tue'""" in billing
    assert "Items that differed" not in dom.text("mail")
    assert "NOT READY" in billing
    assert "every call on legacy" in billing
    assert "0 -> [5] -> 25" not in billing  # rolled back: the plan shows 0 as current
    assert "[0] -> 5 -> 25 -> 50 -> 100" in billing
    assert HOSTILE in billing
    assert "ConnectionError: broker went away" in billing
    for word in ("auto-guard", "rollback", "promote"):
        assert word in billing, word
    assert "first step (promote celery 0% -> 5%" in billing
    tags = dom.section_tags["billing"]
    assert 3 <= tags["svg"]
    assert 2 <= tags["polyline"]  # the rollout steps and the match rate line
    assert 10 <= tags["rect"]  # latency bars of both sides
    assert "READY" in dom.text("mail")
    assert "NOT READY" not in dom.text("mail")
    assert "NO EVIDENCE" in dom.text("search")
    assert "5% on ray, 95% on legacy" in dom.text("search")

    shot = screenshot(chromium, target, tmp_path / "profile-shot", tmp_path / "cutover-report.png")
    assert b"\x89PNG" == shot.read_bytes()[:4]
    kept = keep_artifact(shot)
    keep_artifact(target)
    assert kept.read_bytes() == shot.read_bytes()
