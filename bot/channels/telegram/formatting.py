"""Plain bot text -> Telegram HTML parts of at most 4096 characters, and inline keyboards.

Bot texts are plain text (catalog strings, KB answers), so the only markup is the escaping
itself. Splitting happens on the plain text *before* escaping: Telegram counts the limit after
entity parsing, so an escaped ``&amp;`` can never be cut in half and the visible length is what
is measured. Cuts prefer paragraph, then line, then word boundaries; only a single "word"
longer than a whole message is cut inside.
"""

from __future__ import annotations

import html
import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.messages import Button

log = logging.getLogger("crmbot.telegram")

MAX_TEXT = 4096
MAX_CALLBACK_BYTES = 64


def utf16_len(text: str) -> int:
    """Telegram measures message length in UTF-16 code units (an emoji counts twice)."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Cut ``text`` into parts of at most ``limit`` UTF-16 units, never inside a word."""
    parts: list[str] = []
    rest = text.strip()
    while utf16_len(rest) > limit:
        cut = _cut_point(rest, limit)
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest or not parts:
        parts.append(rest)
    return parts


def _cut_point(text: str, limit: int) -> int:
    """The last good boundary that keeps text[:cut] within the limit."""
    fit = _fit_chars(text, limit)
    window = text[:fit]
    for sep in ("\n\n", "\n", " "):
        at = window.rfind(sep)
        if at > fit // 4:
            return at + len(sep)
    return fit


def _fit_chars(text: str, limit: int) -> int:
    """How many characters of ``text`` fit into ``limit`` UTF-16 units."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)


def to_html_parts(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Split, then escape each part for ``parse_mode=HTML`` (URLs are linked by Telegram)."""
    return [html.escape(part, quote=False) for part in split_text(text, limit)]


def keyboard(rows: tuple[tuple[Button, ...], ...]) -> InlineKeyboardMarkup | None:
    """Inline keyboard for the outbox's button rows; invalid buttons are left out, loudly.

    A callback_data over 64 bytes would make Telegram reject the whole message (400); dropping
    that one button and logging it keeps the answer itself deliverable.
    """
    out: list[list[InlineKeyboardButton]] = []
    for row in rows:
        buttons = [b for b in (_button(button) for button in row) if b is not None]
        if buttons:
            out.append(buttons)
    return InlineKeyboardMarkup(out) if out else None


def _button(button: Button) -> InlineKeyboardButton | None:
    if button.url:
        return InlineKeyboardButton(button.label, url=button.url)
    data = button.data or ""
    if not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_BYTES:
        log.error(
            "telegram: button %r dropped: callback_data must be 1-%d bytes, got %d",
            button.label, MAX_CALLBACK_BYTES, len(data.encode("utf-8")),
        )
        return None
    return InlineKeyboardButton(button.label, callback_data=data)
