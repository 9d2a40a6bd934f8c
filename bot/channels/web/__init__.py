"""The website channel: the embeddable widget (``/widget.js``), its socket and its adapter.

Always on: one ``<script src="https://bot.example/widget.js" defer></script>`` on any page of an
allowed origin (CRMBOT_WIDGET_ALLOWED_ORIGINS) opens the chat. docs/channels/web.md is the
operator's guide; the wire protocol is described in :mod:`bot.channels.web.socket`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from bot.channels.web.abuse import AbuseLimiter
from bot.channels.web.adapter import Hub, WebChannel
from bot.channels.web.socket import chat_ws, origin_allowed
from bot.channels.web.tokens import TokenSigner, load_secret
from bot.i18n import normalise_locale
from storage.clean import BadInput

if TYPE_CHECKING:
    from bot.core import Core

STATIC = Path(__file__).resolve().parent.parent.parent / "web" / "static"
UI_KEYS = (
    "widget_title", "widget_open", "widget_close", "widget_placeholder", "widget_send",
    "widget_message_label", "widget_feedback", "widget_feedback_title", "widget_rating_label",
    "widget_feedback_text", "widget_feedback_email", "widget_feedback_submit",
    "widget_feedback_sent", "widget_back_to_chat", "widget_connecting", "widget_offline",
    "widget_typing", "widget_agent", "widget_bot", "widget_you", "widget_sending",
    "widget_stars", "widget_error_rating", "widget_error_email", "widget_error_generic",
    "widget_news", "widget_news_hint", "widget_news_on", "widget_news_off", "widget_greeting",
)


@dataclass
class WebState:
    """Everything the widget's routes need; the signer is set once the secret is loaded."""

    core: Core
    channel: WebChannel
    limiter: AbuseLimiter
    hub: Hub = field(default_factory=Hub)
    signer: TokenSigner = field(default_factory=lambda: TokenSigner("not-loaded-yet"))


WEB = web.AppKey("web", WebState)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def setup(app: web.Application, core: Core) -> None:
    hub = Hub()
    state = WebState(
        core=core, channel=WebChannel(core.sessions, hub),
        limiter=AbuseLimiter(core.settings.redis_url), hub=hub,
    )
    app[WEB] = state
    core.registry.add(state.channel)
    app.cleanup_ctx.append(_secret_ctx)
    app.router.add_get("/chat/ws", chat_ws)
    app.router.add_get("/chat/ui", ui_texts)
    app.router.add_get("/widget.js", _static("widget.js", "application/javascript"))
    app.router.add_get("/widget.css", _static("widget.css", "text/css"))


async def _secret_ctx(app: web.Application) -> AsyncIterator[None]:
    """Runs after the core's context prepared the schema, so the secret table exists."""
    state = app[WEB]
    state.signer = TokenSigner(
        await load_secret(state.core.sessions, state.core.settings.widget_secret)
    )
    yield


def _static(name: str, content_type: str) -> Handler:
    """Serve a widget asset (read once at start-up; any site may load it, the socket checks
    the Origin)."""
    body = (STATIC / name).read_bytes()

    async def handler(request: web.Request) -> web.Response:
        return web.Response(
            body=body, content_type=content_type, charset="utf-8",
            headers={"Cache-Control": "public, max-age=300",
                     "Access-Control-Allow-Origin": "*"},
        )

    return handler


async def ui_texts(request: web.Request) -> web.Response:
    """The widget's own labels in the visitor's language (from the message catalogs)."""
    state = request.app[WEB]
    settings = state.core.settings
    if not origin_allowed(request, settings.widget_origins):
        raise BadInput("this site may not embed the chat (see CRMBOT_WIDGET_ALLOWED_ORIGINS)",
                       "origin_not_allowed", 403)
    locale = normalise_locale(request.query.get("lang")) or settings.default_locale
    t = state.core.services.translator
    body = {"locale": locale, "texts": {key[7:]: t.t(key, locale) for key in UI_KEYS}}
    headers = {"Cache-Control": "public, max-age=300", "Vary": "Origin"}
    origin = request.headers.get("Origin")
    if origin:
        headers["Access-Control-Allow-Origin"] = origin
    return web.json_response(body, headers=headers)
