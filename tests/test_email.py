"""The e-mail channel end to end over real SMTP on 127.0.0.1 (tests/email_env.py)."""

from __future__ import annotations

from email.message import EmailMessage

from sqlalchemy import func, select

from storage.models import ChannelIdentity, Conversation, Customer, InboundEvent, Ticket
from storage.models_email import EmailAttachment, EmailRecord
from tests.email_env import OUR_ADDRESS, EmailEnv, customer_mail
from tests.email_env import email_env as email_env  # the fixture
from tests.slack_env import SUPPORT, wait_for


def _text(mail: EmailMessage) -> str:
    part = mail.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def _html(mail: EmailMessage) -> str:
    part = mail.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


async def _count(env: EmailEnv, model: type, **where: object) -> int:
    async with env.core.sessions() as session:
        stmt = select(func.count()).select_from(model).filter_by(**where)
        return int(await session.scalar(stmt) or 0)


async def test_answer_from_kb_in_language_then_reply_threads(email_env: EmailEnv) -> None:
    env = email_env
    first = customer_mail("Hej!\n\nVar är min beställning?\n\n-- \nAnna Andersson\nTel 08-123",
                          subject="Beställning")
    await env.mail(first)
    answer = (await wait_for(lambda: _mails(env, 1)))[0]
    assert "shop.example/orders" in _text(answer) and "Du kan följa" in _text(answer)
    assert answer["In-Reply-To"] == "<m1@example.com>"
    assert answer["References"] == "<m1@example.com>"
    assert answer["Subject"] == "Re: Beställning" and answer["Content-Language"] == "sv"
    assert str(answer["Message-ID"]).endswith("@shop.example>")
    assert answer["Auto-Submitted"] == "auto-replied"
    assert "<html lang=\"sv\">" in _html(answer) and "Du kan följa" in _html(answer)

    reply = customer_mail(
        "Hur lång är leveranstiden?\n\nDen 23 nov. 2026 skrev support@shop.example:\n"
        "> Du kan följa din beställning",
        message_id="<m2@example.com>", in_reply_to=str(answer["Message-ID"]),
        subject="Re: Beställning")
    await env.mail(reply)
    second = (await wait_for(lambda: _mails(env, 2)))[1]
    assert second["In-Reply-To"] == "<m2@example.com>"
    assert str(answer["Message-ID"]) in str(second["References"])
    assert await _count(env, Conversation, channel="email") == 1
    async with env.core.sessions() as session:
        identity = await session.scalar(select(ChannelIdentity).where(
            ChannelIdentity.channel == "email"))
        texts = (await session.scalars(select(InboundEvent.payload))).all()
    assert identity is not None and identity.external_id == "anna@example.com"
    assert all("skrev" not in str(t) and "Anna Andersson" not in str(t) for t in texts), \
        "quoted history and signature are stripped before matching"


async def _mails(env: EmailEnv, n: int) -> list[EmailMessage] | None:
    mails = env.capture.to("anna@example.com")
    return mails if len(mails) >= n else None


async def test_auto_replies_and_bounces_are_ignored(email_env: EmailEnv) -> None:
    env = email_env
    cases = [
        customer_mail("I am out of office", message_id="<a1@x>", Auto_Submitted="auto-replied"),
        customer_mail("Digest", message_id="<a2@x>", Precedence="bulk"),
        customer_mail("Away", message_id="<a3@x>", X_Autoreply="yes"),
    ]
    for mail in cases:
        await env.mail(mail)
    await env.mail(customer_mail("Undeliverable", message_id="<a4@x>"), sender="")
    await env.slack.settle()
    assert env.capture.mails == [], "no answer to a machine"
    assert await _count(env, EmailRecord, status="ignored") == 4
    assert await _count(env, InboundEvent) == 0


async def test_escalated_mail_answered_from_slack_arrives_threaded(email_env: EmailEnv) -> None:
    env = email_env
    await env.mail(customer_mail("I want to talk to a human please", message_id="<h1@example.com>",
                                 subject="Broken blender"))
    ticket = await wait_for(lambda: _ticket(env))
    assert ticket.channel == "email"
    await wait_for(lambda: _has_root(env))
    await env.slack.thread_reply(ticket.id, "!reply We are sending you a new blender today.")
    mail = await wait_for(lambda: _mail_with(env, "new blender"))
    assert mail["In-Reply-To"] is not None and mail["Subject"] == "Re: Broken blender"
    assert "<h1@example.com>" in str(mail["References"])


async def _ticket(env: EmailEnv) -> Ticket | None:
    async with env.core.sessions() as session:
        return await session.scalar(select(Ticket))


async def _has_root(env: EmailEnv) -> bool:
    ticket = await _ticket(env)
    return bool(env.slack.fake.roots(SUPPORT)) and ticket is not None \
        and await env.slack.thread_ts(ticket.id) is not None


async def _mail_with(env: EmailEnv, fragment: str) -> EmailMessage | None:
    return next((m for m in env.capture.mails if fragment in _text(m)), None)


async def test_malformed_and_oversize_mail(email_env: EmailEnv) -> None:
    env = email_env
    broken = (b"From: nobody\r\nSubject: =?utf-8?q?broken\r\n"
              b"Content-Type: multipart/mixed\r\n\r\n\xff\xfe")
    await env.mail(broken)  # accepted (250) and kept for staff; the listener lives on
    assert await _count(env, EmailRecord, status="malformed") == 1
    huge = customer_mail("x" * 300_000, message_id="<big@x>")
    try:
        await env.mail(huge)
    except Exception as exc:  # aiosmtplib raises on the 552
        assert "552" in str(exc) or "too big" in str(exc).lower()
    else:
        raise AssertionError("an oversize mail must be refused")
    status, body = await env.post(huge.as_bytes())
    assert status == 413 and body["outcome"] == "oversize"
    await env.mail(customer_mail("Where is my order?", message_id="<after@x>"))
    await wait_for(lambda: _mails(env, 1))


async def test_http_inbound_auth_attachments_and_rate_limit(email_env: EmailEnv) -> None:
    env = email_env
    mail = customer_mail("Where is my parcel?", sender="bo@example.com", message_id="<p1@x>")
    mail.add_attachment(b"%PDF-1.4 small", maintype="application", subtype="pdf",
                        filename="receipt.pdf")
    mail.add_attachment(b"x" * 5_000, maintype="image", subtype="png", filename="big.png")
    status, _ = await env.post(mail.as_bytes(), token="wrong-token-wrong-token")
    assert status == 401
    status, body = await env.post(b"  ")
    assert status == 400 and "raw RFC 822" in body["error"]["message"]
    status, body = await env.post(mail.as_bytes())
    assert status == 200 and body["outcome"] == "accepted"
    status, body = await env.post(mail.as_bytes())
    assert status == 200 and body["outcome"] == "duplicate"
    async with env.core.sessions() as session:
        rows = (await session.scalars(select(EmailAttachment).order_by(EmailAttachment.id))).all()
    assert [(r.filename, r.size, r.data is not None) for r in rows] == [
        ("receipt.pdf", 14, True), ("big.png", 5_000, False)]
    outcomes = []
    for n in range(6):
        status, body = await env.post(customer_mail(
            "hello", sender="spam@example.com", message_id=f"<s{n}@x>").as_bytes())
        outcomes.append(status)
    assert outcomes == [200] * 5 + [429]
    await wait_for(lambda: _mail_with(env, "shop.example/orders"))
    assert all(str(m["To"]) != OUR_ADDRESS for m in env.capture.mails)


async def test_survey_by_mail_answered_with_a_number_and_unsubscribe(email_env: EmailEnv) -> None:
    env = email_env
    await env.mail(customer_mail("I want to talk to a human please", message_id="<q1@example.com>"))
    ticket = await wait_for(lambda: _ticket(env))
    await wait_for(lambda: _has_root(env))
    assert await env.slack.action("ticket_resolve", ticket.id) == 200
    survey = await wait_for(lambda: _mail_with(env, "How satisfied"))
    text = _text(survey)
    assert "Reply with the number of your choice:" in text and "\n5. 5" in text
    await env.mail(customer_mail("4\n\nOn Monday support wrote:\n> How satisfied",
                                 message_id="<q2@example.com>",
                                 in_reply_to=str(survey["Message-ID"])))
    event = await wait_for(lambda: _event(env, "<q2@example.com>"))
    assert event.payload["kind"] == "callback" and event.payload["callback_data"]
    await wait_for(lambda: _mail_with(env, "Thank you"))

    from bot.channels.email.adapter import unsubscribe_token

    url = f"{env.http_url}/email/unsubscribe"
    async with env.http.get(url, params={"a": "anna@example.com", "t": "forged"}) as resp:
        assert resp.status == 400
    token = unsubscribe_token(env.core.settings, "anna@example.com")
    signed = {"a": "anna@example.com", "t": token, "l": "sv"}
    async with env.http.get(url, params=signed) as resp:  # a link scanner, or a person
        page = await resp.text()
    assert resp.status == 200 and 'method="post"' in page and 'lang="sv"' in page
    assert "Sluta skicka utskick till mig" in page
    async with env.core.sessions() as session:
        customer = await session.get_one(Customer, ticket.customer_id)
    assert (customer.attributes.get("consent") or {}).get("announcements") is not False, \
        "a GET withdraws nothing"
    async with env.http.post(url, params=signed, data="List-Unsubscribe=One-Click") as resp:
        assert resp.status == 200 and "inga fler utskick" in await resp.text()
    async with env.core.sessions() as session:
        customer = await session.get_one(Customer, ticket.customer_id)
    assert customer.attributes["consent"]["announcements"] is False


async def _event(env: EmailEnv, event_id: str) -> InboundEvent | None:
    async with env.core.sessions() as session:
        return await session.scalar(select(InboundEvent).where(
            InboundEvent.event_id == event_id))


async def test_email_identity_links_with_another_channel(email_env: EmailEnv) -> None:
    env = email_env
    await env.slack.customer_says("/link", "t-1")
    text = await wait_for(lambda: _recorded(env, "Your link code is"))
    code = text.split("Your link code is ")[1].split(".")[0]
    await env.mail(customer_mail(f"/link {code}", message_id="<l1@example.com>"))
    await wait_for(lambda: _mail_with(env, "Your channels are now linked"), timeout=15.0)
    async with env.core.sessions() as session:
        owners = (await session.scalars(select(ChannelIdentity.customer_id).where(
            ChannelIdentity.external_id.in_(("c1", "anna@example.com"))))).all()
    assert len(owners) == 2 and len(set(owners)) == 1, "one customer, two channels"


async def _recorded(env: EmailEnv, fragment: str) -> str | None:
    return next((t for t in env.slack.customer.texts() if fragment in t), None)


async def test_callback_requested_by_mail(email_env: EmailEnv) -> None:
    env = email_env
    await env.mail(customer_mail("Can you call me back?", message_id="<k1@example.com>"))
    ask = await wait_for(lambda: _mail_with(env, "Which phone number"))
    await env.mail(customer_mail("020 7946 0958", message_id="<k2@example.com>",
                                 in_reply_to=str(ask["Message-ID"])))
    ask_time = await wait_for(lambda: _mail_with(env, "When would suit you"))
    await env.mail(customer_mail("any time", message_id="<k3@example.com>",
                                 in_reply_to=str(ask_time["Message-ID"])))
    await wait_for(lambda: _mail_with(env, "We'll call you on +442079460958"))
    ticket = await wait_for(lambda: _ticket(env))
    assert ticket.reason == "callback" and ticket.channel == "email"
    assert ticket.subject == "Call back +442079460958 at any time"
