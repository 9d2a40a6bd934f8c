"""/api/v1/broadcasts: announcements (docs/broadcasts.md). Agents read, admins change.

The body of ``POST /api/v1/broadcasts`` and ``/preview`` is a broadcast spec (the same as the
YAML file of ``crmbot broadcast create``); an invalid one is a 422 naming the field.
"""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from bot.api.auth import principal
from bot.api.base import ApiError, ApiRoute, Param, json_body, not_found, path_int
from bot.keys import CORE
from handlers.broadcast import service
from handlers.broadcast.spec import BroadcastSpec, parse
from handlers.broadcast.store import TransitionError

BASE = "/api/v1/broadcasts"
ONE = BASE + "/{id}"
_ID = (Param("id", "path", "integer", required=True),)
_OBJ = {"type": "object"}


def _spec(data: dict[str, object]) -> BroadcastSpec:
    try:
        return parse(data)
    except ValueError as exc:
        raise ApiError(422, "validation_error", str(exc)) from None


async def list_broadcasts(request: web.Request) -> web.Response:
    core = request.app[CORE]
    return web.json_response({"items": await service.listing(core.sessions)})


async def create_broadcast(request: web.Request) -> web.Response:
    core = request.app[CORE]
    spec = _spec(await json_body(request))
    row = await service.create(core.sessions, spec, principal(request).actor)
    found = await service.preview_spec(core.sessions, core.settings, spec)
    return web.json_response({**row, "preview": found.as_dict()}, status=201)


async def preview_broadcast(request: web.Request) -> web.Response:
    core = request.app[CORE]
    spec = _spec(await json_body(request))
    found = await service.preview_spec(core.sessions, core.settings, spec)
    return web.json_response(found.as_dict())


async def get_broadcast(request: web.Request) -> web.Response:
    core = request.app[CORE]
    broadcast_id = path_int(request, "id")
    try:
        return web.json_response(await service.status(core.sessions, broadcast_id))
    except LookupError:
        raise not_found(f"broadcast {broadcast_id}") from None


def _action(action: str):  # type: ignore[no-untyped-def]
    async def handler(request: web.Request) -> web.Response:
        core = request.app[CORE]
        broadcast_id = path_int(request, "id")
        send_at = None
        if action == "send" and request.can_read_body:
            raw = (await json_body(request)).get("at")
            send_at = _when(raw) if raw is not None else None
        try:
            row = await service.act(core.sessions, broadcast_id, action, send_at=send_at)
        except LookupError:
            raise not_found(f"broadcast {broadcast_id}") from None
        except TransitionError as exc:
            raise ApiError(409, "conflict", str(exc)) from None
        return web.json_response(row)

    return handler


def _when(raw: object) -> datetime:
    try:
        at = datetime.fromisoformat(str(raw))
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        raise ApiError(422, "validation_error", "at must be ISO 8601 with a zone", "at")
    return at


ROUTES = [
    ApiRoute("GET", BASE, list_broadcasts, "agent", "Recent broadcasts (newest first)",
             response=_OBJ, tag="broadcasts"),
    ApiRoute("POST", BASE, create_broadcast, "admin",
             "Store a broadcast as a draft; answers with a preview count", body=_OBJ,
             response=_OBJ, status=201, tag="broadcasts", errors=(400, 415, 422)),
    ApiRoute("POST", BASE + "/preview", preview_broadcast, "agent",
             "How many customers a spec reaches now (nothing stored)", body=_OBJ,
             response=_OBJ, tag="broadcasts", errors=(400, 415, 422)),
    ApiRoute("GET", ONE, get_broadcast, "agent",
             "A broadcast with progress (sent, failed, unreachable, pending, ...)", _ID,
             response=_OBJ, tag="broadcasts", errors=(400, 404)),
    *(ApiRoute("POST", f"{ONE}/{action}", _action(action), "admin", f"{action.title()} a broadcast",
               _ID, body=_OBJ if action == "send" else None, response=_OBJ, tag="broadcasts",
               errors=(400, 404, 409, 422))
      for action in ("send", "pause", "resume", "cancel", "resend-uncertain")),
]
