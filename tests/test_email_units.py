"""E-mail channel pieces on their own: text extraction, auto-reply detection, composing,
settings validation, and the SMTP outcome mapping against a real aiosmtpd relay."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from bot.channels.email.adapter import EmailAdapter, unsubscribe_token
from bot.channels.email.compose import Thread, compose
from bot.channels.email.parse import MalformedMail, parse_mail
from bot.channels.email.text import html_to_text, strip_reply
from bot.config import ConfigError, load_settings
from bot.i18n import Translator
from bot.messages import Button, OutboundMessage
from storage.models_email import EmailRecord
from tests.conftest import make_settings
from tests.email_env import Capture, customer_mail, start_capture


def test_html_only_mail_becomes_text_without_quotes() -> None:
    mail = EmailMessage()
    mail["From"] = "Līga <liga@example.lv>"
    mail["Message-ID"] = "<h@x>"
    mail.set_content("<html><style>p{}</style><body><p>Kur ir mans&nbsp;pasūtījums?</p>"
                     "<blockquote>old answer</blockquote></body></html>", subtype="html",
                     charset="iso-8859-13")
    parsed = parse_mail(mail.as_bytes())
    assert parsed.text == "Kur ir mans pasūtījums?" and parsed.sender == "liga@example.lv"


def test_strip_reply_variants() -> None:
    assert strip_reply("Thanks!\n\nOn Mon, 23 Nov 2026, Shop <s@x> wrote:\n> hi") == "Thanks!"
    assert strip_reply("Tack\n\nSkickat från min iPhone") == "Tack"
    assert strip_reply("Labi\n\n2026. g. 23. nov., Shop rakstīja:\n> x") == "Labi"
    assert strip_reply("Ok\n\nFrom: Shop <s@x>\nSent: Monday") == "Ok"
    assert html_to_text("<div>a</div><div>b</div>") == "a\nb"


@pytest.mark.parametrize(("header", "value"), [
    ("Auto-Submitted", "auto-generated"), ("Precedence", "junk"), ("Precedence", "list"),
    ("X-Autorespond", "1"),
])
def test_machine_mail_detected(header: str, value: str) -> None:
    mail = customer_mail("hi")
    mail[header] = value
    assert parse_mail(mail.as_bytes()).auto_reason


def test_human_mail_is_not_automatic_and_garbage_is_malformed() -> None:
    mail = customer_mail("hi", Auto_Submitted="no")
    assert parse_mail(mail.as_bytes(), "anna@example.com").auto_reason is None
    with pytest.raises(MalformedMail):
        parse_mail(b"\x00\x01 not a mail at all")


def _translator() -> Translator:
    return Translator()


def test_compose_buttons_threading_and_unsubscribe() -> None:
    message = OutboundMessage(
        channel="email", chat_id="anna@example.com", text="How satisfied are you?",
        buttons=((Button("Very", data="s:5"), Button("Not", data="s:1")),
                 (Button("Read more", url="https://shop.example/faq"),)),
        locale="lv", meta={"broadcast": 7},
    )
    thread = Thread("<m2@x>", ("<m1@x>",), "Pasūtījums")
    composed = compose(message, sender="s@shop.example", domain="mail.shop.example",
                       thread=thread, translator=_translator(),
                       unsubscribe_url="https://bot/email/unsubscribe?a=x")
    mail = composed.mail
    text = str(mail.get_body(("plain",)).get_content())  # type: ignore[union-attr]
    assert "1. Very" in text and "2. Not" in text and "Read more: https://shop.example/faq" in text
    assert "Atbildiet ar" in text and composed.options == ("s:5", "s:1")
    assert mail["In-Reply-To"] == "<m2@x>" and mail["References"] == "<m1@x> <m2@x>"
    assert mail["Subject"] == "Jaunumi no mums"  # an announcement is not a "Re:"
    assert mail["List-Unsubscribe"] == "<https://bot/email/unsubscribe?a=x>"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert str(mail["Message-ID"]).endswith("@mail.shop.example>")


@pytest.mark.parametrize(("overrides", "fragment"), [
    ({"smtp_listen_port": 2525}, "CRMBOT_EMAIL_FROM"),
    ({"email_from": "support@shop.example"}, "CRMBOT_SMTP_HOST"),
    ({"email_from": "Shop <support@shop.example>", "smtp_host": "x"}, "bare address"),
    ({"email_from": "s@shop.example", "smtp_host": "x", "smtp_username": "u"}, "PASSWORD"),
    ({"email_from": "s@shop.example", "smtp_host": "x", "email_rate_limit": "lots"},
     "EMAIL_RATE_LIMIT"),
])
def test_half_configured_email_is_a_clear_error(overrides: dict[str, object],
                                                 fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        load_settings(_env_file=None, **overrides)


def test_unsubscribe_token_is_per_address() -> None:
    settings = make_settings("sqlite+aiosqlite://", email_from="s@shop.example", smtp_host="x",
                             email_unsubscribe_secret="0123456789abcdef0123")
    assert unsubscribe_token(settings, "a@x") != unsubscribe_token(settings, "b@x")


@pytest.mark.parametrize(("reply", "outcome"), [
    ("451 4.3.0 try later", "retry"), ("452 4.2.2 mailbox full", "retry"),
    ("554 5.7.1 rejected", "failed"),
])
async def test_smtp_replies_map_to_outbox_outcomes(
    db_url: str, engine: AsyncEngine, reply: str, outcome: str
) -> None:
    capture = Capture()
    capture.script.append(reply)
    relay = await start_capture(capture)
    try:
        settings = make_settings(db_url, email_from="s@shop.example", smtp_host="127.0.0.1",
                                 smtp_port=relay.sockets[0].getsockname()[1],
                                 smtp_security="none", smtp_timeout=5)
        adapter = EmailAdapter(settings, async_sessionmaker(engine), _translator())
        result = await adapter.send(OutboundMessage("email", "anna@example.com", "hi"))
        assert not result.ok
        assert result.permanent is (outcome == "failed"), result
        assert reply.split()[0] in result.error
        assert (await adapter.send(OutboundMessage("email", "anna@example.com", "hi"))).ok
        assert len(capture.mails) == 1
    finally:
        relay.close()
        await relay.wait_closed()


async def test_unreachable_relay_is_retried(db_url: str, engine: AsyncEngine) -> None:
    relay = await start_capture(Capture())
    port = relay.sockets[0].getsockname()[1]
    relay.close()
    await relay.wait_closed()
    settings = make_settings(db_url, email_from="s@shop.example", smtp_host="127.0.0.1",
                             smtp_port=port, smtp_security="none", smtp_timeout=2)
    adapter = EmailAdapter(settings, async_sessionmaker(engine), _translator())
    result = await adapter.send(OutboundMessage("email", "anna@example.com", "hi"))
    assert not result.ok and not result.permanent and result.retry_scope == "global"


async def test_a_mail_with_options_is_on_record_before_the_relay_has_it(
    db_url: str, engine: AsyncEngine
) -> None:
    """A customer may answer "2" the moment the mail arrives; that answer is read against the
    sent mail's numbered options, so the record must exist before the relay accepts the mail
    (it was written only after the relay's answer, and a quick reply became plain text)."""
    sessions = async_sessionmaker(engine)
    at_relay: list[tuple[str, list[str] | None]] = []

    async def latest() -> tuple[str, list[str] | None]:
        async with sessions() as s:
            row = (await s.execute(
                select(EmailRecord.status, EmailRecord.buttons)
                .where(EmailRecord.direction == "out").order_by(EmailRecord.id.desc()).limit(1)
            )).one()
        return row.status, row.buttons

    class Watching(Capture):
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            at_relay.append(await latest())
            return await super().handle_DATA(server, session, envelope)

    capture = Watching()
    capture.script.append("451 4.3.0 try later")
    relay = await start_capture(capture)
    try:
        settings = make_settings(db_url, email_from="s@shop.example", smtp_host="127.0.0.1",
                                 smtp_port=relay.sockets[0].getsockname()[1],
                                 smtp_security="none", smtp_timeout=5)
        adapter = EmailAdapter(settings, sessions, _translator())
        ask = OutboundMessage("email", "anna@example.com", "How satisfied were you?",
                              buttons=((Button("1", "sv:1:1"), Button("5", "sv:1:5")),))
        assert not (await adapter.send(ask)).ok
        assert (await latest())[0] == "failed", "a deferred mail offers no options"
        assert (await adapter.send(ask)).ok
        assert (await latest())[0] == "sent"
    finally:
        relay.close()
        await relay.wait_closed()
    assert at_relay == [("sending", ["sv:1:1", "sv:1:5"])] * 2


def test_a_long_unsubscribe_url_stays_a_plain_header() -> None:
    url = "https://shop.example.com/email/unsubscribe?a=anna.customer%40example.com&t=" + "ab" * 32
    message = OutboundMessage(channel="email", chat_id="anna@example.com", text="News!",
                              locale="en", meta={"broadcast": 1})
    composed = compose(message, sender="s@shop.example", domain="mail.shop.example",
                       thread=None, translator=_translator(), unsubscribe_url=url)
    raw = composed.mail.as_bytes().decode("ascii")
    assert f"List-Unsubscribe: <{url}>\n" in raw and "=?utf-8?" not in raw.split("\n\n")[0]


@pytest.mark.parametrize(("subject", "auto"), [
    ("Automatic reply: Where is my order", True), ("Frånvaro: Anna Berg", True),
    ("Automātiskā atbilde: Re: paka", True), ("Out of Office: back on Monday", True),
    ("Autosvar", True), ("Re: where is my automatic reply setting?", False),
    ("Outing of office staff", False), ("Paketet kom aldrig", False),
])
def test_out_of_office_is_known_by_its_subject(subject: str, auto: bool) -> None:
    from email import message_from_bytes, policy

    from bot.channels.email.parse import auto_reason

    raw = f"From: a@example.org\r\nSubject: {subject}\r\n\r\nI am away.\r\n".encode()
    msg = message_from_bytes(raw, policy=policy.default)
    assert (auto_reason(msg, "a@example.org", None) is not None) is auto  # type: ignore[arg-type]
