"""The agent's desk in the admin UI: a ticket with its notes and actions, and the customer page.

Actions from the ticket page are the REST API's (handlers/tickets/api/desk.py): stored as staff
events and carried out by the same ticket handlers and outbox as in Slack, in order with the
customer's messages; the page reloads with what was queued.
"""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web
from sqlalchemy import select

from bot.api import people
from bot.api.base import ApiError
from bot.keys import CORE
from bot.web.admin.render import render
from bot.web.edge import form_fields
from handlers.tickets.api import desk
from storage import agents, saved_replies
from storage.clean import BadInput, db_id
from storage.customer_view import customer_view
from storage.models import Customer, Ticket, TicketNote

FIELDS = ("action", "text", "assignee", "team", "priority")


def _path_id(request: web.Request, name: str) -> int:
    try:
        return db_id(request.match_info[name], name)
    except BadInput:
        raise web.HTTPNotFound() from None


async def ticket_detail(request: web.Request) -> web.Response:
    ticket_id = _path_id(request, "ticket_id")
    async with request.app[CORE].sessions() as session:
        ticket = await session.get(Ticket, ticket_id)
        if ticket is None:
            raise web.HTTPNotFound(text=f"No ticket {ticket_id}.")
        customer = await session.get(Customer, ticket.customer_id)
        messages = await people.transcript(session, ticket.conversation_id)
        notes = (await session.scalars(select(TicketNote).where(
            TicketNote.ticket_id == ticket_id).order_by(TicketNote.id))).all()
        saved = sorted({r.name for r in await saved_replies.listing(session)})
        known = await agents.names(session, [ticket.assignee, *(n.author for n in notes)])
    return render(request, "ticket.html", ticket=ticket, customer=customer, messages=messages,
                  notes=notes, priorities=desk.PRIORITIES, saved=saved, agents=known)


async def ticket_action(request: web.Request) -> web.StreamResponse:
    ticket_id = _path_id(request, "ticket_id")
    form = await form_fields(request)
    data = {name: str(form[name]) for name in FIELDS if name in form}
    try:
        _, staff, _ = await desk.submit(request, ticket_id, data)
        flash = f"Queued: {staff.action}. It is carried out in order with the conversation."
    except ApiError as exc:
        if exc.status == 404:
            raise web.HTTPNotFound(text=exc.message) from None
        flash = f"Not done: {exc.message}"
    raise web.HTTPSeeOther(f"/admin/tickets/{ticket_id}?" + urlencode({"flash": flash}))


async def customer_page(request: web.Request) -> web.Response:
    customer_id = _path_id(request, "customer_id")
    async with request.app[CORE].sessions() as session:
        view = await customer_view(session, customer_id)
        known = await agents.names(session, (t.assignee for t in view.tickets)) if view else {}
    if view is None:
        raise web.HTTPNotFound(text=f"No customer {customer_id}.")
    return render(request, "customer.html", view=view, c=view.customer, agents=known)
