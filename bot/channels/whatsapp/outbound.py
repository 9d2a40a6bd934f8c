"""crmbot's OutboundMessage -> a WhatsApp Cloud API message body.

WhatsApp's interactive messages have hard limits: at most 3 reply buttons with titles of at
most 20 characters, or one list of at most 10 rows (titles 24 characters, a 20-character
button to open it), and a body of at most 1,024 characters. crmbot's buttons are fitted into
the first that holds them; when neither does (more than 10 choices, a link button, a body too
long) the message goes as plain text with the choices written out. A scale (0-10 for NPS) is
written as its values, which the survey reads when typed; other choices are listed for the
customer to answer in words.
"""

from __future__ import annotations

from typing import Any

from bot.messages import Button, OutboundMessage

MAX_TEXT = 4096
MAX_BODY = 1024
MAX_BUTTONS, MAX_BUTTON_TITLE = 3, 20
MAX_ROWS, MAX_ROW_TITLE, MAX_ROW_DESCRIPTION = 10, 24, 72
MAX_ID = 200


def body(message: OutboundMessage, list_label: str = "Options") -> dict[str, Any]:
    """The ``messages`` request body (without ``to``) for ``message``."""
    buttons = [b for row in message.buttons for b in row]
    replies = [b for b in buttons if b.data and len(b.data) <= MAX_ID]
    text = message.text or "…"
    if replies and len(replies) == len(buttons) and len(text) <= MAX_BODY:
        if len(replies) <= MAX_BUTTONS and all(len(b.label) <= MAX_BUTTON_TITLE for b in replies):
            return _interactive("button", text, {"buttons": [
                {"type": "reply", "reply": {"id": b.data, "title": b.label}} for b in replies]})
        if len(replies) <= MAX_ROWS:
            return _interactive("list", text, {
                "button": list_label[:MAX_BUTTON_TITLE],
                "sections": [{"rows": [_row(b) for b in replies]}]})
    return {"type": "text", "text": {"body": _with_choices(text, buttons)[:MAX_TEXT],
                                     "preview_url": any(b.url for b in buttons)}}


def template(name: str, locale: str, text: str) -> dict[str, Any]:
    """An approved template whose one body variable ({{1}}) carries crmbot's text."""
    return {"type": "template", "template": {
        "name": name, "language": {"code": locale},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": text[:MAX_BODY]}]}],
    }}


def _interactive(kind: str, text: str, action: dict[str, Any]) -> dict[str, Any]:
    return {"type": "interactive",
            "interactive": {"type": kind, "body": {"text": text}, "action": action}}


def _row(button: Button) -> dict[str, Any]:
    row: dict[str, Any] = {"id": button.data, "title": button.label[:MAX_ROW_TITLE]}
    if len(button.label) > MAX_ROW_TITLE:
        row["description"] = button.label[:MAX_ROW_DESCRIPTION]
    return row


def _with_choices(text: str, buttons: list[Button]) -> str:
    """Plain text with the buttons written out: numbered choices, links as URLs."""
    lines = [text]
    choices = [b for b in buttons if not b.url]
    if choices and all(b.label.strip().isdigit() for b in choices):
        lines.append(" · ".join(b.label.strip() for b in choices))
    else:
        lines += [f"• {b.label}" for b in choices]
    lines += [f"{b.label}: {b.url}" for b in buttons if b.url]
    return "\n".join(lines)
