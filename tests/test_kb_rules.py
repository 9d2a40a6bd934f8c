"""What a deployment can serve (handlers/faq/rules.py): refused at import, by the CLI, the API."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot import cli
from knowledge.formats import KBFormatError, loads
from tests.admin_support import BOOTSTRAP, Running, running
from tests.conftest import make_settings

GOOD = {"id": "ok_entry", "locale": "en", "question": "Is this fine?", "answer": "Yes."}


@pytest.fixture
async def srv(db_url: str) -> Any:
    async with running(make_settings(db_url, admin_token=BOOTSTRAP)) as r:
        yield r


@pytest.mark.parametrize(("rows", "message"), [
    ([], "the file has no entries"),
    ([{**GOOD, "locale": "de"}], "field 'locale': the bot speaks en, sv, lv"),
    ([{"id": "no_question", "locale": "en", "answer": "Only an answer."}], "field 'question'"),
])
async def test_the_cli_refuses_what_nobody_could_reach(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], rows: list[dict[str, str]], message: str,
) -> None:
    monkeypatch.setenv("CRMBOT_DATABASE_URL", db_url)
    path = tmp_path / "kb.jsonl"
    lines = [GOOD, *rows] if rows else []  # a good entry beside the bad one: nothing imported
    path.write_text("".join(json.dumps(r) + "\n" for r in lines), encoding="utf-8")
    assert await asyncio.to_thread(cli.main, ["kb", "import", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_python_wording_is_translated_for_kb_authors() -> None:
    with pytest.raises(KBFormatError) as refused:
        loads(json.dumps([{**GOOD, "phrasings": "not a list", "colour": "red"}]), "json")
    text = str(refused.value)
    assert "field 'phrasings': must be a list of strings" in text
    assert "field 'colour': is not a knowledge-base field" in text
    assert "tuple" not in text


async def test_the_api_refuses_an_unreachable_entry(srv: Running) -> None:
    async with aiohttp.ClientSession(srv.url, headers=srv.h(srv.admin)) as http:
        async with http.post("/api/v1/kb/entries", json={**GOOD, "locale": "de"}) as resp:
            body = await resp.json()
        assert resp.status == 422 and body["error"]["field"] == "locale"
        async with http.post("/api/v1/kb/import", params={"format": "jsonl"},
                             data=json.dumps({**GOOD, "question": "", "id": "bare"})) as resp:
            body = await resp.json()
        assert resp.status == 422 and "field 'question'" in body["error"]["message"]
        async with http.post("/api/v1/kb/entries", json=GOOD) as resp:
            assert resp.status == 201


async def test_export_and_eval_say_what_went_wrong_in_their_own_words(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CRMBOT_DATABASE_URL", db_url)
    assert await asyncio.to_thread(cli.main, ["kb", "export", str(tmp_path / "kb.xlsx")]) == 2
    err = capsys.readouterr().err
    assert "kb.xlsx: nothing exported" in err and "imported" not in err

    kb = tmp_path / "kb.jsonl"
    kb.write_text(json.dumps(GOOD) + "\n", encoding="utf-8")
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"text": "is this fine?", "expected": "ok_entry", "locale": "en"}\n'
                       '{"text": "what about that?", "expected": "typo_entry", "locale": "en"}\n',
                       encoding="utf-8")
    assert await asyncio.to_thread(cli.main, ["kb", "eval", str(queries), "--kb", str(kb)]) == 0
    captured = capsys.readouterr()
    assert "1 expected id(s) not in the KB (counted as wrong): typo_entry" in captured.err
    assert "queries: 2" in captured.out

    bad_kb = tmp_path / "bad.csv"
    bad_kb.write_text("id,locale\n", encoding="utf-8")
    queries.write_text("{oops\n", encoding="utf-8")
    assert await asyncio.to_thread(cli.main, ["kb", "eval", str(queries), "--kb", str(kb)]) == 2
    assert f"{queries}: line 1: not valid JSON" in capsys.readouterr().err
    assert await asyncio.to_thread(
        cli.main, ["kb", "eval", str(queries), "--kb", str(bad_kb)]) == 2
    err = capsys.readouterr().err
    assert "bad.csv: cannot read this KB file" in err and "imported" not in err
