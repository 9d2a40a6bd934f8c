"""What other features ask of identity: the customer's open case across channels, and when a
person will answer, on the customer's own clock."""

from __future__ import annotations

import math
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.context import Context
from bot.hours import customer_timezone, hours_for, is_open, next_open
from bot.i18n import format_datetime
from storage.models import Ticket
from storage.ticket_states import OPEN_STATUSES


def wait_text(ctx: Context, team: str = "default") -> str:
    """"...usually within a few minutes" when the team is open, else when it opens, on the
    customer's own clock and in their language ("when we open: Mon, Mar 30, 09:00")."""
    hours = hours_for(ctx.services.settings).team(team)
    if is_open(ctx.now, hours):
        return ctx.t("human_wait_open")
    opens = next_open(ctx.now, hours)
    if opens is None:
        return ctx.t("human_wait_unknown")
    tz = customer_timezone(ctx.customer, ctx.services.settings)
    when = format_datetime(opens, ctx.locale, tz)
    ahead = opens - ctx.now
    if ahead < timedelta(hours=24):
        hours_left = max(1, math.ceil(ahead.total_seconds() / 3600))
        return ctx.services.translator.t_plural("human_wait_hours", hours_left, ctx.locale,
                                                when=when)
    return ctx.t("human_wait_closed", when=when)


async def customer_open_ticket(session: AsyncSession, customer_id: int) -> Ticket | None:
    return await session.scalar(
        select(Ticket).where(Ticket.customer_id == customer_id,
                             Ticket.status.in_(OPEN_STATUSES))
        .order_by(Ticket.id.desc()).limit(1))


async def follows_open_ticket(ctx: Context) -> bool:
    """A message on a linked channel while a person handles the customer's case elsewhere:
    this conversation joins that case (human mode), so the message reaches the same ticket."""
    if not await ctx.reads.human_elsewhere(ctx.session, ctx.customer.id, ctx.conversation.id):
        return False
    ctx.conversation.mode = "human"
    return True


