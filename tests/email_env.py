"""A running crmbot with the e-mail channel on 127.0.0.1: our SMTP listener (aiosmtpd) on port
0, a capturing aiosmtpd server standing in for the outbound relay, the fake Slack desk, and a
RecordingChannel as another customer channel. Used by tests/test_email*.py.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import aiohttp
import aiosmtplib
import pytest
from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import build_app
from bot.channels.email import EMAIL
from bot.compose import build_core
from bot.core import Core
from tests.conftest import make_settings
from tests.fakes.slack import FakeSlack, SlackSigner
from tests.helpers import RecordingChannel
from tests.slack_env import SECRET, SUPPORT, SlackEnv

OUR_ADDRESS = "support@shop.example"
TOKEN = "email-inbound-token-0123456789"


@dataclass
class Capture:
    """The outbound relay: records every mail; ``script`` holds replies to force (e.g. 451)."""

    mails: list[EmailMessage] = field(default_factory=list)
    script: deque[str] = field(default_factory=deque)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.script:
            return self.script.popleft()
        raw = envelope.original_content or envelope.content or b""
        assert isinstance(raw, bytes)
        mail = message_from_bytes(raw, policy=policy.default)
        assert isinstance(mail, EmailMessage)
        self.mails.append(mail)
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.mails if str(m["To"]) == address]


@dataclass
class EmailEnv:
    core: Core
    capture: Capture
    smtp_port: int
    http_url: str
    http: aiohttp.ClientSession
    slack: SlackEnv

    async def mail(self, raw: bytes | EmailMessage, sender: str = "anna@example.com") -> None:
        """Deliver a mail to our listener over real SMTP (raises on a 4xx/5xx reply)."""
        data = raw.as_bytes() if isinstance(raw, EmailMessage) else raw
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=self.smtp_port, timeout=5,
                                   start_tls=False) as smtp:
            await smtp.sendmail(sender, [OUR_ADDRESS], data)

    async def post(self, raw: bytes, token: str = TOKEN) -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "message/rfc822"}
        async with self.http.post(f"{self.http_url}/email/inbound", data=raw,
                                  headers=headers) as resp:
            return resp.status, await resp.json()


def customer_mail(text: str, *, sender: str = "anna@example.com", subject: str = "Question",
                  message_id: str = "<m1@example.com>", in_reply_to: str | None = None,
                  name: str = "Anna", **headers: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = f"{name} <{sender}>"
    mail["To"] = OUR_ADDRESS
    mail["Subject"] = subject
    mail["Message-ID"] = message_id
    if in_reply_to:
        mail["In-Reply-To"] = in_reply_to
        mail["References"] = in_reply_to
    for key, value in headers.items():
        mail[key.replace("_", "-")] = value
    mail.set_content(text)
    return mail


async def start_capture(capture: Capture) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: SMTP(capture, hostname="relay.test"),
                                    host="127.0.0.1", port=0)


@pytest.fixture
async def email_env(db_url: str, engine: AsyncEngine) -> AsyncIterator[EmailEnv]:
    capture = Capture()
    relay = await start_capture(capture)
    fake = FakeSlack()
    api = await fake.start()
    try:
        settings = make_settings(
            db_url, slack_bot_token=fake.token, slack_signing_secret=SECRET, slack_api_url=api,
            slack_support_channel=SUPPORT, widget_secret="email-tests-widget-secret-0123456789",
            email_from=OUR_ADDRESS, smtp_host="127.0.0.1",
            smtp_port=relay.sockets[0].getsockname()[1], smtp_security="none", smtp_timeout=5,
            smtp_listen_port=0, email_inbound_token=TOKEN, email_max_bytes=200_000,
            email_max_attachment_bytes=1_000, email_max_attachments=2,
            email_rate_limit="5/minute",
        )
        core = build_core(settings, engine=engine)
        customer = RecordingChannel()
        core.registry.add(customer)
        app = build_app(settings, core)
        runner = web.AppRunner(app)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = runner.addresses[0][1]
            smtp_port = app[EMAIL].port
            assert smtp_port
            async with aiohttp.ClientSession() as http:
                slack = SlackEnv(core, fake, SlackSigner(SECRET), customer,
                                 f"http://127.0.0.1:{port}/slack/events", http)
                yield EmailEnv(core, capture, smtp_port, f"http://127.0.0.1:{port}", http, slack)
        finally:
            await runner.cleanup()
    finally:
        await fake.close()
        relay.close()
        await relay.wait_closed()
