"""``crmbot customer export`` / ``erase``: everything about a person out, then nothing left.

The erase check reads every column of every table with plain SQL and looks for the person's
names, texts, e-mail and platform ids.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from bot import cli
from bot.core import Core
from storage.models import Base, ChannelIdentity, Conversation, Customer, Message, Ticket, utcnow
from storage.models_email import EmailAttachment, EmailRecord
from storage.models_feedback import Feedback, WebChatMessage
from storage.models_surveys import SurveyAnswer, SurveyRun
from storage.outbox import enqueue
from storage.privacy import uncovered
from tests.identity_support import Person, RecordingDesk, channels, code_in

SECRETS = ("Zelda", "XYZZY42", "PLUGH77", "FROBOZZ", "GRUE", "zelda@example.org",
           "visitor-zq-31337", "99887766")


async def _cli(argv: list[str]) -> int:
    return await asyncio.to_thread(cli.main, argv)


async def _setup(core: Core) -> int:
    core.set_desk(RecordingDesk())
    web_ch, tg_ch, other_ch = channels(core, "web", "telegram", "test")
    web = Person(core, web_ch, "visitor-zq-31337", name="Zelda Quasimodo")
    tg = Person(core, tg_ch, "99887766", name="Zelda Q")
    await web.say("my secret phrase XYZZY42, talk to a person please")
    await tg.say("/link " + code_in(await web.say("/link")))
    await tg.say("also PLUGH77 is my order number")
    await Person(core, other_ch, "other-user", name="Other Person").say("keep this text")
    async with core.sessions.begin() as s:
        conv = await s.scalar(select(Conversation).where(Conversation.channel == "web"))
        assert conv is not None
        s.add(Feedback(source="widget", external_id="fb-1", author="Zelda Quasimodo",
                       email="zelda@example.org", rating=2, text="FROBOZZ was slow",
                       sentiment="negative", conversation_id=conv.id))
        run = SurveyRun(survey_id="csat", subject="ticket:1", conversation_id=conv.id,
                        customer_id=conv.customer_id, channel="web", locale="en",
                        expires_at=utcnow() + timedelta(days=1))
        s.add(run)
        # A second run of the same survey: erasing must keep run subjects (machine keys) unique.
        s.add(SurveyRun(survey_id="csat", subject="ticket:2", conversation_id=conv.id,
                        customer_id=conv.customer_id, channel="web", locale="en",
                        expires_at=utcnow() + timedelta(days=1)))
        await s.flush()
        s.add(SurveyAnswer(run_id=run.id, survey_id="csat", question="score", value=5))
        s.add(SurveyAnswer(run_id=run.id, survey_id="csat", question="why",
                           text="GRUE was helpful"))
        s.add(WebChatMessage(chat_id="visitor-zq-31337", sender="customer",
                             text="XYZZY42 bubble"))
        from bot.messages import OutboundMessage

        enqueue(s, OutboundMessage(channel="slack", chat_id="C1",
                                   text="Zelda Quasimodo wrote XYZZY42"), order_key="ticket:1")
        return conv.customer_id


async def _dump(core: Core) -> str:
    """Every value of every table, as text, straight from SQL."""
    parts = []
    async with core.sessions() as s:
        for table in Base.metadata.sorted_tables:
            for row in await s.execute(text(f"SELECT * FROM {table.name}")):
                parts.append(f"{table.name}: {tuple(row)!r}")
    return "\n".join(parts)


async def test_export_has_everything(core: Core, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    customer_id = await _setup(core)
    monkeypatch.setenv("CRMBOT_DATABASE_URL", core.settings.database_url)
    out = tmp_path / "export.json"
    assert await _cli(["customer", "export", str(customer_id), "--out", str(out)]) == 0
    data = json.loads(out.read_text("utf-8"))
    assert data["customer"]["display_name"] == "Zelda Quasimodo"
    assert [c["display_name"] for c in data["merged_customers"]] == ["Zelda Q"]
    tables = data["tables"]
    for name in ("channel_identities", "conversations", "messages", "tickets", "feedback",
                 "survey_runs", "survey_answers", "web_chat_messages", "inbound_events"):
        assert tables.get(name), name
    assert {i["channel"] for i in tables["channel_identities"]} == {"web", "telegram"}
    dumped = json.dumps(data, ensure_ascii=False)
    for secret in SECRETS:
        assert secret in dumped, secret
    assert "keep this text" not in dumped and "Other Person" not in dumped
    assert await _cli(["customer", "export", "424242"]) == 2


async def test_erase_leaves_no_personal_data(core: Core,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    customer_id = await _setup(core)
    monkeypatch.setenv("CRMBOT_DATABASE_URL", core.settings.database_url)
    async with core.sessions() as s:
        messages_before = await s.scalar(select(func.count()).select_from(Message))
    before = await _dump(core)
    assert all(secret in before for secret in SECRETS)

    assert await _cli(["customer", "erase", str(customer_id)]) == 2, "needs --yes"
    assert "XYZZY42" in await _dump(core), "nothing erased without confirmation"
    assert await _cli(["customer", "erase", str(customer_id), "--yes"]) == 0

    dump = await _dump(core)
    leaks = [line for line in dump.splitlines() if any(s in line for s in SECRETS)]
    assert leaks == []
    assert "keep this text" in dump and "Other Person" in dump, "others untouched"
    async with core.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Message)) == messages_before
        ticket = await s.scalar(select(Ticket))
        assert ticket is not None and ticket.status == "open" and ticket.created_at
        assert await s.scalar(select(SurveyAnswer.value).where(
            SurveyAnswer.question == "score")) == 5, "scores stay for reports"
        assert await s.scalar(select(Feedback.rating)) == 2
        customer = await s.get_one(Customer, customer_id)
        assert customer.display_name is None and customer.attributes.get("erased") is True
        ids = (await s.scalars(select(ChannelIdentity.external_id).where(
            ChannelIdentity.customer_id == customer_id))).all()
        assert ids and all(i.startswith("erased-") for i in ids)
    (tg_ch,) = channels(core, "telegram")
    await Person(core, tg_ch, "99887766", name="Z").say("hello again")
    async with core.sessions() as s:
        new = await s.scalar(select(ChannelIdentity.customer_id).where(
            ChannelIdentity.external_id == "99887766"))
    assert new is not None and new != customer_id, "an erased person is a stranger"


async def test_an_email_customer_is_exported_and_erased_with_the_mail_store(
    core: Core, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    """The e-mail store keys mails by address (chat_id, and sender for mails that never became
    a conversation) and keeps the raw bytes and attachments: all of it is the person's."""
    core.set_desk(RecordingDesk())
    (mail_ch,) = channels(core, "email")
    await Person(core, mail_ch, "mallory@example.net", name="Mallory Mailer").say("QUUX99 parcel")
    async with core.sessions.begin() as s:
        record = EmailRecord(message_id="<m1@example.net>", direction="in",
                             chat_id="mallory@example.net", sender="Mallory@Example.net",
                             subject="QUUX99 parcel", refs="<m0@example.net>", status="accepted",
                             raw=b"From: Mallory@Example.net\r\n\r\nQUUX99")
        s.add(record)
        s.add(EmailRecord(message_id="<bad@example.net>", direction="in", chat_id=None,
                          sender="MALLORY@example.net", subject="QUUX99 again",
                          status="malformed", raw=b"QUUX99 raw"))
        s.add(EmailRecord(message_id="<other@example.org>", direction="in",
                          chat_id="someone@example.org", sender="someone@example.org",
                          subject="keep this mail", status="accepted", raw=b"keep"))
        await s.flush()
        s.add(EmailAttachment(email_id=record.id, filename="QUUX99.pdf",
                              content_type="application/pdf", size=6, data=b"QUUX99"))
        customer_id = await s.scalar(select(Conversation.customer_id).where(
            Conversation.channel == "email"))
    assert customer_id is not None
    monkeypatch.setenv("CRMBOT_DATABASE_URL", core.settings.database_url)
    out = tmp_path / "export.json"
    assert await _cli(["customer", "export", str(customer_id), "--out", str(out)]) == 0
    tables = json.loads(out.read_text("utf-8"))["tables"]
    assert len(tables["email_messages"]) == 2 and len(tables["email_attachments"]) == 1
    assert "keep this mail" not in out.read_text("utf-8")

    assert await _cli(["customer", "erase", str(customer_id), "--yes"]) == 0
    dump = await _dump(core)
    leaks = [line for line in dump.splitlines()
             if "QUUX99" in line or "mallory" in line.lower() or "Mailer" in line]
    assert leaks == []
    assert "keep this mail" in dump and "someone@example.org" in dump, "others untouched"


def test_every_table_is_covered_by_export_and_erase() -> None:
    assert uncovered() == []


def test_a_new_table_with_personal_data_is_caught() -> None:
    from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table

    meta = MetaData()  # a copy of the schema plus two new tables; the real one stays as it is
    for table in Base.metadata.tables.values():
        table.to_metadata(meta)
    Table("loyalty_cards", meta, Column("id", Integer, primary_key=True),
          Column("holder_name", String(100)))
    Table("ticket_tags", meta, Column("id", Integer, primary_key=True),
          Column("ticket_id", ForeignKey("tickets.id")), Column("label", String(500)))
    problems = uncovered(meta)
    assert any("loyalty_cards" in p for p in problems), problems
    assert any("ticket_tags.label" in p for p in problems), problems
    assert uncovered() == []
