"""Input the bot cannot use: answered politely, stored all the same (nothing is lost)."""

from __future__ import annotations

from bot.context import Context
from bot.dispatcher import Router

router = Router("guard", priority=5)


@router.handler
async def oversize(ctx: Context) -> bool:
    limit = ctx.services.settings.max_message_chars
    if len(ctx.inbound.text) <= limit:
        return False
    ctx.reply(ctx.t("too_long", length=len(ctx.inbound.text), limit=limit))
    return True


@router.handler
async def unsupported(ctx: Context) -> bool:
    if ctx.inbound.kind != "unsupported" or ctx.conversation.mode == "human":
        return False
    ctx.reply(ctx.t("unsupported_content"))
    return True


@router.handler
async def empty(ctx: Context) -> bool:
    if ctx.inbound.kind in ("text", "command") and not ctx.text:
        ctx.reply(ctx.t("empty_message"))
        return True
    return False
