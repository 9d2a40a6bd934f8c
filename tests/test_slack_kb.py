"""KB editing from Slack modals: command parsing, modal views, submissions, on both databases."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest

from bot.channels.slack import kb_form as slack_kb
from bot.core import Core
from storage import kb as kb_repo
from tests.conftest import make_settings
from tests.slack_env import AGENT, OTHER_AGENT, SlackEnv
from tests.slack_env import slack_env as slack_env  # the fixture


def _submitted(view: dict[str, Any], **values: str) -> dict[str, Any]:
    """The view as Slack sends it back in view_submission, with typed values."""
    state = {slack_kb.BLOCKS[name]: {"value": {"type": "plain_text_input", "value": value}}
             for name, value in values.items()}
    return {**view, "state": {"values": state}}


def test_parse_command_and_admins() -> None:
    assert slack_kb.parse_kb_command("kb add") == ("add", None, "en")
    assert slack_kb.parse_kb_command("kb edit delivery_time sv") == ("edit", "delivery_time",
                                                                     "sv")
    assert slack_kb.parse_kb_command("kb edit") == slack_kb.USAGE
    assert "unknown language" in str(slack_kb.parse_kb_command("kb add de"))
    settings = make_settings("sqlite+aiosqlite://", slack_kb_admins="U1, U2")
    assert slack_kb.is_kb_admin(settings, "U2") and not slack_kb.is_kb_admin(settings, "U3")
    assert not slack_kb.is_kb_admin(make_settings("sqlite+aiosqlite://"), "U1")


async def test_add_and_edit_through_modals(core: Core) -> None:
    view = slack_kb.build_kb_modal(None, "sv")
    assert view["callback_id"] == slack_kb.CALLBACK_ID and len(json.dumps(view)) < 3000
    async with core.sessions.begin() as session:
        errors = await slack_kb.apply_kb_submission(
            session, _submitted(view, id="bad id", question="Fråga", answer=""), "U1")
    assert isinstance(errors, dict)
    assert set(errors) == {slack_kb.BLOCKS["id"], slack_kb.BLOCKS["answer"]}
    async with core.sessions.begin() as session:
        saved = await slack_kb.apply_kb_submission(
            session, _submitted(view, id="slack_new", question="Fråga?", answer="Svar.",
                                phrasings="ett\n\ntvå", tags="a, b"), "U1")
    assert not isinstance(saved, dict) and saved.phrasings == ("ett", "två")
    async with core.sessions.begin() as session:
        again = await slack_kb.apply_kb_submission(
            session, _submitted(view, id="slack_new", question="x", answer="y"), "U1")
        assert isinstance(again, dict) and "already exists" in again[slack_kb.BLOCKS["id"]]
        entry = await slack_kb.load_for_modal(session, "slack_new", "sv")
        assert entry is not None
        revision = len(await kb_repo.history(session, "slack_new", "sv"))
    edit = slack_kb.build_kb_modal(entry, revision=revision)
    initial = {b.get("block_id"): b.get("element", {}).get("initial_value") for b in
               edit["blocks"]}
    assert initial[slack_kb.BLOCKS["answer"]] == "Svar."
    async with core.sessions.begin() as session:
        done = await slack_kb.apply_kb_submission(
            session, _submitted(edit, question="Fråga?", answer="Nytt svar."), "U2")
        assert not isinstance(done, dict) and done.answer == "Nytt svar."
    async with core.sessions.begin() as session:
        stale = await slack_kb.apply_kb_submission(
            session, _submitted(edit, question="Fråga?", answer="Tredje."), "U3")
        assert isinstance(stale, dict) and "someone else" in stale[slack_kb.BLOCKS["answer"]]
    async with core.sessions() as session:
        history = await kb_repo.history(session, "slack_new", "sv")
        assert [(r.revision, r.actor) for r in history] == [(1, "slack:U1"), (2, "slack:U2")]


async def test_slash_command_opens_modal_and_submission_saves(
    slack_env: SlackEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through signed HTTP: `/crmbot kb add` opens the modal; the submission is a revision."""
    env = slack_env
    monkeypatch.setattr(env.core.settings, "slack_kb_admins", AGENT)
    status, body = await env.command("kb add sv", user=OTHER_AGENT)
    assert status == 200 and "CRMBOT_SLACK_KB_ADMINS" in body, "non-admins are refused"
    status, _ = await env.command("kb add sv")
    assert status == 200
    [(_, opened)] = [c for c in env.fake.calls if c[0] == "views.open"]
    view = opened["view"] if isinstance(opened["view"], dict) else json.loads(opened["view"])
    submitted = _submitted(view, id="gift_wrap", question="Slår ni in presenter?",
                           phrasings="presentinslagning", answer="Ja, gratis.", tags="")
    payload = {"type": "view_submission", "team": {"id": "T0TEAM"}, "user": {"id": AGENT},
               "view": submitted, "api_app_id": "A0APP"}
    form = urlencode({"payload": json.dumps(payload)})
    status, _, _ = await env.post(form, "application/x-www-form-urlencoded")
    assert status == 200
    async with env.core.sessions() as s:
        entry = await kb_repo.get(s, "gift_wrap", "sv")
        history = await kb_repo.history(s, "gift_wrap", "sv")
    assert entry is not None and entry.answer == "Ja, gratis."
    assert history[-1].actor == f"slack:{AGENT}"
