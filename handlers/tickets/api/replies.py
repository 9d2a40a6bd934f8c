"""/api/v1/saved-replies: canned answers staff send as ``:name`` (storage/saved_replies.py).

Agents read them; admins write them, one text per name and locale.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.api.auth import principal
from bot.api.base import ApiError, ApiRoute, Param, json_body, not_found
from bot.i18n import normalise_locale
from bot.keys import CORE
from storage import saved_replies as repo


def reply_json(row: repo.SavedReply) -> dict[str, Any]:
    return {"name": row.name, "locale": row.locale, "text": row.text,
            "updated_by": row.updated_by, "updated_at": row.updated_at.isoformat()}


async def list_replies(request: web.Request) -> web.Response:
    async with request.app[CORE].sessions() as session:
        rows = await repo.listing(session)
    return web.json_response({"items": [reply_json(r) for r in rows]})


def _key(request: web.Request) -> tuple[str, str]:
    name = request.match_info["name"]
    locale = normalise_locale(request.match_info["locale"])
    if locale is None:
        raise ApiError(400, "invalid_parameter", "locale must be one of en, sv, lv", "locale")
    return name, locale


async def put_reply(request: web.Request) -> web.Response:
    name, locale = _key(request)
    data = await json_body(request)
    text = data.get("text")
    problem = repo.check(name, text if isinstance(text, str) else "")
    if problem is not None:
        field, _, message = problem.partition(": ")
        raise ApiError(422, "validation_error", message, field)
    async with request.app[CORE].sessions.begin() as session:
        row = await repo.save(session, name, locale, str(text).strip(), principal(request).actor)
        body = reply_json(row)
    return web.json_response(body)


async def delete_reply(request: web.Request) -> web.Response:
    name, locale = _key(request)
    async with request.app[CORE].sessions.begin() as session:
        if not await repo.remove(session, name, locale):
            raise not_found(f"saved reply {name} ({locale})")
    return web.Response(status=204)


_PATH = (Param("name", "path", required=True), Param("locale", "path", required=True))
ROUTES = [
    ApiRoute("GET", "/api/v1/saved-replies", list_replies, "agent", "Saved replies",
             response={"type": "object"}, tag="desk"),
    ApiRoute("PUT", "/api/v1/saved-replies/{name}/{locale}", put_reply, "admin",
             "Create or change a saved reply ({name}, {ticket}, {hours} are filled in)", _PATH,
             body={"type": "object", "required": ["text"],
                   "properties": {"text": {"type": "string"}}},
             response={"type": "object"}, tag="desk", errors=(400, 415, 422)),
    ApiRoute("DELETE", "/api/v1/saved-replies/{name}/{locale}", delete_reply, "admin",
             "Delete a saved reply", _PATH, status=204, tag="desk", errors=(400, 404)),
]
