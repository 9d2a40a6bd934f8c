"""The Slack support desk: escalations as threads, two-way relay, claim/resolve, SLA.

``setup(app, core)`` (called from bot/app.py when CRMBOT_SLACK_BOT_TOKEN is set) registers:

* the ``slack`` channel adapter for the outbox (adapter.py),
* the desk the handlers talk to (desk.py),
* ``POST /slack/events`` served by a Bolt ``AsyncApp`` (events.py),
* a cleanup context owning the one aiohttp session to the Slack Web API and the SLA watch.

Operator guide: docs/channels/slack.md.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from urllib.parse import parse_qs

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_sdk.web.async_client import AsyncWebClient

from bot import background
from bot.channels.slack.adapter import SlackAdapter
from bot.channels.slack.desk import SlackDesk
from bot.channels.slack.events import SlackEvents
from bot.channels.slack.failures import FailureNotice
from bot.channels.slack.sla import SlaWatch
from bot.core import Core
from storage.clean import BadInput, loads

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
        core.outbox.failure_hooks.append(
            FailureNotice(core.services.translator, settings.default_locale))

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Bolt verifies and dispatches; a body Bolt cannot even parse is a clear 400.

        Before Bolt sees anything, the signature headers must have Slack's shape (Bolt's
        middleware calls ``int()`` on the timestamp and answers 500 otherwise) and the body must
        parse within the edge's size and depth limits (storage/clean.py)."""
        _check_headers(request)
        _check_body(await request.read(), request.content_type)
        try:
            bolt_request = await to_bolt_request(request)
        except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
            # JSON errors, and Bolt's own parsing of an envelope of an unexpected shape
            log.warning("malformed Slack request from %s: %s", request.remote, exc)
            raise BadInput("malformed request body", "malformed_body") from None
        if not _well_formed(bolt_request.body):
            log.warning("Slack request of an unexpected shape from %s", request.remote)
            raise BadInput("unexpected request shape", "unexpected_shape")
        bolt_response = await self.bolt.async_dispatch(bolt_request)
        response: web.StreamResponse = await to_aiohttp_response(bolt_response)
        return response

    async def lifetime(self, app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession() as session:
            self.client.session = session
            try:
                async with background.running(self.sla.run(), "crmbot-slack-sla"):
                    yield
            finally:
                self.client.session = None


TIMESTAMP = re.compile(r"[0-9]{1,12}")
SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")


def _check_headers(request: web.Request) -> None:
    """A missing or malformed signature is refused as unauthenticated (401), not parsed."""
    stamp = request.headers.get("X-Slack-Request-Timestamp", "")
    signature = request.headers.get("X-Slack-Signature", "")
    if not TIMESTAMP.fullmatch(stamp) or not SIGNATURE.fullmatch(signature):
        log.warning("Slack request without a well-formed signature from %s", request.remote)
        raise BadInput("missing or malformed X-Slack-Signature / X-Slack-Request-Timestamp",
                       "unauthorized", 401)


def _check_body(raw: bytes, content_type: str) -> None:
    """Events come as JSON, interactivity as a form with a JSON ``payload``, slash commands
    as a plain form: whatever JSON there is must pass the edge's limits."""
    if content_type == "application/json":
        loads(raw)
        return
    try:
        form = parse_qs(raw.decode("utf-8", "replace"), max_num_fields=200)
    except ValueError as exc:  # more fields than any Slack form has
        raise BadInput("too many form fields", "bad_request") from exc
    for payload in form.get("payload", []):
        loads(payload)


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
