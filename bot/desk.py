"""The human support desk as the core sees it: where escalations and relayed messages go.

The Slack desk (bot/channels/slack.py) implements this; without one configured, tickets are
still opened and listed by the admin API and CLI, but nobody is pinged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from bot.context import Context
    from storage.models import Ticket


class SupportDesk(Protocol):
    async def escalated(self, ctx: Context, ticket: Ticket) -> None:
        """A ticket was opened for this conversation (post it for staff)."""

    async def customer_wrote(self, ctx: Context, ticket: Ticket) -> None:
        """The customer wrote while a human owns the conversation (relay it)."""

    async def returned_to_bot(self, ctx: Context, ticket: Ticket, by: str) -> None:
        """The conversation went back to the bot."""

    # Outcomes of staff actions (handlers/tickets/staff.py); ``ref`` is what the desk put in the
    # staff event (who, and where in the desk the action happened).

    async def claimed(self, ctx: Context, ticket: Ticket, by: str) -> None:
        """A staff member took the ticket (show everyone who has it)."""

    async def resolved(self, ctx: Context, ticket: Ticket, by: str) -> None:
        """The ticket was closed."""

    async def relayed(self, ctx: Context, ticket: Ticket, ref: dict[str, Any]) -> None:
        """A staff reply was handed to the customer's channel (confirm it to staff)."""

    async def refused(self, ctx: Context, ticket: Ticket, ref: dict[str, Any], why: str) -> None:
        """A staff action could not be carried out; ``why`` is a short reason code."""

    async def reopened(self, ctx: Context, ticket: Ticket, by: str) -> None:
        """A staff member opened a resolved ticket again."""

    async def noted(self, ctx: Context, ticket: Ticket, by: str, text: str) -> None:
        """A staff member left an internal note (show it to staff who were not there)."""

    async def dead_letter(self, ctx: Context, ticket: Ticket | None, event_id: int) -> None:
        """An event of this conversation failed every attempt and was closed without its
        effects (bot/deadletter.py): tell staff where they will see it."""


class NullDesk:
    """No desk configured: nothing to notify."""

    async def escalated(self, ctx: Context, ticket: Ticket) -> None:
        return None

    async def customer_wrote(self, ctx: Context, ticket: Ticket) -> None:
        return None

    async def returned_to_bot(self, ctx: Context, ticket: Ticket, by: str) -> None:
        return None

    async def claimed(self, ctx: Context, ticket: Ticket, by: str) -> None:
        return None

    async def resolved(self, ctx: Context, ticket: Ticket, by: str) -> None:
        return None

    async def relayed(self, ctx: Context, ticket: Ticket, ref: dict[str, Any]) -> None:
        return None

    async def refused(self, ctx: Context, ticket: Ticket, ref: dict[str, Any], why: str) -> None:
        return None

    async def reopened(self, ctx: Context, ticket: Ticket, by: str) -> None:
        return None

    async def noted(self, ctx: Context, ticket: Ticket, by: str, text: str) -> None:
        return None

    async def dead_letter(self, ctx: Context, ticket: Ticket | None, event_id: int) -> None:
        return None
