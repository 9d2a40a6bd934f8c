"""The Slack support desk: escalations as threads, two-way relay, claim/resolve, SLA.

``setup(app, core)`` (called from bot/app.py when CRMBOT_SLACK_BOT_TOKEN is set) registers:

* the ``slack`` channel adapter for the outbox (adapter.py),
* the desk the handlers talk to (desk.py),
* ``POST /slack/events`` served by a Bolt ``AsyncApp`` (events.py),
* a cleanup context owning the one aiohttp session to the Slack Web API and the SLA watch.

Operator guide: docs/channels/slack.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_sdk.web.async_client import AsyncWebClient

from bot.channels.slack.adapter import SlackAdapter
from bot.channels.slack.desk import SlackDesk
from bot.channels.slack.events import SlackEvents
from bot.channels.slack.sla import SlaWatch
from bot.core import Core

ROUTE = "/slack/events"
log = logging.getLogger("crmbot.slack")
API_TIMEOUT = 10


class SlackDeskApp:
    """Everything the Slack desk owns in one process (stored under :data:`SLACK`)."""

    def __init__(self, core: Core) -> None:
        settings = core.settings
        self.client = AsyncWebClient(
            token=settings.slack_bot_token, base_url=settings.slack_api_url,
            timeout=API_TIMEOUT, retry_handlers=[],  # the outbox retries, never the client
        )
        self.adapter = SlackAdapter(self.client, core.sessions)
        self.desk = SlackDesk(settings, core.services.translator)
        self.bolt = SlackEvents(core).build(self.client)
        self.sla = SlaWatch(core.sessions, settings, core.services.translator, core.outbox.wake)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Bolt verifies and dispatches; a body Bolt cannot even parse is a clear 400."""
        try:
            bolt_request = await to_bolt_request(request)
        except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
            # JSON errors, and Bolt's own parsing of an envelope of an unexpected shape
            log.warning("malformed Slack request from %s: %s", request.remote, exc)
            return web.json_response({"error": "malformed request body"}, status=400)
        if not _well_formed(bolt_request.body):
            log.warning("Slack request of an unexpected shape from %s", request.remote)
            return web.json_response({"error": "unexpected request shape"}, status=400)
        bolt_response = await self.bolt.async_dispatch(bolt_request)
        response: web.StreamResponse = await to_aiohttp_response(bolt_response)
        return response

    async def lifetime(self, app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession() as session:
            self.client.session = session
            task = asyncio.create_task(self.sla.run(), name="crmbot-slack-sla")
            try:
                yield
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                self.client.session = None


def _well_formed(body: object) -> bool:
    """Bolt's built-in middleware assumes Slack's envelope (``event`` is an object, and so on)
    and fails with a 500 otherwise; refuse such bodies before they reach it."""
    if not isinstance(body, dict):
        return False
    if body.get("type") == "event_callback" and not isinstance(body.get("event"), dict):
        return False
    for key in ("event", "user", "channel", "container", "team", "view", "message"):
        if key in body and body[key] is not None and not isinstance(body[key], dict | str):
            return False
    actions = body.get("actions")
    if body.get("type") in ("block_actions", "interactive_message"):
        return (isinstance(actions, list) and bool(actions) and isinstance(body.get("user"), dict)
                and all(isinstance(a, dict) and isinstance(a.get("action_id"), str)
                        for a in actions))
    return actions is None or (
        isinstance(actions, list) and all(isinstance(a, dict) for a in actions)
    )


SLACK = web.AppKey("slack_desk", SlackDeskApp)


def setup(app: web.Application, core: Core) -> SlackDeskApp:
    desk_app = SlackDeskApp(core)
    core.registry.add(desk_app.adapter)
    core.set_desk(desk_app.desk)
    app[SLACK] = desk_app
    app.router.add_post(ROUTE, desk_app.handle)
    app.cleanup_ctx.append(desk_app.lifetime)
    return desk_app
