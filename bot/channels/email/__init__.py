"""The e-mail channel: inbound by SMTP listener or HTTP POST, outbound through an SMTP relay.

``setup(app, core)`` (called from bot/app.py when CRMBOT_EMAIL_FROM is set) registers the
``email`` adapter for the outbox, ``POST /email/inbound`` (raw RFC 822 body, authenticated by
CRMBOT_EMAIL_INBOUND_TOKEN; closed without it), ``GET/POST /email/unsubscribe`` (the link of
announcements) and, when CRMBOT_SMTP_LISTEN_PORT is set, the SMTP listener as a cleanup
context. Operator guide: docs/channels/email.md.
"""

from __future__ import annotations

import html
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from aiohttp import web

from bot.channels.email.adapter import EmailAdapter, unsubscribe_token
from bot.channels.email.inbound import MailIntake
from bot.channels.email.smtpd import start_listener
from bot.i18n import normalise_locale
from storage.clean import BadInput, same_secret

if TYPE_CHECKING:
    from bot.core import Core

log = logging.getLogger("crmbot.email")
STATUS = {"accepted": 200, "duplicate": 200, "own": 200, "ignored": 200, "malformed": 422,
          "oversize": 413, "rate_limited": 429}


class EmailChannel:
    """Everything the e-mail channel owns in one process (stored under :data:`EMAIL`)."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.adapter = EmailAdapter(core.settings, core.sessions, core.services.translator)
        self.intake = MailIntake(core)
        self.port: int | None = None  # the SMTP listener's bound port once started

    async def inbound(self, request: web.Request) -> web.Response:
        token = self.core.settings.email_inbound_token
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not token or not same_secret(given, token):
            raise BadInput("missing or wrong bearer token", "unauthorized", 401)
        limit = self.core.settings.email_max_bytes
        raw = await _read_limited(request, limit)
        if not raw.strip():
            raise BadInput("empty body: post the raw RFC 822 mail", "empty_body")
        result = await self.intake.receive(raw, request.headers.get("X-Envelope-From"))
        body = {"outcome": result.outcome, "detail": result.detail}
        headers = {"Retry-After": result.detail.split()[-1].rstrip("s")} \
            if result.outcome == "rate_limited" else None
        return web.json_response(body, status=STATUS[result.outcome], headers=headers)

    async def unsubscribe(self, request: web.Request) -> web.Response:
        """RFC 8058: a POST (the mail client's one-click, or the page's button) withdraws
        consent; a GET only shows a page with that button, so the link scanners of mail
        providers, which open every link, unsubscribe nobody. In the customer's language."""
        locale = normalise_locale(request.query.get("l")) or self.core.settings.default_locale

        def t(key: str) -> str:
            return self.core.services.translator.t(key, locale)

        address = request.query.get("a", "").lower()
        expected = unsubscribe_token(self.core.settings, address)
        if not address or not same_secret(request.query.get("t", ""), expected):
            return _page(locale, t("email_unsubscribe_title"), t("email_unsubscribe_invalid"),
                         status=400)
        if request.method != "POST":
            return _page(locale, t("email_unsubscribe_title"),
                         button=t("email_unsubscribe_button"))
        from storage.consent import set_consent_for_identity

        try:
            await set_consent_for_identity(self.core.sessions, "email", address, False,
                                           source="email")
        except ValueError:  # never wrote to us: nothing to withdraw, same answer
            log.info("unsubscribe for unknown e-mail identity")
        return _page(locale, t("email_unsubscribe_title"), t("email_unsubscribe_done"))

    async def lifetime(self, app: web.Application) -> AsyncIterator[None]:
        settings = self.core.settings
        if settings.smtp_listen_port is None:
            yield
            return
        server = await start_listener(
            self.intake, settings.smtp_listen_host, settings.smtp_listen_port,
            settings.email_max_bytes, self.adapter.domain,
        )
        self.port = int(server.sockets[0].getsockname()[1])
        log.info("SMTP listener on %s:%s", settings.smtp_listen_host, self.port)
        try:
            yield
        finally:
            server.close()
            await server.wait_closed()


async def _read_limited(request: web.Request, limit: int) -> bytes:
    """The body, but never more than limit + 1 bytes in memory (oversize is refused)."""
    chunks, size = [], 0
    while size <= limit:
        chunk = await request.content.read(min(65_536, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


EMAIL = web.AppKey("email_channel", EmailChannel)


def setup(app: web.Application, core: Core) -> EmailChannel:
    channel = EmailChannel(core)
    core.registry.add(channel.adapter)
    app[EMAIL] = channel
    app.router.add_post("/email/inbound", channel.inbound)
    app.router.add_get("/email/unsubscribe", channel.unsubscribe)
    app.router.add_post("/email/unsubscribe", channel.unsubscribe)
    app.cleanup_ctx.append(channel.lifetime)
    return channel


def _page(locale: str, title: str, message: str = "", *, button: str = "",
          status: int = 200) -> web.Response:
    """A minimal, self-contained page (no scripts, no external assets): a message, or a form
    that POSTs back to the same URL with one button."""
    body = (f'<form method="post"><button type="submit">{html.escape(button)}</button></form>'
            if button else f"<p>{html.escape(message)}</p>")
    text = (f'<!doctype html><html lang="{locale}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title></head><body><main><h1>{html.escape(title)}"
            f"</h1>{body}</main></body></html>")
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")
