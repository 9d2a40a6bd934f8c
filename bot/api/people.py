"""/api/v1/tickets and /api/v1/customers: what agents and admins see of cases and people.

A customer's detail is the whole person: every identity, every conversation on every channel
in one timeline (their last messages across channels, oldest first), tickets, surveys answered,
consent, time zone and language, and merges. Acting on a ticket is handlers/tickets/api/desk.py.

Pages are ordered by id (tickets newest first, customers oldest first) with an id cursor, which
stays stable while new rows arrive.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.api.base import (
    PAGE_PARAMS,
    ApiError,
    ApiRoute,
    Param,
    decode_cursor,
    not_found,
    page,
    page_limit,
    path_int,
    query_choice,
)
from bot.keys import CORE
from storage import agents
from storage.customer_view import CustomerView, customer_view
from storage.models import Customer, Message, Ticket, TicketNote
from storage.ticket_states import OPEN_STATUSES, RESOLVED

STATUSES = (*OPEN_STATUSES, RESOLVED)
TRANSCRIPT_LIMIT = 1000


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def ticket_json(t: Ticket, names: dict[str, str] | None = None) -> dict[str, Any]:
    """``assignee_name``: the agent's display name where the desk told us (storage/agents.py)."""
    return {"assignee_name": (names or {}).get(t.assignee or ""),
        "id": t.id, "status": t.status, "priority": t.priority, "reason": t.reason,
        "subject": t.subject, "channel": t.channel, "customer_id": t.customer_id,
        "conversation_id": t.conversation_id, "assignee": t.assignee,
        "created_at": _iso(t.created_at), "claimed_at": _iso(t.claimed_at),
        "first_response_at": _iso(t.first_response_at), "resolved_at": _iso(t.resolved_at),
    }


def customer_json(c: Customer) -> dict[str, Any]:
    """``merged_into``: this record was folded into another one (use that one)."""
    merged = (c.attributes or {}).get("merged_into")
    return {"id": c.id, "display_name": c.display_name, "locale": c.locale,
            "created_at": _iso(c.created_at), "last_contact_at": _iso(c.last_contact_at),
            "merged_into": merged if isinstance(merged, int) else None}


def message_json(m: Message) -> dict[str, Any]:
    return {"id": m.id, "direction": m.direction, "sender": m.sender, "text": m.text,
            "kb_entry_id": m.kb_entry_id, "confidence": m.confidence,
            "created_at": _iso(m.created_at)}


def _after_id(request: web.Request) -> int | None:
    key = decode_cursor(request)
    if key is None:
        return None
    if len(key) != 1 or not isinstance(key[0], int):
        raise ApiError(400, "invalid_parameter", "cursor is not one this API gave out", "cursor")
    return key[0]


async def query_tickets(
    session: AsyncSession, status: str | None, limit: int, before: int | None = None
) -> list[Ticket]:
    stmt = select(Ticket).order_by(Ticket.id.desc()).limit(limit)
    if status:
        stmt = stmt.where(Ticket.status == status)
    if before is not None:
        stmt = stmt.where(Ticket.id < before)
    return list((await session.scalars(stmt)).all())


async def transcript(session: AsyncSession, conversation_id: int | None) -> list[Message]:
    if conversation_id is None:
        return []
    stmt = (select(Message).where(Message.conversation_id == conversation_id)
            .order_by(Message.id.desc()).limit(TRANSCRIPT_LIMIT))
    return list(reversed((await session.scalars(stmt)).all()))


async def list_tickets(request: web.Request) -> web.Response:
    limit = page_limit(request)
    status = query_choice(request, "status", STATUSES)
    before = _after_id(request)
    async with request.app[CORE].sessions() as session:
        rows = await query_tickets(session, status, limit + 1, before)
        known = await agents.names(session, (t.assignee for t in rows))
    more = len(rows) > limit
    rows = rows[:limit]
    return page([ticket_json(t, known) for t in rows], [rows[-1].id] if more else None)


async def get_ticket(request: web.Request) -> web.Response:
    ticket_id = path_int(request, "ticket_id")
    async with request.app[CORE].sessions() as session:
        ticket = await session.get(Ticket, ticket_id)
        if ticket is None:
            raise not_found(f"ticket {ticket_id}")
        customer = await session.get(Customer, ticket.customer_id)
        messages = await transcript(session, ticket.conversation_id)
        notes = (await session.scalars(select(TicketNote).where(
            TicketNote.ticket_id == ticket_id).order_by(TicketNote.id))).all()
        known = await agents.names(session, [ticket.assignee, *(n.author for n in notes)])
    body = ticket_json(ticket, known)
    body["customer"] = customer_json(customer) if customer else None
    body["transcript"] = [message_json(m) for m in messages]
    body["notes"] = [{"id": n.id, "author": n.author, "author_name": known.get(n.author),
                      "source": n.source, "text": n.text, "created_at": _iso(n.created_at)}
                     for n in notes]
    return web.json_response(body)


async def list_customers(request: web.Request) -> web.Response:
    limit = page_limit(request)
    after = _after_id(request)
    stmt = select(Customer).order_by(Customer.id).limit(limit + 1)
    if after is not None:
        stmt = stmt.where(Customer.id > after)
    async with request.app[CORE].sessions() as session:
        rows = list((await session.scalars(stmt)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return page([customer_json(c) for c in rows], [rows[-1].id] if more else None)


async def get_customer(request: web.Request) -> web.Response:
    customer_id = path_int(request, "customer_id")
    async with request.app[CORE].sessions() as session:
        view = await customer_view(session, customer_id)
    if view is None:
        raise not_found(f"customer {customer_id}")
    return web.json_response(customer_view_json(view))


def customer_view_json(view: CustomerView) -> dict[str, Any]:
    """The whole person (storage/customer_view.py) as JSON."""
    c = view.customer
    body = customer_json(c)
    body.update(
        attributes=c.attributes, timezone=c.timezone,
        consent={"announcements": view.announcements},
        identities=[{"channel": i.channel, "external_id": i.external_id,
                     "display_name": i.display_name,
                     "unreachable": i.unreachable_reason is not None} for i in view.identities],
        conversations=[{"id": v.id, "channel": v.channel, "mode": v.mode,
                        "last_message_at": _iso(v.last_message_at)} for v in view.conversations],
        tickets=[ticket_json(t) for t in view.tickets],
        timeline=[{"at": _iso(h.at), "channel": h.channel, "conversation_id": h.conversation_id,
                   "direction": h.direction, "sender": h.sender, "kind": h.kind,
                   "text": h.text, "delivery": h.delivery} for h in view.timeline],
        surveys=view.surveys,
        merges=[{"id": m.id, "target_id": m.target_id, "source_id": m.source_id,
                 "actor": m.actor, "reason": m.reason, "created_at": _iso(m.created_at),
                 "undone_at": _iso(m.undone_at)} for m in view.merges],
    )
    return body


ROUTES = [
    ApiRoute("GET", "/api/v1/tickets", list_tickets, "agent",
             "List tickets, newest first", (Param("status", enum=STATUSES), *PAGE_PARAMS),
             response={"$ref": "#/components/schemas/TicketPage"}, tag="tickets",
             errors=(400,)),
    ApiRoute("GET", "/api/v1/tickets/{ticket_id}", get_ticket, "agent",
             "A ticket with its customer and transcript",
             (Param("ticket_id", "path", "integer", required=True),),
             response={"$ref": "#/components/schemas/TicketDetail"}, tag="tickets",
             errors=(400, 404)),
    ApiRoute("GET", "/api/v1/customers", list_customers, "agent",
             "List customers, oldest first", PAGE_PARAMS,
             response={"$ref": "#/components/schemas/CustomerPage"}, tag="customers",
             errors=(400,)),
    ApiRoute("GET", "/api/v1/customers/{customer_id}", get_customer, "agent",
             "The whole customer: identities, conversations, cross-channel timeline, "
             "tickets, surveys, consent, merges",
             (Param("customer_id", "path", "integer", required=True),),
             response={"$ref": "#/components/schemas/CustomerDetail"}, tag="customers",
             errors=(400, 404)),
]
