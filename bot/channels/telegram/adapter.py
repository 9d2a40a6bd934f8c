"""The Telegram ChannelAdapter: outbox items -> sendMessage, platform errors -> SendResult.

The outbox dispatcher owns rate limiting, retries and dead letters; this adapter makes exactly
one attempt per call and says what happened:

* ``RetryAfter`` (429) -> retry after Telegram's ``retry_after``. Scope ``chat``: the outbox
  already keeps us under the global 30 msg/s, so a 429 is almost always flood control for
  one chat or group. When 429s hit several different chats within a couple of seconds the
  limit is evidently bot-wide and the pause is widened to ``global``.
* ``Forbidden`` (403: blocked, kicked, deactivated) and 400 "chat not found" -> failed,
  unreachable (the identity is marked, its queue stops).
* ``BadRequest`` (400) -> logged with the payload and failed for good (retrying cannot help).
  One exception: an HTML parse error is re-sent once as plain text, since the text itself
  is fine.
* ``TimedOut``/``NetworkError``/5xx and anything unknown -> retry with backoff.

Long texts go out as several messages; buttons ride on the last part. Parts already accepted
are remembered in memory for a while, so a retry after a failure in the middle does not
repeat them (a crash still can: the documented outbox window).
"""

from __future__ import annotations

import html
import logging
import time
from collections import deque

from telegram import Bot, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from bot.channels.telegram.formatting import keyboard, to_html_parts
from bot.channels.telegram.inbound import CHANNEL
from bot.messages import OutboundMessage
from bot.ports import RateLimit, SendResult

log = logging.getLogger("crmbot.telegram")

def limits_for(global_rate: int) -> tuple[RateLimit, ...]:
    """Telegram's documented limits; ``global_rate`` 0 switches all of them off (only for a
    local Bot API test server or a benchmark: the real Telegram bans floods)."""
    if global_rate <= 0:
        return ()
    return (
        # 5 % headroom: sends are timed here but reach Telegram a few ms later, and a burst
        # that crosses Telegram's window costs a bot-wide 429 pause, far more than 5 %.
        RateLimit("global", max(1, int(global_rate * 0.95)), 1),
        RateLimit("chat", 1, 1),
        RateLimit("chat", 20, 60, groups_only=True),
    )


GLOBAL_429_CHATS = 3
GLOBAL_429_WINDOW = 2.0
PARTIAL_TTL = 600.0


class TelegramChannel:
    """Delivers outbox items through one PTB ``Bot``."""

    name = CHANNEL

    def __init__(self, bot: Bot, global_rate: int = 30) -> None:
        self._bot = bot
        self._limits = limits_for(global_rate)
        self._recent_429: deque[tuple[float, str]] = deque(maxlen=32)
        self._partial: dict[tuple[str, str], tuple[float, int]] = {}

    @property
    def limits(self) -> tuple[RateLimit, ...]:
        return self._limits

    def is_group(self, chat_id: str) -> bool:
        """Group and supergroup ids are negative; private chats are the user's positive id."""
        return chat_id.startswith("-")

    async def send(self, message: OutboundMessage) -> SendResult:
        parts = to_html_parts(message.text)
        markup = keyboard(message.buttons)
        key = (message.chat_id, message.text)
        done = self._parts_done(key)
        external_id: str | None = None
        for index in range(done, len(parts)):
            last = index == len(parts) - 1
            try:
                external_id = await self._send_part(
                    message, parts[index], markup if last else None
                )
            except TelegramError as exc:
                if index:
                    self._partial[key] = (time.monotonic(), index)
                return self._map_error(exc, message)
        self._partial.pop(key, None)
        return SendResult.sent(external_id)

    async def _send_part(
        self, message: OutboundMessage, text: str, markup: InlineKeyboardMarkup | None
    ) -> str:
        try:
            sent = await self._bot.send_message(
                chat_id=_chat(message.chat_id), text=text, parse_mode=ParseMode.HTML,
                reply_markup=markup,
            )
        except BadRequest as exc:
            if "can't parse entities" not in str(exc).lower():
                raise
            log.warning("telegram: HTML rejected (%s); sending as plain text", exc)
            sent = await self._bot.send_message(
                chat_id=_chat(message.chat_id), text=html.unescape(text), reply_markup=markup
            )
        return str(sent.message_id)

    def _parts_done(self, key: tuple[str, str]) -> int:
        now = time.monotonic()
        for stale in [k for k, (at, _) in self._partial.items() if now - at > PARTIAL_TTL]:
            del self._partial[stale]
        return self._partial.get(key, (0.0, 0))[1]

    def _map_error(self, exc: TelegramError, message: OutboundMessage) -> SendResult:
        error = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, RetryAfter):
            return SendResult.retry(error, after=_seconds(exc), scope=self._scope_429(message))
        if isinstance(exc, Forbidden):
            return SendResult.failed(error, unreachable=True)
        if isinstance(exc, ChatMigrated):
            log.error("telegram: chat %s moved to %s", message.chat_id, exc.new_chat_id)
            return SendResult.failed(f"{error} (new chat id {exc.new_chat_id})", unreachable=True)
        if isinstance(exc, BadRequest):
            log.error(
                "telegram: 400 for chat %s: %s; payload: %r", message.chat_id, exc,
                message.to_json(),
            )
            unreachable = "chat not found" in str(exc).lower()
            return SendResult.failed(error, unreachable=unreachable)
        if isinstance(exc, InvalidToken):
            log.error("telegram: the bot token was rejected; check CRMBOT_TELEGRAM_TOKEN")
            return SendResult.retry(error, after=60.0, scope="global")
        if isinstance(exc, NetworkError):
            return SendResult.retry(error)
        return SendResult.retry(error)

    def _scope_429(self, message: OutboundMessage) -> str:
        """'chat' unless several chats were throttled at once: then the whole bot is."""
        now = time.monotonic()
        self._recent_429.append((now, message.chat_id))
        chats = {chat for at, chat in self._recent_429 if now - at <= GLOBAL_429_WINDOW}
        return "global" if len(chats) >= GLOBAL_429_CHATS else "chat"


def _seconds(exc: RetryAfter) -> float:
    value = exc.retry_after
    return float(value.total_seconds()) if hasattr(value, "total_seconds") else float(value)


def _chat(chat_id: str) -> int | str:
    """Numeric ids go out as numbers (as Telegram documents them); @channel names as text."""
    try:
        return int(chat_id)
    except ValueError:
        return chat_id
