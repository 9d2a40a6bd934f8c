"""Assign a just-opened ticket to an agent on shift (assignment_rules.py), by the status machine.

Runs on the "ticket_opened" event inside the transaction that opened the ticket, after the desk
was told about it, so the desk shows the assignment in the ticket's thread like a claim.
Without rules, or outside the matching rule's business hours, nothing happens and the ticket
waits to be claimed.
"""

from __future__ import annotations

import logging
from functools import cache

from bot import desk_notify
from bot.context import Context
from bot.dispatcher import Router
from bot.hours import hours_for, is_open
from handlers.tickets import escalation
from handlers.tickets.assignment_rules import Rule, first_match, parse_rules
from storage import ticket_states as states
from storage import tickets as repo
from storage.models import Ticket

log = logging.getLogger("crmbot.assignment")

router = Router("assignment", priority=95)


@cache
def rules_of(raw: str) -> tuple[Rule, ...]:
    """CRMBOT_ASSIGN_RULES parsed once (checked at start-up by the composition root)."""
    return parse_rules(raw)


@router.on(escalation.TICKET_OPENED)
async def assign_new_ticket(ctx: Context, ticket: Ticket) -> None:
    settings = ctx.services.settings
    rule = first_match(rules_of(settings.assign_rules), ticket.channel, ctx.locale,
                       ticket.priority)
    if rule is None or ticket.assignee or not states.allowed(ticket, "assign"):
        return
    try:
        team = hours_for(settings).team(rule.team)
    except ValueError as exc:
        log.error("assignment rule skipped: %s", exc)
        return
    if not is_open(ctx.now, team):
        return
    agent = await pick(ctx, rule.agents, settings.assign_mode)
    states.move(ticket, "assign", ctx.now, agent)
    await desk_notify.tell(ctx, "claimed", ticket, by=agent)


async def pick(ctx: Context, agents: tuple[str, ...], mode: str) -> str:
    """least_open: fewest open tickets, then assigned longest ago; round_robin: the latter."""
    load = await repo.workload(ctx.session, list(agents))

    def key(agent: str) -> tuple[int, float, int]:
        open_count, last = load.get(agent, (0, None))
        waited = last.timestamp() if last is not None else float("-inf")
        return (open_count if mode == "least_open" else 0, waited, agents.index(agent))

    return min(agents, key=key)
