"""Surveys through the real core: CSAT after a resolved ticket, NPS campaigns, in en/sv/lv,
with follow-ups, interruptions, skips, expiry, double taps and low-score escalation."""

from __future__ import annotations

import itertools
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.compose import build_core
from bot.core import Core
from bot.desk import DeskEvent, DeskPost, NullDesk
from bot.messages import InboundMessage, StaffAction
from handlers.surveys import results
from handlers.surveys.campaign import CampaignResult, Segment, send_campaign
from storage.models import ChannelIdentity, Customer, OutboxItem, Ticket, utcnow
from storage.models_surveys import SurveyAnswer, SurveyRun
from tests.conftest import make_settings
from tests.test_conversation import Chat

_ids = itertools.count()


class RecordingDesk(NullDesk):
    """Records what reaches the desk (the Slack desk implements the same protocol)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, str]] = []

    def handle(self, event: DeskEvent) -> list[DeskPost]:
        if event.ticket is not None and event.kind == "escalated":
            self.calls.append(("escalated", event.ticket.id, event.ticket.reason))
        if event.ticket is not None and event.kind == "customer_wrote":
            self.calls.append(("customer_wrote", event.ticket.id, event.text))
        return []


@pytest.fixture
def chat(core: Core) -> Chat:
    return Chat(core)


@pytest.fixture
def desk(core: Core) -> RecordingDesk:
    d = RecordingDesk()
    core.set_desk(d)
    return d


async def resolve(core: Core, chat: Chat, ticket: int, agent: str = "U0AGENT") -> list[str]:
    """Staff resolve the ticket the way the Slack desk does: a staff event in the inbox."""
    before = len(chat.channel.sent)
    event = StaffAction(action="resolve", ticket=ticket, user=agent).inbound(
        "slack", f"s{next(_ids)}", chat.chat)
    result = await core.ingest(event)
    await core.processor.process_conversation(result.conversation_id)
    await core.outbox.drain()
    return [m.text for _, m in chat.channel.sent[before:]]


EVERYONE = Segment()


async def campaign(core: Core, name: str, segment: Segment = EVERYONE,
                   survey: str = "nps") -> CampaignResult:
    result = await send_campaign(core.sessions, core.settings, core.services.translator,
                                 survey, name, segment)
    await core.outbox.drain()
    return result


async def one(core: Core, model: Any, **where: Any) -> Any:
    async with core.sessions() as s:
        return (await s.scalars(select(model).filter_by(**where))).one()


async def answers(core: Core) -> list[tuple[str, int | None, str | None]]:
    async with core.sessions() as s:
        rows = await s.execute(select(SurveyAnswer.question, SurveyAnswer.value,
                                      SurveyAnswer.text).order_by(SurveyAnswer.id))
        return [(q, v, t) for q, v, t in rows.all()]


async def test_csat_after_resolution_low_score_reopens_ticket(
    chat: Chat, core: Core, desk: RecordingDesk
) -> None:
    assert "case #1" in (await chat.say("/human"))[0]
    replies = await resolve(core, chat, 1)
    assert "case #1 is now resolved" in replies[0]
    assert replies[1].startswith("How satisfied are you")
    assert chat.last_buttons() == [f"sv:1:score:{v}" for v in range(1, 6)]

    low = await chat.press("sv:1:score:1")
    assert low[0].startswith("We're sorry to hear that. What went wrong?")
    assert "reopened your case #1" in low[1]
    ticket = await one(core, Ticket, id=1)
    # the agent who resolved it keeps the case (issue 30: a reopen no longer drops the assignee)
    assert (ticket.status, ticket.priority, ticket.reason) == ("claimed", "high", "low_score")
    assert ticket.assignee == "U0AGENT" and ticket.resolved_at is None
    assert ("escalated", 1, "low_score") in desk.calls, "the low score reaches the desk"

    thanks = "Thank you for your answer! It helps us get better."
    assert await chat.say("The courier was rude") == [thanks]
    assert ("customer_wrote", 1, "The courier was rude") in desk.calls
    run = await one(core, SurveyRun, id=1)
    assert (run.status, run.agent, run.ticket_id, run.subject) == (
        "completed", "U0AGENT", 1, "ticket:1")
    assert await answers(core) == [("score", 1, None), ("wrong", None, "The courier was rude")]

    again = await resolve(core, chat, 1)
    assert len(again) == 1 and "resolved" in again[0], "once per ticket: no second survey"
    async with core.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(SurveyRun)) == 1


async def test_csat_in_swedish_score_typed_as_a_word(chat: Chat, core: Core) -> None:
    await chat.say("/lang sv")
    await chat.say("/human")
    replies = await resolve(core, chat, 1)
    assert replies[1].startswith("Hur nöjd är du med hjälpen")
    assert "Skriv /skip" in replies[1]
    assert await chat.say("fem") == ["Tack för ditt svar! Det hjälper oss att bli bättre."]
    assert await answers(core) == [("score", 5, None)]
    ticket = await one(core, Ticket, id=1)
    assert ticket.status == "resolved", "a good score does not reopen anything"


async def test_nps_campaign_in_latvian_with_interruption_and_resume(
    chat: Chat, core: Core, desk: RecordingDesk
) -> None:
    await chat.say("/lang lv")
    result = await campaign(core, "spring", Segment(locale="lv"))
    assert (result.queued, result.already) == (1, 0)
    assert chat.channel.texts()[-1].startswith("Cik ticams, ka jūs mūs ieteiktu")
    assert chat.last_buttons() == [f"sv:1:score:{v}" for v in range(11)]

    replies = await chat.say("How much does shipping cost?")
    assert "50 EUR" in replies[0], "the unrelated question is answered first"
    assert replies[-1].startswith("Atgriežamies pie mūsu īsās aptaujas:")
    assert chat.last_buttons()[0] == "sv:1:score:0", "then the pending question again"
    assert (await chat.say("/survey"))[0].startswith("Cik ticams")

    follow = await chat.say("pieci")
    assert follow[0].startswith("Paldies. Ko mēs varētu darīt labāk?")
    done = await chat.say("Piegāde bija pārāk lēna")
    assert done[0] == "Paldies par jūsu atbildēm!"
    assert "#1" in done[1], "a detractor with a comment opens a ticket"
    ticket = await one(core, Ticket, id=1)
    assert (ticket.reason, ticket.priority, ticket.subject) == (
        "low_score", "high", "Piegāde bija pārāk lēna")
    assert ("escalated", 1, "low_score") in desk.calls
    assert await answers(core) == [("score", 5, None), ("improve", None, "Piegāde bija pārāk lēna")]

    rerun = await campaign(core, "spring", Segment(locale="lv"))
    assert (rerun.queued, rerun.already) == (0, 0), "in a ticket now: busy, not resent"
    assert rerun.busy == 1


async def test_english_promoter_follow_up_and_campaign_is_resumable(
    chat: Chat, core: Core
) -> None:
    await chat.say("hello")
    first = await campaign(core, "q1")
    assert first.queued == 1
    assert (await chat.say("9"))[0].startswith("Thanks! What is the main reason")
    assert await chat.say("Fast delivery") == ["Thank you for your answers!"]
    again = await campaign(core, "q1")
    assert (again.queued, again.already) == (0, 1), "re-running never sends twice"
    async with core.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Ticket)) == 0


async def test_skip_words_and_command(core: Core) -> None:
    for i, word in enumerate(["/skip", "skip", "hoppa över", "izlaist"]):
        chat = Chat(core, chat=f"s{i}")
        await chat.say("/lang " + ("sv" if word == "hoppa över" else "en"))
        await campaign(core, f"c{i}", Segment(customer_ids=(i + 1,)))
        reply = await chat.say(word)
        assert reply[0] in ("No problem, I've skipped the survey.",
                            "Inga problem, jag hoppar över enkäten."), word
    async with core.sessions() as s:
        statuses = (await s.scalars(select(SurveyRun.status))).all()
    assert statuses == ["skipped"] * 4
    assert await Chat(core, chat="s0").say("/skip") == [
        "There is no survey waiting for your answer."]


async def test_expired_survey_is_not_answered(chat: Chat, core: Core) -> None:
    await chat.say("hello")
    await campaign(core, "old")
    async with core.sessions.begin() as s:
        await s.execute(update(SurveyRun).values(expires_at=utcnow() - timedelta(minutes=1)))
    replies = await chat.say("7")
    assert not any("reason" in r or "better" in r for r in replies), replies
    assert await answers(core) == []
    assert (await one(core, SurveyRun, id=1)).status == "expired"
    assert await chat.press("sv:1:score:9") == ["This survey has closed. Thank you anyway!"]
    assert await answers(core) == []


async def test_double_taps_count_once(chat: Chat, core: Core) -> None:
    await chat.say("hello")
    await campaign(core, "taps")
    first = await chat.press("sv:1:score:10")
    assert first[0].startswith("Thanks! What is the main reason")
    assert await chat.press("sv:1:score:10") == [], "the same tap again: nothing"
    assert await chat.press("sv:1:score:3") == [], "a different tap on the same question: nothing"
    assert await answers(core) == [("score", 10, None)]


async def test_two_taps_stored_before_processing_count_once(chat: Chat, core: Core) -> None:
    await chat.say("hello")
    await campaign(core, "race")
    taps = [InboundMessage(channel="test", event_id=f"tap{i}", user_id="c1", chat_id="c1",
                           kind="callback", callback_data=f"sv:1:score:{v}")
            for i, v in enumerate((2, 8))]
    for tap in taps:
        cid = (await core.ingest(tap)).conversation_id
    await core.processor.process_conversation(cid)
    await core.outbox.drain()
    assert await answers(core) == [("score", 2, None)]


async def test_stale_or_foreign_buttons_are_refused(chat: Chat, core: Core) -> None:
    await chat.say("hello")
    assert await chat.press("sv:99:score:5") == ["This survey has closed. Thank you anyway!"]
    assert await chat.press("sv:bad") == ["This survey has closed. Thank you anyway!"]
    await campaign(core, "x")
    assert await chat.press("sv:1:score:42") == ["This survey has closed. Thank you anyway!"]
    assert await answers(core) == [], "an out-of-range value is not stored"


async def test_campaign_respects_unreachable_consent_and_segment(core: Core) -> None:
    chats = [Chat(core, chat=f"k{i}") for i in range(4)]
    for c in chats:
        await c.say("hello")
    async with core.sessions.begin() as s:
        await s.execute(update(ChannelIdentity).where(ChannelIdentity.external_id == "k1")
                        .values(unreachable_reason="blocked the bot"))
        await s.execute(update(Customer).where(Customer.id == 3)
                        .values(attributes={"consent": {"surveys": False}}))
        await s.execute(update(Customer).where(Customer.id == 4)
                        .values(attributes={"consent": False}, locale="sv"))
    assert (await campaign(core, "n", Segment(locale="lv"))).queued == 0
    result = await campaign(core, "n", Segment(channel="test"))
    assert (result.queued, result.unreachable, result.opted_out) == (1, 1, 2)
    assert (await one(core, SurveyRun, campaign="n")).customer_id == 1


async def test_delayed_csat_waits_in_the_outbox(
    db_url: str, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    core = build_core(make_settings(db_url, csat_delay_minutes=30), engine=engine)
    await core.prepare()
    # drain() waits for *all* pending items; the delayed one stays pending by design.
    monkeypatch.setattr(core.outbox, "drain", partial(type(core.outbox).drain, core.outbox,
                                                      timeout=0.5))
    chat = Chat(core)
    await chat.say("/human")
    replies = await resolve(core, chat, 1)
    assert len(replies) == 1 and "resolved" in replies[0], "the survey is not sent yet"
    item = await one(core, OutboxItem, order_key="survey:1")
    assert item.status == "pending"
    assert item.next_attempt_at - utcnow() > timedelta(minutes=29)
    assert "50 EUR" in (await chat.say("How much does shipping cost?"))[0], \
        "a later item of its own order key holds back no replies"
    assert await chat.say("5") != ["Thank you for your answer! It helps us get better."]
    assert await answers(core) == [], "not an answer before the question was asked"

    past = utcnow() - timedelta(seconds=1)
    async with core.sessions.begin() as s:  # time passes (the item survives restarts: a row)
        await s.execute(update(OutboxItem).where(OutboxItem.id == item.id)
                        .values(next_attempt_at=past))
        await s.execute(update(SurveyRun).values(due_at=past))
    await core.outbox.drain()
    assert chat.channel.texts()[-1].startswith("How satisfied are you")
    assert await chat.say("5") == ["Thank you for your answer! It helps us get better."]


async def test_results_summary_and_csv(core: Core) -> None:
    scores = [10, 9, 9, 8, 7, 6, 3, 0, 10, 5]
    for i, score in enumerate(scores):
        chat = Chat(core, chat=f"r{i}")
        await chat.say("/lang sv" if i % 2 else "hello")
        await campaign(core, "res", Segment(customer_ids=(i + 1,)))
        await chat.say(str(score))
    summary = await _summary(core)
    head = summary.questions[0]
    assert head.score is not None and head.score.count == 10
    assert head.score.nps == pytest.approx(100 * (4 - 4) / 10)
    assert head.score.distribution == {0: 1, 3: 1, 5: 1, 6: 1, 7: 1, 8: 1, 9: 2, 10: 2}
    assert summary.sent == 10 and summary.responded == 10 and summary.completed == 0
    assert set(summary.by_locale) == {"en", "sv"}
    assert summary.by_locale["en"].count == 5
    assert summary.by_channel["test"].nps == head.score.nps
    assert len(summary.by_day) == 1 and len(summary.by_week) == 1
    async with core.sessions() as s:
        text = await results.export_csv(s, "nps")
    lines = text.splitlines()
    assert lines[0] == ",".join(results.CSV_FIELDS)
    assert len(lines) == 11
    assert lines[1].startswith("1,nps,res,,test,en,,score,scale,10,,")
    assert lines[2].startswith("2,nps,res,,test,sv,,score,scale,9,,")


async def _summary(core: Core) -> results.SurveySummary:
    async with core.sessions() as s:
        return await results.summary(s, "nps", utcnow() - timedelta(days=1),
                                     utcnow() + timedelta(days=1))


async def test_csat_results_per_agent(core: Core) -> None:
    for i, (agent, score) in enumerate([("U1", 5), ("U1", 4), ("U2", 2)]):
        chat = Chat(core, chat=f"a{i}")
        await chat.say("/human")
        await resolve(core, chat, i + 1, agent=agent)
        await chat.say(str(score))
    async with core.sessions() as s:
        summary = await results.summary(s, "csat")
    assert {k: v.count for k, v in summary.by_agent.items()} == {"U1": 2, "U2": 1}
    assert summary.by_agent["U1"].average == 4.5
    assert summary.by_agent["U1"].satisfied == 100.0
    assert summary.questions[0].score is not None
    assert summary.questions[0].score.satisfied == pytest.approx(200 / 3)
