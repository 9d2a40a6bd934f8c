"""WhatsApp Cloud API webhook payloads -> InboundMessage and delivery receipts.

A delivery (``object: whatsapp_business_account``) holds entries, each with changes; a
``messages`` change carries ``contacts`` (the sender's profile name), ``messages`` and/or
``statuses``. Every message becomes one InboundMessage whose ``event_id`` is its ``wamid``
(a redelivery is dropped by the inbox). Button and list replies are button presses; media,
location, contacts, stickers and reactions are kept as attachments of an "unsupported" message
(a caption is the text), so nothing is dropped and the customer gets a polite answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bot.channels.meta.webhook import platform_id
from bot.messages import InboundKind, InboundMessage

CHANNEL = "whatsapp"
OBJECT = "whatsapp_business_account"
MEDIA = ("image", "video", "audio", "document", "sticker")
OTHER = ("location", "contacts", "reaction", "order", "system", "unsupported")


@dataclass(frozen=True, slots=True)
class Receipt:
    """A ``statuses`` item: what happened to a message we sent (by its wamid)."""

    external_id: str
    status: str  # sent, delivered, read, failed
    error: str = ""


def changes(payload: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for entry in payload.get("entry") or ():
        for change in entry.get("changes") or ():
            if change.get("field") == "messages" and isinstance(change.get("value"), dict):
                yield change["value"]


def messages(payload: dict[str, Any]) -> list[InboundMessage]:
    found: list[InboundMessage] = []
    for value in changes(payload):
        names = {str(c.get("wa_id")): (c.get("profile") or {}).get("name")
                 for c in value.get("contacts") or ()}
        for msg in value.get("messages") or ():
            found.append(to_inbound(msg, names.get(str(msg.get("from")))))
    return found


def receipts(payload: dict[str, Any]) -> list[Receipt]:
    found: list[Receipt] = []
    for value in changes(payload):
        for status in value.get("statuses") or ():
            errors = status.get("errors") or []
            error = "; ".join(f"{e.get('code')}: {e.get('title') or e.get('message', '')}"
                              for e in errors if isinstance(e, dict))
            found.append(Receipt(platform_id(status["id"], "status id"),
                                 str(status["status"])[:16], error[:500]))
    return found


def to_inbound(msg: dict[str, Any], name: Any) -> InboundMessage:
    sender = platform_id(msg["from"], "from")
    kind, text, data = _content(msg)
    attachments = _attachments(msg)
    if attachments and not text:
        kind = "unsupported"
    return InboundMessage(
        channel=CHANNEL, event_id=platform_id(msg["id"], "id"), user_id=sender, chat_id=sender,
        text=text, kind=kind, callback_data=data,
        display_name=str(name)[:200] if isinstance(name, str) else None, attachments=attachments,
        raw={"type": msg.get("type"), "timestamp": msg.get("timestamp"),
             "context": msg.get("context")},
    )


def _content(msg: dict[str, Any]) -> tuple[InboundKind, str, str | None]:
    """(kind, text, callback data) of one message."""
    kind = msg.get("type")
    if kind == "text":
        body = str((msg.get("text") or {}).get("body", ""))
        return ("command" if body.startswith("/") else "text"), body, None
    if kind == "interactive":
        reply = _interactive_reply(msg.get("interactive") or {})
        if reply is not None:
            return "callback", str(reply.get("title", "")), str(reply["id"])
    if kind == "button":  # a quick-reply button of a template
        button = msg.get("button") or {}
        return "callback", str(button.get("text", "")), str(button.get("payload", ""))
    media = msg.get(kind) if kind in MEDIA else None
    caption = str(media.get("caption", "")) if isinstance(media, dict) else ""
    return "text", caption, None


def _interactive_reply(interactive: dict[str, Any]) -> dict[str, Any] | None:
    reply = interactive.get("button_reply") or interactive.get("list_reply")
    return reply if isinstance(reply, dict) and "id" in reply else None


def _attachments(msg: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    """What staff need to fetch or see non-text content (media id, mime type, place, ...)."""
    kind = msg.get("type")
    if kind in MEDIA:
        media = msg.get(kind) or {}
        item = {"type": kind, "name": media.get("filename") or kind}
        item.update({k: media[k] for k in ("id", "mime_type", "sha256") if k in media})
        return (item,)
    if kind in OTHER:
        value = msg.get(kind)
        return ({"type": kind, "name": kind, "value": value if value is not None else {}},)
    if kind not in ("text", "interactive", "button"):
        return ({"type": str(kind), "name": str(kind)},)
    return ()
