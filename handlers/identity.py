"""One customer across channels, in their language and on their clock.

Commands: ``/link`` (get a one-time code), ``/link CODE`` (prove this channel is the same person;
the two customer records are merged, storage/merge.py), ``/tz`` and ``/tz Europe/Riga`` (show or
set the customer's time zone). A channel adapter that knows the customer's zone (the web widget
can read the browser's) may put an IANA name in ``InboundMessage.timezone``; it is kept
unless the customer chose one.

Functions for other features: :func:`customer_history` (the whole cross-channel transcript, for
the desk), :func:`wait_text` (when a human will answer, from the business hours),
:func:`follows_open_ticket` (a linked channel joins the customer's open case).
"""

from __future__ import annotations

import math
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.context import Context
from bot.dispatcher import Router
from bot.hours import customer_timezone, hours_for, is_open, next_open, valid_zone
from bot.i18n import format_datetime
from bot.messages import parse_command
from storage import linking
from storage.merge import merge_customers, resolve_customer
from storage.models import ChannelIdentity, Customer, Ticket
from storage.ticket_states import OPEN_STATUSES

router = Router("identity", priority=8)


@router.handler
async def identity_commands(ctx: Context) -> bool:
    _platform_timezone(ctx)
    parsed = parse_command(ctx.text) if ctx.inbound.kind in ("text", "command") else None
    if parsed is None or parsed[0] not in ("link", "tz", "timezone"):
        return False
    name, arg = parsed
    if name == "link":
        await (link_redeem(ctx, arg) if arg else link_issue(ctx))
    else:
        set_timezone(ctx, arg)
    return True


# -- linking --------------------------------------------------------------------------------


async def link_issue(ctx: Context) -> None:
    code = await linking.issue_code(ctx.session, ctx.customer.id, ctx.identity.id, ctx.now)
    minutes = int(linking.CODE_TTL.total_seconds() // 60)
    ctx.reply(ctx.services.translator.t_plural("link_code", minutes, ctx.locale, code=code))


async def link_redeem(ctx: Context, code: str) -> None:
    result = await linking.redeem_code(ctx.session, code, ctx.identity.id, ctx.now)
    if result.outcome == "limited":
        wait = math.ceil((result.retry_after or timedelta()).total_seconds() / 60)
        ctx.reply(ctx.services.translator.t_plural("link_limited", max(wait, 1), ctx.locale))
        return
    if result.outcome != "ok" or result.customer_id is None:
        ctx.reply(ctx.t("link_invalid"))
        return
    target_id = await resolve_customer(ctx.session, result.customer_id)
    if target_id == ctx.customer.id:
        ctx.reply(ctx.t("link_already"))
        return
    await merge_customers(ctx.session, target_id, ctx.customer.id,
                          actor=f"link:{ctx.identity.channel}", reason="link_code")
    await _reload(ctx, target_id)
    ctx.reply(ctx.t("link_done", channels=", ".join(await _channels(ctx.session, target_id))))
    ticket = await customer_open_ticket(ctx.session, target_id)
    if ticket is not None:
        ctx.reply(ctx.t("link_ticket", ticket=ticket.id))


async def _reload(ctx: Context, customer_id: int) -> None:
    """The merge moved rows with SQL UPDATEs: bring this event's ORM objects up to date."""
    await ctx.session.refresh(ctx.conversation)
    await ctx.session.refresh(ctx.identity)
    ctx.customer = await ctx.session.get_one(Customer, customer_id)
    await ctx.session.refresh(ctx.customer)


async def _channels(session: AsyncSession, customer_id: int) -> list[str]:
    rows = await session.scalars(
        select(ChannelIdentity.channel).where(ChannelIdentity.customer_id == customer_id)
        .distinct().order_by(ChannelIdentity.channel))
    return list(rows.all())


# -- time zones -----------------------------------------------------------------------------


def set_timezone(ctx: Context, arg: str) -> None:
    if not arg:
        tz = customer_timezone(ctx.customer, ctx.services.settings)
        ctx.reply(ctx.t("tz_current", tz=tz.key, time=_clock(ctx, tz.key)))
        return
    name = valid_zone(arg)
    if name is None:
        ctx.reply(ctx.t("tz_usage"))
        return
    ctx.customer.timezone = name
    ctx.customer.attributes = {**(ctx.customer.attributes or {}), "timezone_source": "explicit"}
    ctx.reply(ctx.t("tz_set", tz=name, time=_clock(ctx, name)))


def _clock(ctx: Context, tz: str) -> str:
    return format_datetime(ctx.now, ctx.locale, tz, "short")


def _platform_timezone(ctx: Context) -> None:
    """Keep a zone the platform reports, unless the customer chose one with /tz."""
    raw = ctx.inbound.timezone
    attributes = ctx.customer.attributes or {}
    if not isinstance(raw, str) or attributes.get("timezone_source") == "explicit":
        return
    name = valid_zone(raw)
    if name is not None and name != ctx.customer.timezone:
        ctx.customer.timezone = name
        ctx.customer.attributes = {**attributes, "timezone_source": "platform"}


# -- for other features ---------------------------------------------------------------------


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


