"""While a human owns the conversation the bot relays to the desk and otherwise stays quiet.

Quiet, but not silent: the first message after the hand-over gets one acknowledgement (the team
has it, and when they answer: business hours on the customer's clock), so nobody writes into
a void; later messages of the same case get nothing until staff answer.
"""

from __future__ import annotations

from bot import desk_notify
from bot.context import Context
from bot.dispatcher import Router
from handlers.identity.service import follows_open_ticket, wait_text
from handlers.tickets.escalation import open_ticket

router = Router("human", priority=30)
TOLD = "told_waiting"  # the ticket whose customer was told that the team has their message


@router.handler
async def relay(ctx: Context) -> bool:
    if ctx.conversation.mode != "human" and not await follows_open_ticket(ctx):
        return False
    ticket = await open_ticket(ctx)
    if ticket is None:
        ctx.conversation.mode = "bot"
        return False
    await desk_notify.tell(ctx, "customer_wrote", ticket)
    if ctx.state.get(TOLD) != ticket.id:
        ctx.state[TOLD] = ticket.id
        ctx.save_state()
        ctx.reply(ctx.t("human_has_it", ticket=ticket.id, wait=wait_text(ctx)))
    return True
