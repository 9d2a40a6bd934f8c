"""Hostile input to the core's own parsers: a clear error or a polite reply, never a crash."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from knowledge.formats import FORMATS, KBFormatError, loads

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (st.lists(children, max_size=4)
                      | st.dictionaries(st.text(), children, max_size=4)),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(max_size=400), fmt=st.sampled_from(FORMATS))
def test_any_text_is_entries_or_a_format_error(text: str, fmt: str) -> None:
    try:
        entries = loads(text, fmt)
    except KBFormatError as exc:
        assert exc.problems and all(isinstance(p, str) for p in exc.problems)
    else:
        assert all(e.id and e.answer for e in entries)


@settings(max_examples=150, deadline=None)
@given(value=json_values)
def test_any_json_structure_is_entries_or_a_format_error(value: object) -> None:
    for fmt, text in (("json", json.dumps(value)), ("jsonl", json.dumps(value) + "\n")):
        try:
            loads(text, fmt)
        except KBFormatError as exc:
            assert "line" in str(exc) or "expected" in str(exc)


def test_deeply_nested_json_is_a_format_error() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    for fmt in ("json", "jsonl", "yaml"):
        with pytest.raises(KBFormatError):
            loads(deep, fmt)
