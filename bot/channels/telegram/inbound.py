"""Telegram updates (Bot API JSON) -> platform-neutral InboundMessages.

Works on the wire JSON, so polling and webhook share one code path and tests can feed it
literal payloads. ``None`` means "not for us": updates the bot ignores are never stored.

Groups: the bot only takes a message that is addressed to it (an @mention of the bot, a
reply to one of the bot's messages, ``/cmd@botname``, or a press on one of its buttons). All
other group chatter is ignored and NOT stored: it is not a support request and storing it
would keep third parties' messages without a purpose. A group talks to the bot as one
customer (identity ``group:<chat id>``, named after the group), so nothing from a member's
private conversation (name, language, tickets) ever shows up in the group.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.messages import InboundKind, InboundMessage

CHANNEL = "telegram"
ALLOWED_UPDATES = ("message", "edited_message", "callback_query")
ATTACHMENT_KINDS = (
    "photo", "document", "sticker", "voice", "audio", "video", "video_note", "animation",
    "contact", "location", "venue", "poll", "dice",
)
PRIVATE = "private"


@dataclass(frozen=True, slots=True)
class BotIdentity:
    """Who the bot is (from getMe): needed to tell whether a group message addresses it."""

    id: int
    username: str


def to_inbound(update: dict[str, Any], me: BotIdentity) -> InboundMessage | None:
    """The InboundMessage for one update, or None when the bot should ignore it."""
    event_id = str(update["update_id"])
    if "callback_query" in update:
        return _callback(event_id, update["callback_query"], update)
    if "message" in update:
        return _message(event_id, update["message"], None, me, update)
    if "edited_message" in update:
        return _message(event_id, update["edited_message"], "edited", me, update)
    return None


def _message(
    event_id: str, msg: dict[str, Any], kind: InboundKind | None, me: BotIdentity,
    update: dict[str, Any],
) -> InboundMessage | None:
    sender = msg.get("from") or {}
    chat = msg.get("chat") or {}
    if sender.get("is_bot") or "id" not in chat:
        return None
    text = msg.get("text") or msg.get("caption") or ""
    entities = msg.get("entities") or msg.get("caption_entities") or []
    is_group = chat.get("type") != PRIVATE
    if is_group:
        addressed, text = _addressed(msg, text, entities, me)
        if not addressed:
            return None
    attachments = _attachments(msg)
    if kind is None:
        kind = "unsupported" if attachments else ("command" if _is_command(text) else "text")
    elif attachments and not text:
        kind = "unsupported"
    return _build(event_id, chat, sender, text, kind, is_group, update, attachments=attachments)


def _callback(
    event_id: str, query: dict[str, Any], update: dict[str, Any]
) -> InboundMessage | None:
    sender = query.get("from") or {}
    msg = query.get("message") or {}
    chat = msg.get("chat") or {"id": sender.get("id"), "type": PRIVATE}
    data = query.get("data")
    if data is None or chat.get("id") is None:
        return None
    label = _button_label(msg, data)
    return _build(event_id, chat, sender, label or data, "callback", chat.get("type") != PRIVATE,
                  update, callback_data=data)


def _build(
    event_id: str, chat: dict[str, Any], sender: dict[str, Any], text: str, kind: InboundKind,
    is_group: bool, update: dict[str, Any], **extra: Any,
) -> InboundMessage:
    chat_id = str(chat["id"])
    if is_group:
        user_id, name = f"group:{chat_id}", chat.get("title") or chat_id
    else:
        user_id, name = str(sender.get("id", chat_id)), _full_name(sender)
    return InboundMessage(
        channel=CHANNEL, event_id=event_id, user_id=user_id, chat_id=chat_id, text=text,
        kind=kind, display_name=name, locale_hint=sender.get("language_code"),
        is_group=is_group, raw=update, **extra,
    )


def _addressed(
    msg: dict[str, Any], text: str, entities: list[dict[str, Any]], me: BotIdentity
) -> tuple[bool, str]:
    """Is this group message for the bot? Returns the text without the bot's @mention."""
    reply_to = (msg.get("reply_to_message") or {}).get("from") or {}
    handle = "@" + me.username.lower()
    addressed = reply_to.get("id") == me.id or any(
        _addresses(text, ent, handle, me.id) for ent in entities
    )
    if not addressed:
        return False, text
    stripped = text.replace("@" + me.username, "").replace(handle, "")
    if _is_command(text):
        stripped = text  # /cmd@botname is understood by the command parser as it is
    return True, " ".join(stripped.split())


def _addresses(text: str, ent: dict[str, Any], handle: str, bot_id: int) -> bool:
    kind = ent.get("type")
    piece = _entity_text(text, ent).lower()
    if kind == "mention":
        return piece == handle
    if kind == "text_mention":
        return bool((ent.get("user") or {}).get("id") == bot_id)
    return kind == "bot_command" and ent.get("offset") == 0 and piece.endswith(handle)


def _entity_text(text: str, entity: dict[str, Any]) -> str:
    """Entity offsets are in UTF-16 code units, not Python characters."""
    raw = text.encode("utf-16-le")
    start = int(entity.get("offset", 0)) * 2
    end = start + int(entity.get("length", 0)) * 2
    return raw[start:end].decode("utf-16-le", errors="ignore")


def _is_command(text: str) -> bool:
    return text.startswith("/") and len(text) > 1 and not text[1].isspace()


def _attachments(msg: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    """Metadata of non-text content, enough for staff to fetch it with getFile later."""
    found: list[dict[str, Any]] = []
    for kind in ATTACHMENT_KINDS:
        value = msg.get(kind)
        if value is None:
            continue
        if kind == "photo" and isinstance(value, list) and value:
            value = max(value, key=lambda size: size.get("width", 0) * size.get("height", 0))
        found.append(_attachment(kind, value))
    return tuple(found)


def _attachment(kind: str, value: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"type": kind}
    if isinstance(value, dict):
        for key in ("file_id", "file_unique_id", "mime_type", "file_size"):
            if key in value:
                item[key] = value[key]
        name = value.get("file_name") or value.get("emoji") or value.get("title")
        item["name"] = name or kind
    else:
        item["name"] = kind
    return item


def _button_label(msg: dict[str, Any], data: str) -> str | None:
    for row in (msg.get("reply_markup") or {}).get("inline_keyboard") or []:
        for button in row:
            if button.get("callback_data") == data:
                label = button.get("text")
                return str(label) if label else None
    return None


def _full_name(user: dict[str, Any]) -> str | None:
    name = " ".join(p for p in (user.get("first_name"), user.get("last_name")) if p)
    return name or user.get("username")
