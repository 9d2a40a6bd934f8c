"""Answering a review where it was published: the Slack desk shows the review and the
suggested reply, Approve sends it through the source's signed webhook (retried by the outbox),
and the reply is recorded."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from bot.channels import review_webhooks
from bot.channels.review_webhooks import Webhook
from storage.models_feedback import Feedback
from tests.slack_env import AGENT, INTAKE_TOKEN, SUPPORT, SlackEnv, wait_for
from tests.slack_env import slack_env as slack_env  # the fixture

SECRET = "review-webhook-secret-0123"


class Receiver:
    """The operator's connector to the review site: records signed POSTs."""

    def __init__(self) -> None:
        self.got: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        self.got.append((dict(request.headers), await request.read()))
        return web.Response(status=self.statuses.pop(0) if self.statuses else 200)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/reply", self.handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/reply"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def receiver(slack_env: SlackEnv) -> AsyncIterator[Receiver]:
    found = Receiver()
    await found.start()
    channel: Any = slack_env.core.registry.get("intake")
    channel.hooks = {"trustpilot": Webhook(found.url, SECRET)}
    yield found
    await found.close()


async def _review(env: SlackEnv, external_id: str = "r-1") -> None:
    item = {"source": "trustpilot", "external_id": external_id, "author": "Ilze", "rating": 1,
            "url": "https://reviews.example/r-1", "language": "en",
            "text": "Terrible. My parcel never arrived and nobody answers."}
    base = env.url.rsplit("/slack/events", 1)[0]
    async with env.http.post(base + "/api/v1/feedback", json=item,
                             headers={"Authorization": f"Bearer {INTAKE_TOKEN}"}) as r:
        assert r.status in (200, 201, 202), await r.text()


async def _root_text(env: SlackEnv) -> str:
    roots = env.fake.roots(SUPPORT)
    return json.dumps(roots[-1], ensure_ascii=False) if roots else ""


async def test_approve_sends_the_suggested_reply_through_the_signed_webhook(
        slack_env: SlackEnv, receiver: Receiver) -> None:
    env = slack_env
    await _review(env)
    await wait_for(lambda: _has(env, "Approve reply"))
    root = await _root_text(env)
    assert "Review on trustpilot" in root and "★☆☆☆☆" in root
    assert "https://reviews.example/r-1" in root and "Suggested public reply" in root

    receiver.statuses = [503]  # the connector is down once: the outbox retries
    assert await env.action("ticket_review_approve", 1) == 200
    await wait_for(lambda: _received(receiver, 2), timeout=15)
    headers, body = receiver.got[-1]
    stamp = headers["X-Crmbot-Timestamp"]
    expected = "sha256=" + hmac.new(SECRET.encode(), stamp.encode() + b"." + body,
                                    hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Crmbot-Signature"], expected)
    sent = json.loads(body)
    assert (sent["source"], sent["external_id"]) == ("trustpilot", "r-1")
    async with env.core.sessions() as session:
        row = await session.scalar(select(Feedback))
    assert row is not None and row.reply_text == sent["reply"] == row.suggested_reply
    assert row.replied_by == AGENT and row.replied_at is not None
    await wait_for(lambda: _has(env, "Replied publicly"))
    assert "Approve reply" not in await _root_text(env)


async def test_an_edited_reply_from_the_thread_goes_out_too(slack_env: SlackEnv,
                                                            receiver: Receiver) -> None:
    env = slack_env
    await _review(env)
    await wait_for(lambda: _has(env, "Approve reply"))
    _, status = await env.thread_reply(1, "!reply Sorry, Ilze: we have sent a new parcel today.")
    assert status == 200
    await wait_for(lambda: _received(receiver, 1))
    assert json.loads(receiver.got[0][1])["reply"] == \
        "Sorry, Ilze: we have sent a new parcel today."


async def test_without_a_webhook_the_thread_is_told(slack_env: SlackEnv) -> None:
    env = slack_env
    await _review(env)
    await wait_for(lambda: _has(env, "Approve reply"))
    assert await env.action("ticket_review_approve", 1) == 200
    ts = env.fake.roots(SUPPORT)[0]["ts"]
    await wait_for(lambda: _thread_has(env, ts, "no CRMBOT_REVIEW_WEBHOOKS entry"))


def test_webhook_settings_are_checked() -> None:
    hooks = review_webhooks.parse('{"forum": {"url": "https://x.example/r", '
                                  '"secret": "0123456789abcdef"}}')
    assert hooks == {"forum": Webhook("https://x.example/r", "0123456789abcdef")}
    for raw in ("{", '{"forum": {"url": "ftp://x"}}', '{"forum": {"url": "https://x", '
                '"secret": "short"}}', "[1]"):
        with pytest.raises(ValueError, match="CRMBOT_REVIEW_WEBHOOKS"):
            review_webhooks.parse(raw)


async def _has(env: SlackEnv, fragment: str) -> bool:
    return fragment in await _root_text(env) or any(
        fragment in json.dumps(u, ensure_ascii=False)
        for u in env.fake.method_calls("chat.update"))


async def _received(receiver: Receiver, n: int) -> bool:
    return len(receiver.got) >= n


async def _thread_has(env: SlackEnv, ts: str, fragment: str) -> bool:
    return any(fragment in m["text"] for m in env.fake.thread(SUPPORT, ts))


async def test_edit_opens_the_suggestion_in_a_modal_and_sends_the_edited_text(
        slack_env: SlackEnv, receiver: Receiver) -> None:
    from urllib.parse import urlencode

    env = slack_env
    await _review(env)
    await wait_for(lambda: _has(env, "Edit reply"))
    assert await env.action("ticket_review_edit", 1) == 200
    [(_, opened)] = [c for c in env.fake.calls if c[0] == "views.open"]
    view = opened["view"] if isinstance(opened["view"], dict) else json.loads(opened["view"])
    element = view["blocks"][0]["element"]
    async with env.core.sessions() as session:
        row = await session.scalar(select(Feedback))
    assert row is not None and element["initial_value"] == row.suggested_reply

    def submit(text: str) -> str:
        state = {"reply": {"text": {"type": "plain_text_input", "value": text}}}
        payload = {"type": "view_submission", "team": {"id": "T0TEAM"},
                   "user": {"id": AGENT}, "api_app_id": "A0APP",
                   "view": {**view, "id": "V0EDIT", "state": {"values": state}}}
        return urlencode({"payload": json.dumps(payload)})

    status, body, _ = await env.post(submit("   "), "application/x-www-form-urlencoded")
    assert status == 200 and "Write the reply first" in body
    status, _, _ = await env.post(submit("Sorry Ilze, a new parcel left today."),
                                  "application/x-www-form-urlencoded")
    assert status == 200
    await wait_for(lambda: _received(receiver, 1))
    assert json.loads(receiver.got[0][1])["reply"] == "Sorry Ilze, a new parcel left today."
