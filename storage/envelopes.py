"""Platform-neutral message types: what channels hand to the core and what the core sends back.

They live in storage/ because they are also the stored form of the inbox and the outbox (plain
JSON); the runtime and the features import them as ``bot.messages``.

Channel adapters translate platform payloads into :class:`InboundMessage` and
:class:`OutboundMessage` back into platform calls; nothing in handlers/ ever sees a platform type.
Both serialise to plain JSON so they can sit in the inbox and outbox tables.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from storage.clean import clean

InboundKind = Literal["text", "command", "callback", "unsupported", "edited"]


@dataclass(frozen=True, slots=True)
class Button:
    """An inline button: ``data`` comes back as a callback; ``url`` opens a link instead."""

    label: str
    data: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One customer event as the core sees it, whatever channel it came from.

    ``event_id`` is unique per channel (Telegram update_id, widget client message id, ...) and
    is what makes a redelivery harmless. ``chat_id`` is where replies go; ``user_id`` is who
    wrote (they differ in groups).
    """

    channel: str
    event_id: str
    user_id: str
    chat_id: str
    text: str = ""
    kind: InboundKind = "text"
    callback_data: str | None = None
    display_name: str | None = None
    locale_hint: str | None = None
    is_group: bool = False
    attachments: tuple[dict[str, Any], ...] = ()
    raw: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def sanitized(self) -> InboundMessage:
        """The same message storable in every database: NUL characters (refused by
        PostgreSQL text and JSON) and lone surrogates (refused by UTF-8 on both) become
        U+FFFD, everywhere including ``raw`` (storage/clean.py)."""
        return InboundMessage.from_json(clean(self.to_json()))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InboundMessage:
        data = dict(data)
        data["attachments"] = tuple(data.get("attachments") or ())
        return cls(**data)


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One message to deliver. ``buttons`` are rows of buttons; ``meta`` carries channel extras
    (e.g. a Slack thread) that only the target adapter interprets."""

    channel: str
    chat_id: str
    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    locale: str = "en"
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OutboundMessage:
        rows = tuple(tuple(Button(**b) for b in row) for row in data.get("buttons") or ())
        return cls(
            channel=data["channel"],
            chat_id=data["chat_id"],
            text=data["text"],
            buttons=rows,
            locale=data.get("locale", "en"),
            meta=dict(data.get("meta") or {}),
        )
