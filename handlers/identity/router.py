"""The identity commands: ``/link`` (get a one-time code), ``/link CODE`` (prove this channel is
the same person; the two customer records are merged, storage/merge.py), ``/tz`` and
``/tz Europe/Riga`` (show or set the customer's time zone). A zone the platform reports
(``InboundMessage.timezone``, e.g. the widget's browser zone) is kept unless the customer chose
one."""

from __future__ import annotations

import math
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.context import Context
from bot.dispatcher import Router
from bot.hours import customer_timezone, valid_zone
from bot.i18n import format_datetime
from bot.messages import parse_command
from handlers.identity.service import customer_open_ticket
from storage import linking
from storage.merge import merge_customers, resolve_customer
from storage.models import ChannelIdentity, Customer

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
