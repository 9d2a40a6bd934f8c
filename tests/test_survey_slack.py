"""CSAT end to end through the real Slack desk: staff resolve in Slack, the customer gets the
survey, a low score reopens the ticket in the same Slack thread, the comment follows it.
Also the ``crmbot survey`` CLI against the same database."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from bot.messages import InboundMessage
from tests.slack_env import SUPPORT, SlackEnv, wait_for
from tests.slack_env import slack_env as slack_env  # the fixture


async def test_csat_after_resolving_in_slack(slack_env: SlackEnv) -> None:
    env = slack_env
    await env.customer_says("/human", "c-1")
    await wait_for(lambda: _thread(env))
    assert await env.action("ticket_claim", 1) == 200
    assert await env.action("ticket_resolve", 1) == 200
    await wait_for(lambda: _customer_got(env, "How satisfied are you"))
    question = env.customer.sent[-1][1]
    assert next(b.data for row in question.buttons for b in row) == "sv:1:score:1"

    await env.core.ingest(InboundMessage(channel="test", event_id="tap-1", user_id="c1",
                                         chat_id="c1", kind="callback",
                                         callback_data="sv:1:score:2"))
    await wait_for(lambda: _customer_got(env, "reopened your case #1"))
    ticket = await env.ticket(1)
    # the agent who claimed it keeps it (a reopen no longer drops the assignee)
    assert (ticket.status, ticket.priority, ticket.reason) == ("claimed", "high", "low_score")
    assert ticket.assignee is not None
    ts = await env.root_ts(1)
    await wait_for(lambda: _in_thread(env, ts, "asked for a person again"))
    assert len(env.fake.roots(SUPPORT)) == 1, "the same thread, not a new ticket"

    await env.customer_says("Nobody called me back", "c-2")
    await wait_for(lambda: _in_thread(env, ts, "Nobody called me back"))
    await wait_for(lambda: _customer_got(env, "Thank you for your answer"))


async def _thread(env: SlackEnv) -> bool:
    return bool(await env.thread_ts(1))


async def _customer_got(env: SlackEnv, text: str) -> bool:
    return any(text in t for t in env.customer.texts())


async def _in_thread(env: SlackEnv, ts: str, text: str) -> bool:
    return any(text in str(m.get("text", "")) for m in env.fake.thread(SUPPORT, ts))


def test_cli_import_list_results(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CRMBOT_DATABASE_URL", db_url)
    good = tmp_path / "pulse.yaml"
    good.write_text("id: pulse\ntitle: {en: Pulse}\nquestions:\n"
                    "  - {id: score, type: scale, min: 1, max: 5, text: {en: How are we doing}}\n",
                    encoding="utf-8")
    bad = tmp_path / "bad.json"
    bad.write_text('{"id": "bad", "title": {"en": "B"}, "questions": [{"id": "q", '
                   '"type": "scale", "max": 20, "text": {"en": "Q"}}]}', encoding="utf-8")
    assert main(["survey", "import", str(bad)]) == 2
    assert "questions[0].max" in capsys.readouterr().err
    assert main(["survey", "import", str(good)]) == 0
    assert main(["survey", "import", str(good)]) == 0
    assert "version 2" in capsys.readouterr().out
    assert main(["survey", "list"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listing] == ["csat", "nps", "pulse"]
    assert "v2" in listing[2] and "bad" not in "".join(listing)
    out = tmp_path / "answers.csv"
    assert main(["survey", "results", "nps", "--csv", str(out)]) == 0
    assert out.read_text(encoding="utf-8").startswith("run_id,survey_id,campaign")
    assert "survey nps: 0 sent" in capsys.readouterr().out
    assert main(["survey", "send", "nps", "--channel", "test", "--campaign", "c1"]) == 0
    assert "0 queued" in capsys.readouterr().out
    assert main(["survey", "results", "nope"]) == 2
    assert "unknown survey 'nope'" in capsys.readouterr().err


