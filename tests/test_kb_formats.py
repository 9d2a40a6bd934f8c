"""KB files: every format round-trips; a bad file names line and field and imports nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import SAMPLE_KB
from handlers.faq.tool import import_file
from knowledge.entries import KBEntry
from knowledge.formats import FORMATS, KBFormatError, dumps, load_file, loads
from storage import kb as kb_repo
from storage.db import session_factory
from tests.conftest import make_settings

ENTRY = KBEntry(
    id="card_arrival", locale="en", question="When will my card arrive?",
    phrasings=("my card has not come", "card <delivery> & \"time\""), answer="In 3–5 days, ok?",
    tags=("cards",),
)


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_every_format(fmt: str) -> None:
    entries = [ENTRY, ENTRY.model_copy(update={"locale": "lv", "enabled": False, "tags": ()})]
    assert loads(dumps(entries, fmt), fmt) == entries


def test_sample_kb_has_every_entry_in_three_locales() -> None:
    entries = load_file(SAMPLE_KB)
    by_id: dict[str, set[str]] = {}
    for e in entries:
        by_id.setdefault(e.id, set()).add(e.locale)
    assert len(by_id) >= 12
    assert all(locales == {"en", "sv", "lv"} for locales in by_id.values()), by_id


BAD_JSONL = (
    '{"id": "ok_one", "locale": "en", "question": "Q?", "answer": "A"}\n'
    '{"id": "Bad Id", "locale": "en", "question": "Q?", "answer": "A"}\n'
    '{"id": "no_answer", "locale": "en", "question": "Q?"}\n'
    "not json at all\n"
)


def test_jsonl_error_names_line_and_field() -> None:
    with pytest.raises(KBFormatError) as err:
        loads(BAD_JSONL[: BAD_JSONL.index("not json")], "jsonl")
    text = str(err.value)
    assert "line 2, field 'id'" in text and "line 3, field 'answer'" in text
    assert "nothing imported" in text


def test_invalid_json_line_is_named() -> None:
    with pytest.raises(KBFormatError, match="line 4: invalid JSON"):
        loads(BAD_JSONL, "jsonl")


def test_yaml_and_json_errors_name_the_line() -> None:
    yaml_text = "- id: a\n  locale: en\n  question: Q\n  answer: A\n- id: b\n  locale: english\n"
    with pytest.raises(KBFormatError) as err:
        loads(yaml_text, "yaml")
    assert "line 5, field 'locale'" in str(err.value)
    assert "line 5, field 'answer'" in str(err.value)
    json_text = '[\n {"id": "a", "locale": "en", "question": "Q", "answer": "A"},\n {"id": "b"}\n]'
    with pytest.raises(KBFormatError, match="line 3, field 'locale'"):
        loads(json_text, "json")


def test_csv_errors_and_duplicates() -> None:
    csv_text = "id,locale,question,answer\na,en,Q,A\na,en,Q2,A2\nb,en,Q,\n"
    with pytest.raises(KBFormatError) as err:
        loads(csv_text, "csv")
    assert "line 3: duplicate entry id='a'" in str(err.value)
    assert "line 4, field 'answer'" in str(err.value)
    with pytest.raises(KBFormatError, match="unknown CSV column"):
        loads("id,locale,question,answer,colour\n", "csv")


def test_unknown_fields_are_rejected_not_ignored() -> None:
    with pytest.raises(KBFormatError, match="line 1, field 'anwser'"):
        loads('{"id": "a", "locale": "en", "question": "Q", "answer": "A", "anwser": "x"}', "jsonl")


async def test_bad_file_imports_nothing(db_url: str, engine: AsyncEngine, tmp_path: Path) -> None:
    settings = make_settings(db_url)
    good = tmp_path / "good.jsonl"
    good.write_text(dumps([ENTRY], "jsonl"))
    assert (await import_file(settings, good))["created"] == 1
    bad = tmp_path / "bad.jsonl"
    changed = ENTRY.model_copy(update={"answer": "changed"})
    bad.write_text(dumps([changed], "jsonl") + BAD_JSONL)
    with pytest.raises(KBFormatError, match="line 3, field 'id'"):
        await import_file(settings, bad)
    async with session_factory(engine)() as session:
        entries = await kb_repo.list_entries(session)
        assert entries == [ENTRY]
        assert await kb_repo.current_revision(session) == 1


async def test_revisions_are_recorded(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    async with sessions.begin() as s:
        await kb_repo.upsert(s, ENTRY, "alice")
        await kb_repo.upsert(s, ENTRY, "alice")  # unchanged: no new revision
        await kb_repo.upsert(s, ENTRY.model_copy(update={"answer": "B"}), "bob")
        await kb_repo.remove(s, ENTRY.id, ENTRY.locale, "carol")
    async with sessions() as s:
        history = await kb_repo.history(s, ENTRY.id, ENTRY.locale)
        assert [(h.revision, h.action, h.actor) for h in history] == [
            (1, "create", "alice"), (2, "update", "bob"), (3, "delete", "carol"),
        ]
        assert await kb_repo.current_revision(s) == 3
