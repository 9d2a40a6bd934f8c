"""A running crmbot (real aiohttp app on 127.0.0.1:0, real Bolt and slack-sdk) wired to the fake
Slack Web API, with a RecordingChannel as the customer's channel. Used by tests/test_slack_*.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import build_app
from bot.compose import build_core
from bot.core import Core
from storage.models import InboundEvent, Ticket
from storage.slack_threads import thread_of
from tests.conftest import make_settings
from tests.fakes.slack import FakeSlack, SlackSigner
from tests.helpers import RecordingChannel, inbound

SECRET = "8f14e45fceea167a5a36dedd4bea2543"
SUPPORT = "C0SUPPORT"
ONCALL = "S0ONCALL"
AGENT = "U0AGENT1"
OTHER_AGENT = "U0AGENT2"


@dataclass
class SlackEnv:
    core: Core
    fake: FakeSlack
    signer: SlackSigner
    customer: RecordingChannel
    url: str
    http: aiohttp.ClientSession

    async def post(self, body: str, content_type: str = "application/json", *,
                   headers: dict[str, str] | None = None, ts: int | None = None,
                   secret: str | None = None) -> tuple[int, str, dict[str, str]]:
        sent = self.signer.headers(body, content_type, ts=ts, secret=secret)
        sent.update(headers or {})
        async with self.http.post(self.url, data=body.encode(), headers=sent) as resp:
            return resp.status, await resp.text(), {k.lower(): v for k, v in resp.headers.items()}

    async def action(self, action_id: str, ticket: int, user: str = AGENT) -> int:
        root = await self.root_ts(ticket)
        body = self.signer.action(action_id, str(ticket), user, SUPPORT, root)
        status, _, _ = await self.post(body, "application/x-www-form-urlencoded")
        return status

    async def thread_reply(self, ticket: int, text: str, user: str = AGENT,
                           event_id: str | None = None) -> tuple[str, int]:
        """Post a staff message in the ticket's thread; (the Slack event body, HTTP status)."""
        body = self.signer.thread_reply(SUPPORT, await self.root_ts(ticket), user, text, event_id)
        status, _, _ = await self.post(body)
        return body, status

    async def command(self, text: str, user: str = AGENT) -> tuple[int, str]:
        status, body, _ = await self.post(self.signer.command(text, user, SUPPORT),
                                          "application/x-www-form-urlencoded")
        return status, body

    async def customer_says(self, text: str, event_id: str, name: str = "Anna") -> None:
        await self.core.ingest(inbound(text, event_id, display_name=name))

    async def ticket(self, ticket_id: int = 1) -> Ticket:
        async with self.core.sessions() as session:
            return await session.get_one(Ticket, ticket_id)

    async def thread(self, ticket_id: int = 1) -> tuple[str, str] | None:
        """(channel, thread ts) of the ticket's Slack thread, as the adapter recorded it."""
        async with self.core.sessions() as session:
            return await thread_of(session, ticket_id)

    async def thread_ts(self, ticket_id: int = 1) -> str | None:
        found = await self.thread(ticket_id)
        return found[1] if found else None

    async def root_ts(self, ticket_id: int = 1) -> str:
        """The ticket's thread; waits briefly, since the adapter records it just after Slack
        answered the root post."""
        for _ in range(250):
            ts = await self.thread_ts(ticket_id)
            if ts:
                break
            await asyncio.sleep(0.02)
        assert ts, "the ticket has no thread yet"
        return ts

    async def slack_events(self) -> int:
        async with self.core.sessions() as session:
            stmt = select(func.count()).select_from(InboundEvent).where(
                InboundEvent.channel == "slack")
            return int(await session.scalar(stmt) or 0)

    async def settle(self) -> None:
        """Let everything already stored be processed and delivered."""
        await asyncio.sleep(0.05)
        for cid in await self._conversations():
            await self.core.processor.process_conversation(cid)
        await self.core.outbox.drain(timeout=20)

    async def _conversations(self) -> list[int]:
        async with self.core.sessions() as session:
            rows = await session.scalars(select(InboundEvent.conversation_id).distinct())
            return [int(r) for r in rows.all()]


async def wait_for(check: Callable[[], Awaitable[Any]], timeout: float = 5.0) -> Any:
    """Poll ``check`` until it returns something truthy (the pipeline is asynchronous)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {check}")
        await asyncio.sleep(0.02)


INTAKE_TOKEN = "slack-tests-intake-token-0123456789"


@pytest.fixture
async def slack_env(db_url: str, engine: AsyncEngine,
                    monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SlackEnv]:
    fake = FakeSlack()
    api = await fake.start()
    try:
        settings = make_settings(
            db_url, slack_bot_token=fake.token, slack_signing_secret=SECRET, slack_api_url=api,
            slack_support_channel=SUPPORT, slack_oncall_group=ONCALL,
            escalation_keywords="cancel, complaint",
            widget_secret="slack-tests-widget-secret-0123456789",  # not under test here
            intake_token=INTAKE_TOKEN,  # reviews reach the desk through the intake API
        )
        core = build_core(settings, engine=engine)
        customer = RecordingChannel()
        core.registry.add(customer)
        runner = web.AppRunner(build_app(settings, core))
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = runner.addresses[0][1]
            async with aiohttp.ClientSession() as http:
                yield SlackEnv(core, fake, SlackSigner(SECRET), customer,
                               f"http://127.0.0.1:{port}/slack/events", http)
        finally:
            await runner.cleanup()
    finally:
        await fake.close()
