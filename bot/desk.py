"""The human support desk as the core sees it: where escalations and relayed messages go.

The port is one method, :meth:`SupportDesk.handle`, that takes a :class:`DeskEvent` (plain,
frozen data: what happened, to which ticket, in which conversation) and returns the posts to
make. It gets no handler context, no session and no ORM object, so a desk cannot read or write
the database inside the handler's transaction; the caller (bot/desk_notify.py) puts the posts
in the outbox of that transaction, so they exist exactly when the change that caused them is
committed. The Slack desk (bot/channels/slack/desk.py) implements it; without one configured,
tickets are still opened and listed by the admin API and CLI, but nobody is pinged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from bot.messages import OutboundMessage, StaffAction

DeskKind = Literal[
    "escalated",        # a ticket was opened (``again``: asked for again on one that exists)
    "customer_wrote",   # the customer wrote while a human owns the conversation
    "returned_to_bot",  # the conversation went back to the bot (``by``)
    "claimed",          # a staff member took the ticket (``by``)
    "resolved",         # the ticket was closed (``by``)
    "relayed",          # a staff reply was handed to the customer's channel (``staff``)
    "refused",          # a staff action could not be carried out (``staff``, ``why``)
    "reopened",         # a resolved ticket is open again (``by``)
    "noted",            # an internal note (``by``, ``text``)
    "dead_letter",      # an event failed every attempt (``event_id``); ticket may be None
]


@dataclass(frozen=True, slots=True)
class TicketView:
    """What a desk knows of a ticket: a snapshot taken after the change."""

    id: int
    status: str
    priority: str
    reason: str
    assignee: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class CaseView:
    """The conversation an event belongs to, and who the customer is."""

    conversation_id: int
    channel: str
    mode: str
    customer_name: str | None
    locale: str


@dataclass(frozen=True, slots=True)
class ReviewView:
    """For a ticket opened from a review or forum post (the intake channel)."""

    source: str
    rating: int | None
    url: str | None
    text: str
    reply_text: str | None
    replied_by: str | None
    suggested_reply: str | None


@dataclass(frozen=True, slots=True)
class DeskEvent:
    """One thing staff should see. ``source`` is the channel of the event being processed
    (``slack`` when the action came from Slack itself); ``message_kind`` and ``text`` are the
    customer's message for ``customer_wrote`` and the note for ``noted``. ``history`` (the
    last messages before the ticket, oldest first, as (sender, text)) and ``review`` are filled
    only for a desk that asks for them (:attr:`SupportDesk.wants_history`)."""

    kind: DeskKind
    case: CaseView
    ticket: TicketView | None
    source: str
    again: bool = False
    by: str = ""
    text: str = ""
    message_kind: str = "text"
    staff: StaffAction | None = None
    why: str = ""
    event_id: int = 0
    history: tuple[tuple[str, str], ...] = ()
    review: ReviewView | None = None


@dataclass(frozen=True, slots=True)
class DeskPost:
    """A message for the desk's channel and the outbox order it is delivered in."""

    message: OutboundMessage
    order_key: str


class SupportDesk(Protocol):
    #: whether events should carry the conversation's history and review (a query each)
    wants_history: bool

    def handle(self, event: DeskEvent) -> list[DeskPost]:
        """The posts that tell staff about ``event`` (none: nothing to show)."""


class NullDesk:
    """No desk configured: nothing to notify."""

    wants_history = False

    def handle(self, event: DeskEvent) -> list[DeskPost]:
        return []
