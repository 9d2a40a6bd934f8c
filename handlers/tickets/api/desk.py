"""POST /api/v1/tickets/{id}/actions: what an agent does in a Slack thread, over the REST API.

Reply to the customer, leave an internal note, claim, assign or transfer, set the priority,
resolve, reopen, hand back to the bot. An action is not carried out here: it is stored as a
staff event in the inbox of the ticket's conversation (storage/tickets.py), exactly like a
Slack thread reply or button, and the same handlers (handlers/tickets/staff.py) run it in order with
the customer's own messages, so the reply leaves through the same outbox. The answer is
202 Accepted; an ``Idempotency-Key`` header makes a retried request a no-op (``duplicate``).
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from bot.api.auth import principal
from bot.api.base import ApiError, ApiRoute, Param, json_body, not_found, path_int
from bot.core import UnknownTicket
from bot.keys import CORE
from bot.messages import StaffAction
from handlers.tickets import staff as tickets
from storage.clean import clean_text

DESK = "api"
ACTIONS = tuple(tickets.ACTIONS)  # what the ticket handlers can carry out
PRIORITIES = tickets.PRIORITIES
MAX_KEY = 100


async def ticket_action(request: web.Request) -> web.Response:
    ticket_id = path_int(request, "ticket_id")
    data = await json_body(request)
    key = _idempotency_key(request)
    event_id, staff, duplicate = await submit(request, ticket_id, data, key)
    return web.json_response(
        {"status": "duplicate" if duplicate else "accepted", "event_id": event_id,
         "ticket_id": ticket_id, "action": staff.action}, status=202)


async def submit(
    request: web.Request, ticket_id: int, data: dict[str, Any], key: str | None = None
) -> tuple[str, StaffAction, bool]:
    """Validate one staff action and store it in the ticket conversation's inbox; shared by
    the REST API and the admin UI's ticket page. Returns the event id, the action and whether
    it repeated."""
    action = _choice(data, "action", ACTIONS)
    core = request.app[CORE]
    text = _text(data, core.settings.max_message_chars, required=action in ("reply", "note"))
    ref: dict[str, str] = {}
    if action == "assign":  # a person, or a team of the assignment rules
        team = _text(data, 200, required=False, name="team")
        if team:
            ref["team"] = team
        else:
            ref["assignee"] = _text(data, 200, required=True, name="assignee")
    if action == "priority":
        ref["priority"] = _choice(data, "priority", PRIORITIES)
    actor = principal(request).actor
    event_id = f"key:{actor}:{key}" if key else f"action:{uuid.uuid4().hex}"
    staff = StaffAction(action=action, ticket=ticket_id, user=actor, **ref)
    try:
        result = await core.ingest(staff.inbound(DESK, event_id, DESK, text))
    except UnknownTicket:
        raise not_found(f"ticket {ticket_id}") from None
    return event_id, staff, result.duplicate


def _idempotency_key(request: web.Request) -> str | None:
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        return None
    if len(key) > MAX_KEY or not key.isprintable():
        raise ApiError(400, "invalid_parameter",
                       f"Idempotency-Key must be at most {MAX_KEY} printable characters",
                       "Idempotency-Key")
    return clean_text(key)


def _choice(data: dict[str, Any], name: str, choices: tuple[str, ...]) -> str:
    value = data.get(name)
    if value not in choices:
        raise ApiError(422, "validation_error", f"{name} must be one of {', '.join(choices)}",
                       name)
    return str(value)


def _text(data: dict[str, Any], limit: int, *, required: bool, name: str = "text") -> str:
    value = data.get(name, "")
    if not isinstance(value, str):
        raise ApiError(422, "validation_error", f"{name} must be a string", name)
    value = value.strip()
    if required and not value:
        raise ApiError(422, "validation_error", f"{name} is required for this action", name)
    if len(value) > limit:
        raise ApiError(413, "too_large", f"{name} is longer than {limit} characters", name)
    return value


ROUTES = [
    ApiRoute("POST", "/api/v1/tickets/{ticket_id}/actions", ticket_action, "agent",
             "Act on a ticket as in the Slack desk (processed in order, through the outbox)",
             (Param("ticket_id", "path", "integer", required=True),
              Param("Idempotency-Key", "header", "string",
                    description="repeat-safe: the same key is carried out once")),
             body={"type": "object", "required": ["action"], "properties": {
                 "action": {"type": "string", "enum": list(ACTIONS)},
                 "text": {"type": "string", "description": "reply or note text"},
                 "assignee": {"type": "string", "description": "for assign: the agent"},
                 "team": {"type": "string", "description": "for assign, instead of assignee: "
                          "the least-loaded agent of this team of CRMBOT_ASSIGN_RULES"},
                 "priority": {"type": "string", "enum": list(PRIORITIES)}}},
             response={"$ref": "#/components/schemas/ActionAccepted"}, status=202,
             tag="tickets",
             errors=(400, 404, 413, 415, 422)),
]
