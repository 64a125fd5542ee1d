"""What Celery's tools show of a batch (:mod:`adapters.celery.summaries`): counts and shapes,
never a value, whatever the items hold."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from adapters.celery.summaries import shape, summarize, summarize_args

MARKER = "SECRET-7f3a"
"""A value that must never appear in a summary."""

values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.just(MARKER)
    | st.binary(max_size=8).map(lambda b: b + MARKER.encode()),
    lambda children: (
        st.lists(children, max_size=5)
        | st.tuples(children, children)
        | st.dictionaries(st.just(MARKER) | st.sampled_from(["id", "email"]), children, max_size=3)
    ),
    max_leaves=12,
)


@given(items=st.lists(values, max_size=8), worker=st.sampled_from(["billing", "search"]))
def test_a_summary_never_shows_a_value(items: list[Any], worker: str) -> None:
    """Strings, bytes, numbers and keys that are not field names: counted and shaped, never
    shown (a key that is a short identifier is a field name and may show)."""
    text = summarize_args(("myapp.tasks:enrich", items, {"worker": worker, "card": MARKER}))
    assert MARKER not in text
    assert text.startswith(f"('myapp.tasks:enrich', <list of {len(items)} item")
    assert f"worker='{worker}'" in text
    assert MARKER not in summarize(items)


def test_shapes_and_counts() -> None:
    """The preview is the shape of the first three values and says when there are more."""
    assert "<list of 4 items: int, str(6), dict(1 key), …>" == summarize([1, "secret", {"a": 1}, 2])
    assert "<dict of 2 keys: email: str(9), n: int>" == summarize({"email": "a@b.c.com", "n": 3})
    assert "<list of 0 items>" == summarize([])
    assert "bytes(3)" == shape(b"abc")
    assert "(<int>, message 1.5 kB)" == summarize_args((7,), 1500)
