"""Platform-neutral message types: what channels hand to the core and what the core sends back.

They live in storage/ because they are also the stored form of the inbox and the outbox (plain
JSON); the runtime and the features import them as ``bot.messages``.

Channel adapters translate platform payloads into :class:`InboundMessage` and
:class:`OutboundMessage` back into platform calls; nothing in handlers/ ever sees a platform type.
Both serialise to plain JSON so they can sit in the inbox and outbox tables.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
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
class StaffAction:
    """A staff member's action on a ticket, as a desk (Slack, the REST API, the admin UI)
    reported it. Only a desk adapter writes one; a customer's event never carries it.

    ``where``/``ts`` say where in the desk it happened (a Slack channel and message), so the
    desk can confirm it there; ``assignee``, ``team`` and ``priority`` are the arguments of
    ``assign`` and ``priority``.
    """

    action: str
    ticket: int
    user: str
    where: str = ""
    ts: str = ""
    assignee: str = ""
    team: str = ""
    priority: str = ""

    def inbound(self, desk: str, event_id: str, chat_id: str, text: str = "") -> InboundMessage:
        """The action as an inbox event of the desk (``Core.ingest`` files it in the ticket's
        conversation). Kind ``callback`` on purpose: the processor's language detection skips
        it, so an agent writing English never changes a Swedish customer's language."""
        return InboundMessage(channel=desk, event_id=event_id, user_id=self.user,
                              chat_id=chat_id, text=text, kind="callback",
                              callback_data=f"agent:{self.action}", staff=self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StaffAction:
        """Unknown keys are dropped; ``channel`` is the name an earlier release stored
        ``where`` under (inside ``raw["agent"]``)."""
        data = {**data, "where": data.get("where") or data.get("channel") or ""}
        names = {f.name for f in fields(cls)}
        values: dict[str, Any] = {k: str(v) for k, v in data.items()
                                  if k in names and v is not None}
        values["ticket"] = int(values.get("ticket") or 0)
        return cls(**values)


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One customer event as the core sees it, whatever channel it came from.

    ``event_id`` is unique per channel (Telegram update_id, widget client message id, ...) and
    is what makes a redelivery harmless. ``chat_id`` is where replies go; ``user_id`` is who
    wrote (they differ in groups).

    What features need of the platform is a typed field, never read out of ``raw`` (which is
    the platform's payload, for logs and debugging): ``timezone`` (an IANA name the platform
    knows, e.g. the browser's), ``staff`` (a desk's action on a ticket), ``feedback`` (a review
    from the intake API or the widget's rating form: source, external_id, rating, text, ...).
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
    timezone: str | None = None
    staff: StaffAction | None = None
    feedback: dict[str, Any] | None = None
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
        """Also reads what an earlier release stored: the staff action, the review and the
        time zone inside ``raw`` (events still in the inbox across an upgrade)."""
        data = dict(data)
        data["attachments"] = tuple(data.get("attachments") or ())
        raw = data.get("raw") or {}
        staff = data.get("staff") or raw.get("agent")
        data["staff"] = StaffAction.from_json(staff) if isinstance(staff, dict) else None
        if data.get("feedback") is None and isinstance(raw.get("feedback"), dict):
            data["feedback"] = raw["feedback"]
        if data.get("timezone") is None and isinstance(raw.get("timezone"), str):
            data["timezone"] = raw["timezone"]
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
