"""Telegram channel: polling or webhook inside crmbot's own aiohttp server.

``setup(app, core)`` registers the lifecycle (one aiohttp ``ClientSession`` for every Bot API
call, the PTB ``Bot``, the outbox adapter, and the poller or the webhook registration) and,
in webhook mode, the ``POST /telegram/webhook`` route. PTB's ``run_polling``/``run_webhook``
are not used: they want to own the event loop, and PTB's ``Updater`` confirms updates before
they are stored. See docs/channels/telegram.md.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from telegram import Bot
from telegram.error import InvalidToken, TelegramError

from bot import background
from bot.channels.telegram.adapter import TelegramChannel
from bot.channels.telegram.inbound import ALLOWED_UPDATES, BotIdentity
from bot.channels.telegram.ingest import UpdateSink
from bot.channels.telegram.polling import Poller, run_as_leader
from bot.channels.telegram.request import DEFAULT_TIMEOUT, AiohttpRequest
from bot.channels.telegram.webhook import PATH, WebhookEndpoint
from bot.config import ConfigError
from bot.core import Core

__all__ = ["TelegramRuntime", "build_bot", "setup"]

log = logging.getLogger("crmbot.telegram")

# PTB 22.2+ warns on every read of an int-typed duration (RetryAfter.retry_after is read when
# the exception is built) unless PTB_TIMEDELTA opts in to datetime.timedelta values. Without
# the opt-in a warnings filter of "error" turns every 429 into a crash of the send instead of
# a retry after Telegram's delay; the adapter reads both types (``adapter._seconds``).
os.environ.setdefault("PTB_TIMEDELTA", "1")

MAX_START_BACKOFF = 60.0
TOKEN_CHECK_SECONDS = 10.0


class TelegramRuntime:
    """Everything the Telegram channel holds while the app runs (tests reach in here)."""

    def __init__(self, core: Core) -> None:
        self.core = core
        settings = core.settings
        self.webhook = (
            WebhookEndpoint(settings.telegram_webhook_secret or "")
            if settings.telegram_mode == "webhook" else None
        )
        self.bot: Bot | None = None
        self.sink: UpdateSink | None = None
        self.poller: Poller | None = None
        self.ready = asyncio.Event()


RUNTIME = web.AppKey("telegram_runtime", TelegramRuntime)


def build_bot(token: str, api_url: str, session: aiohttp.ClientSession,
              timeout: float = DEFAULT_TIMEOUT) -> Bot:
    """A PTB Bot for any Bot API server, on aiohttp networking. ``timeout`` bounds the wait
    for an answer to a call (a hung call is retried by the outbox, never waited on forever)."""
    base = api_url.rstrip("/")
    return Bot(
        token,
        base_url=f"{base}/bot",
        base_file_url=f"{base}/file/bot",
        request=AiohttpRequest(session, read_timeout=timeout),
        get_updates_request=AiohttpRequest(session),
    )


def setup(app: web.Application, core: Core) -> None:
    """Wire the channel into the app (called from bot.app._setup_channels)."""
    runtime = TelegramRuntime(core)
    app[RUNTIME] = runtime
    if runtime.webhook is not None:
        app.router.add_post(PATH, runtime.webhook.handle)
    app.cleanup_ctx.append(_lifecycle)


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    runtime = app[RUNTIME]
    settings = runtime.core.settings
    async with aiohttp.ClientSession() as session:
        bot = build_bot(settings.telegram_token or "", settings.telegram_api_url, session,
                        settings.telegram_timeout)
        await _check_token(bot)
        runtime.bot = bot
        runtime.core.registry.add(TelegramChannel(bot, settings.telegram_global_rate))
        try:
            async with background.running(_start(runtime, bot), "crmbot-telegram"):
                yield
        finally:
            if runtime.sink is not None:
                await runtime.sink.close()


async def _start(runtime: TelegramRuntime, bot: Bot) -> None:
    """Connect (retrying: a Bot API outage must not stop the rest of the bot), then run."""
    me = await _connect(bot)
    runtime.sink = UpdateSink(runtime.core, bot, me)
    settings = runtime.core.settings
    if runtime.webhook is not None:
        url = settings.public_url.rstrip("/") + PATH
        await _retrying("setWebhook", lambda: bot.set_webhook(
            url, secret_token=settings.telegram_webhook_secret,
            allowed_updates=list(ALLOWED_UPDATES),
        ))
        runtime.webhook.sink = runtime.sink
        log.info("telegram: webhook mode, registered %s", url)
        runtime.ready.set()
        return
    await _retrying("deleteWebhook", lambda: bot.delete_webhook(drop_pending_updates=False))
    runtime.poller = Poller(bot, runtime.sink)
    runtime.ready.set()
    log.info("telegram: polling mode as @%s", me.username)
    await run_as_leader(runtime.core.engine, me.id, runtime.poller)


async def _connect(bot: Bot) -> BotIdentity:
    await _retrying("getMe", bot.initialize)
    return BotIdentity(id=bot.id, username=bot.username)


async def _check_token(bot: Bot) -> None:
    """One getMe before serving. A token Telegram refuses (401) will never work: that is a
    start-up error naming the setting, not a retry loop. Anything else (the Bot API away, a
    timeout) is left to the background start, which retries without holding up the rest."""
    try:
        await asyncio.wait_for(bot.initialize(), timeout=TOKEN_CHECK_SECONDS)
    except InvalidToken as exc:
        raise ConfigError(
            "CRMBOT_TELEGRAM_TOKEN was refused by Telegram (getMe answered "
            f"{exc.message!r}); copy the token @BotFather gave you"
        ) from None
    except (TelegramError, TimeoutError) as exc:
        log.warning("telegram: getMe failed at start-up (%s); retrying in the background", exc)


async def _retrying(what: str, call: object) -> None:
    delay = 1.0
    while True:
        try:
            await call()  # type: ignore[operator]
            return
        except InvalidToken:
            log.critical("telegram: %s: CRMBOT_TELEGRAM_TOKEN was revoked; channel stopped", what)
            raise
        except TelegramError as exc:
            log.error("telegram: %s failed (%s); retrying in %.0fs", what, exc, delay)
            await asyncio.sleep(delay)
            delay = min(MAX_START_BACKOFF, delay * 2)
