"""Slash commands every channel understands: /start, /help, /lang, /human, /bot."""

from __future__ import annotations

from bot.context import Context
from bot.dispatcher import Router
from bot.handling import set_locale
from bot.i18n import normalise_locale
from bot.messages import parse_command
from handlers.tickets import escalation

router = Router("commands", priority=10)


@router.handler
async def commands(ctx: Context) -> bool:
    parsed = parse_command(ctx.text)
    if parsed is None:
        return False
    name, arg = parsed
    handler = COMMANDS.get(name)
    if handler is None:
        return False
    await handler(ctx, arg)
    return True


async def start(ctx: Context, _arg: str) -> None:
    name = ctx.customer.display_name
    ctx.reply(ctx.t("welcome", name=f", {name}" if name else ""))


async def help_(ctx: Context, _arg: str) -> None:
    ctx.reply(ctx.t("help"))


async def lang(ctx: Context, arg: str) -> None:
    locale = normalise_locale(arg)
    if locale is None:
        ctx.reply(ctx.t("lang_usage"))
        return
    set_locale(ctx.customer, locale, "explicit")
    ctx.locale = locale
    ctx.reply(ctx.t("lang_set"))


async def human(ctx: Context, _arg: str) -> None:
    await escalation.escalate(ctx, reason="customer_request")


async def back_to_bot(ctx: Context, _arg: str) -> None:
    await escalation.return_to_bot(ctx, by="customer")


COMMANDS = {
    "start": start,
    "help": help_,
    "lang": lang,
    "language": lang,
    "human": human,
    "agent": human,
    "bot": back_to_bot,
}
