"""Text between Slack's mrkdwn and the customer's plain text, and the staff reply marker.

Safety rule (docs/channels/slack.md): a message in a ticket thread reaches the customer ONLY when
it starts with ``!reply``. Everything else is an internal note and is never even stored, so a
missing or mistyped marker can only ever keep a message internal, never leak it.
"""

from __future__ import annotations

import re

REPLY_MARKER = "!reply"

_LABELLED_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)\|([^>]*)>")
_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)>")
_USER = re.compile(r"<@[UW][A-Z0-9]+(?:\|([^>]*))?>")
_CHANNEL = re.compile(r"<#C[A-Z0-9]+(?:\|([^>]*))?>")
_SPECIAL = re.compile(r"<![^>]*>")


def escape(text: str) -> str:
    """Customer text shown in Slack: no accidental @channel pings, links or formatting tags."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_plain(text: str) -> str:
    """Slack message text (mrkdwn with <…> tokens and &-escapes) as plain text for customers."""
    text = _LABELLED_LINK.sub(lambda m: _labelled(m.group(1), m.group(2)), text)
    text = _LINK.sub(lambda m: m.group(1).removeprefix("mailto:"), text)
    text = _USER.sub(lambda m: "@" + (m.group(1) or "staff"), text)
    text = _CHANNEL.sub(lambda m: "#" + (m.group(1) or "channel"), text)
    text = _SPECIAL.sub("", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").strip()


def _labelled(url: str, label: str) -> str:
    plain = url.removeprefix("mailto:")
    return plain if not label or label == plain else f"{label} ({plain})"


def reply_text(text: str) -> str | None:
    """The text to relay when a thread message starts with the marker; None for a note."""
    stripped = text.lstrip()
    head = stripped[: len(REPLY_MARKER)]
    rest = stripped[len(REPLY_MARKER):]
    if head.lower() != REPLY_MARKER or (rest and not rest[0].isspace()):
        return None
    return to_plain(rest)
