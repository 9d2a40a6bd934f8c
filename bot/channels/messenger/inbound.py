"""Messenger Platform webhook payloads (``page`` and ``instagram`` objects) -> InboundMessage.

Both objects deliver ``entry[].messaging[]`` events with ``sender.id`` (the customer's
page- or Instagram-scoped id), ``message`` or ``postback``. Text, quick replies and postbacks
become text and button presses; echoes of the page's own messages, and delivery/read events,
are ignored; attachments, Instagram story replies and story mentions are kept (a story
mention or a picture without words is an "unsupported" message the bot answers politely).
The ``event_id`` is the message id (``mid``), so a redelivery is dropped by the inbox.
"""

from __future__ import annotations

from typing import Any

from bot.channels.meta.webhook import platform_id
from bot.messages import InboundKind, InboundMessage

#: Webhook object -> crmbot channel name.
CHANNELS = {"page": "messenger", "instagram": "instagram"}


def messages(payload: dict[str, Any]) -> list[InboundMessage]:
    channel = CHANNELS[str(payload["object"])]
    found: list[InboundMessage] = []
    for entry in payload.get("entry") or ():
        for event in entry.get("messaging") or ():
            message = to_inbound(channel, event)
            if message is not None:
                found.append(message)
    return found


def to_inbound(channel: str, event: dict[str, Any]) -> InboundMessage | None:
    sender = platform_id((event.get("sender") or {})["id"], "sender.id")
    message, postback = event.get("message"), event.get("postback")
    if isinstance(postback, dict):
        mid = postback.get("mid") or f"postback:{sender}:{event.get('timestamp')}"[:200]
        return _build(channel, platform_id(mid, "postback.mid"), sender, "callback",
                      str(postback.get("title") or ""), str(postback.get("payload") or ""), ())
    if not isinstance(message, dict) or message.get("is_echo") or message.get("is_deleted"):
        return None  # our own message echoed back, a deletion, a read or delivery event
    text = str(message.get("text") or "")
    quick = message.get("quick_reply")
    attachments = _attachments(message)
    kind: InboundKind = "text"
    data = None
    if isinstance(quick, dict) and quick.get("payload"):
        kind, data = "callback", str(quick["payload"])
    elif attachments and not text:
        kind = "unsupported"
    elif text.startswith("/"):
        kind = "command"
    return _build(channel, platform_id(message["mid"], "message.mid"), sender, kind, text, data,
                  attachments,
                  raw={"reply_to": message.get("reply_to")})


def _build(channel: str, mid: str, sender: str, kind: InboundKind, text: str,
           data: str | None, attachments: tuple[dict[str, Any], ...],
           raw: dict[str, Any] | None = None) -> InboundMessage:
    return InboundMessage(channel=channel, event_id=mid, user_id=sender, chat_id=sender,
                          text=text, kind=kind, callback_data=data, attachments=attachments,
                          raw=raw or {})


def _attachments(message: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    found = []
    for item in message.get("attachments") or ():
        payload = item.get("payload") if isinstance(item, dict) else None
        kind = str(item.get("type", "file")) if isinstance(item, dict) else "file"
        entry: dict[str, Any] = {"type": kind, "name": kind}
        if isinstance(payload, dict) and payload.get("url"):
            entry["url"] = str(payload["url"])
        found.append(entry)
    story = (message.get("reply_to") or {}).get("story")
    if isinstance(story, dict):  # an Instagram story reply: the text answers this story
        found.append({"type": "story_reply", "name": "story", "url": str(story.get("url", "")),
                      "id": str(story.get("id", ""))})
    return tuple(found)
