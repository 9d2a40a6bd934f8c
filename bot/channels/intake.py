"""POST /api/v1/feedback: reviews, forum posts, blog comments and mail-bridge items come in.

Intake items are not chats. Each item is stored through the inbox (channel ``intake``, event id
``<source>:<external_id>``), so the same item sent twice is stored once and a crash after the
answer loses nothing; handlers/intake/router.py then files it as Feedback and opens a ticket
when it is negative. A staff reply goes back to the item's site through the source's webhook
(bot/channels/review_webhooks.py); without one the ``intake`` adapter fails the send for good
(never a retry loop), because the answer belongs on the site where the item was published.

Authentication: ``Authorization: Bearer <CRMBOT_INTAKE_TOKEN>``, compared in constant time.
Without that setting the endpoint is closed (403).
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from bot.channels import review_webhooks
from bot.channels.review_webhooks import IntakeChannel
from bot.channels.web.abuse import AbuseLimiter, client_ip, too_many
from bot.i18n import normalise_locale
from bot.messages import InboundMessage
from storage.clean import BadInput, loads, same_secret

if TYPE_CHECKING:
    from bot.core import Core

log = logging.getLogger("crmbot.intake")

SOURCE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
LANGUAGE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?$")
MAX_EXTERNAL_ID = 135
MAX_AUTHOR = 200
MAX_URL = 2000
MAX_EMAIL = 320


class Invalid(Exception):
    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field, self.detail = field, detail


class IntakeState:
    def __init__(self, core: Core, limiter: AbuseLimiter, channel: IntakeChannel) -> None:
        self.core, self.limiter, self.channel = core, limiter, channel


INTAKE = web.AppKey("intake", IntakeState)


def setup(app: web.Application, core: Core) -> None:
    channel = IntakeChannel(review_webhooks.parse(core.settings.review_webhooks))
    app[INTAKE] = IntakeState(core, AbuseLimiter(core.settings.redis_url), channel)
    core.registry.add(channel)
    app.router.add_post("/api/v1/feedback", post_feedback)
    app.cleanup_ctx.append(_session)


async def _session(app: web.Application) -> AsyncIterator[None]:
    """One HTTP session for the review webhooks, owned by the app."""
    async with aiohttp.ClientSession() as session:
        app[INTAKE].channel.session = session
        yield
        app[INTAKE].channel.session = None


def _error(status: int, code: str, message: str, field: str | None = None,
           headers: dict[str, str] | None = None) -> BadInput:
    """A refusal in the API's one error shape (rendered by the HTTP edge, bot/web/edge.py)."""
    return BadInput(message, code, status, field=field, headers=headers)


async def post_feedback(request: web.Request) -> web.Response:
    state = request.app[INTAKE]
    settings = state.core.settings
    wait = await state.limiter.hit(settings.intake_rate_limit, "intake", client_ip(request))
    if wait:
        return too_many(wait, "intake requests from this address")
    _authenticate(request, settings.intake_token)
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise _error(413, "too_large", "the body is too large (the limit is 1 MiB)") from None
    data = loads(body)
    if not isinstance(data, dict):
        raise _error(400, "malformed_json", "the body must be a JSON object")
    try:
        item = validate(data, settings.max_message_chars)
    except Invalid as exc:
        status = 413 if exc.field == "text" and "limit" in exc.detail else 422
        raise _error(status, "invalid_field", exc.detail, field=exc.field) from None
    result = await state.core.ingest(to_inbound(item))
    event_id = f"{item['source']}:{item['external_id']}"
    if result.duplicate:
        return web.json_response({"status": "duplicate", "id": event_id})
    return web.json_response({"status": "accepted", "id": event_id}, status=202)


def _authenticate(request: web.Request, token: str | None) -> None:
    """Refuse (403 closed, 401 wrong) before the body is read. aiohttp decodes headers with
    ``surrogateescape``, so a header of arbitrary bytes is compared as those bytes."""
    if not token:
        raise _error(403, "intake_disabled",
                     "the intake API is closed: set CRMBOT_INTAKE_TOKEN to open it")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not same_secret(given.strip(), token):
        raise _error(401, "unauthorized", "send Authorization: Bearer <intake token>",
                     headers={"WWW-Authenticate": 'Bearer realm="crmbot intake"'})


def _string(data: dict[str, Any], name: str, limit: int, *, required: bool) -> str | None:
    value = data.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise Invalid(name, f"{name} is required")
        return None
    if isinstance(value, int) and not isinstance(value, bool) and name == "external_id":
        value = str(value)
    if not isinstance(value, str):
        raise Invalid(name, f"{name} must be a string")
    value = value.strip()
    if len(value) > limit:
        raise Invalid(name, f"{name} has {len(value)} characters; the limit is {limit}")
    return value


def validate(data: dict[str, Any], max_chars: int) -> dict[str, Any]:
    """The item's fields, checked; the first problem raises :class:`Invalid` naming its field."""
    source = _string(data, "source", 64, required=True) or ""
    if not SOURCE.match(source):
        raise Invalid("source", "source may use only letters, digits, '.', '_' and '-'")
    external_id = _string(data, "external_id", MAX_EXTERNAL_ID, required=True)
    text = _string(data, "text", max_chars, required=True)
    url = _string(data, "url", MAX_URL, required=False)
    if url is not None and not url.startswith(("http://", "https://")):
        raise Invalid("url", "url must start with http:// or https://")
    rating = data.get("rating")
    if rating is not None and (
        not isinstance(rating, int) or isinstance(rating, bool) or not 1 <= rating <= 5
    ):
        raise Invalid("rating", "rating must be a whole number from 1 to 5")
    language = _string(data, "language", 12, required=False)
    if language is not None and not LANGUAGE.match(language):
        raise Invalid("language", "language must be a language code such as en, sv or lv")
    email = _string(data, "email", MAX_EMAIL, required=False)
    if email is not None and "@" not in email:
        raise Invalid("email", "email must be an e-mail address")
    return {
        "source": source, "external_id": external_id, "text": text, "url": url,
        "rating": rating, "language": language.lower() if language else None, "email": email,
        "author": _string(data, "author", MAX_AUTHOR, required=False),
    }


def to_inbound(item: dict[str, Any]) -> InboundMessage:
    """One intake item as an inbox event: its own conversation, one customer per author."""
    event_id = f"{item['source']}:{item['external_id']}"
    author = item["author"] or "anonymous"
    return InboundMessage(
        channel="intake",
        event_id=event_id,
        user_id=f"{item['source']}:{author}"[:200],
        chat_id=event_id,
        text=item["text"],
        display_name=item["author"],
        locale_hint=normalise_locale(item["language"]),
        feedback=item,
    )
