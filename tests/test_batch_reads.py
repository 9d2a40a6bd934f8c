"""Reads shared by a processing batch (bot/batchreads.py): asked once per batch, and each event
still sees its own conversation's pending survey and its customer's case on another channel."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core import Core
from bot.messages import InboundMessage
from handlers.surveys.campaign import Segment, send_campaign
from storage.models import Conversation
from storage.models_surveys import SurveyAnswer
from tests.helpers import statements
from tests.identity_support import Person, RecordingDesk, channels, code_in


async def _store(person: Person, text: str) -> int:
    """Into the inbox without processing, so several wait for one batch."""
    result = await person.core.ingest(InboundMessage(
        channel=person.channel.name, event_id=f"batch-{person.user}-{text}", user_id=person.user,
        chat_id=person.user, text=text, kind="text"))
    return result.conversation_id


async def test_one_batch_answers_a_survey_joins_a_case_and_asks_each_once(
    core: Core, engine: AsyncEngine
) -> None:
    desk = RecordingDesk()
    core.set_desk(desk)
    web_ch, tg_ch, test_ch = channels(core, "web", "telegram", "test")
    surveyed = Person(core, test_ch, "s1")
    await surveyed.say("hello")
    await send_campaign(core.sessions, core.settings, core.services.translator, "nps", "q4",
                        Segment())
    web, tg = Person(core, web_ch, "w1"), Person(core, tg_ch, "t1")
    await web.say("/human")  # a person handles this customer's case on the web chat
    await web.say(f"/link {code_in(await tg.say('/link'))}")
    plain = Person(core, test_ch, "p1")
    await plain.say("hi")

    cids = [await _store(surveyed, "9"), await _store(tg, "any news?"),
            await _store(plain, "what are your opening hours?")]
    seen = statements(engine)
    outcomes = await core.processor.process_batch(cids)
    await core.outbox.drain()

    assert {o.value for o in outcomes.values()} == {"last"}
    assert sum("FROM survey_runs" in s for s in seen) == 1, seen
    cases = [s for s in seen if s.startswith("SELECT tickets.customer_id, conversations.id")]
    assert len(cases) == 1, seen
    async with core.sessions() as s:
        scores = (await s.scalars(select(SurveyAnswer.value))).all()
        tg_mode = await s.scalar(select(Conversation.mode).where(Conversation.id == cids[1]))
    assert list(scores) == [9], "the pending NPS question was answered"
    assert tg_mode == "human", "the linked channel joined the open case"
    assert [w[1:] for w in desk.wrote] == [(cids[1], "any news?")], "relayed to that case"
    answer = [m.text for _, m in plain.channel.sent if m.chat_id == "p1"][-1]
    assert "9:00" in answer, "the others in the batch were answered as usual"
