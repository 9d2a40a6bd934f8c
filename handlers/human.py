"""While a human owns the conversation the bot stays quiet and relays to the desk."""

from __future__ import annotations

from bot.context import Context
from bot.dispatcher import Router
from handlers.escalation import open_ticket
from handlers.identity import follows_open_ticket

router = Router("human", priority=30)


@router.handler
async def relay(ctx: Context) -> bool:
    if ctx.conversation.mode != "human" and not await follows_open_ticket(ctx):
        return False
    ticket = await open_ticket(ctx)
    if ticket is None:
        ctx.conversation.mode = "bot"
        return False
    await ctx.services.desk.customer_wrote(ctx, ticket)
    return True
