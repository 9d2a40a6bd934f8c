"""/api/v1/me, /api/v1/tokens, /api/v1/audit and /api/v1/unanswered (list, and teach: a
customer's wording added to an entry as a phrasing).

Creating a token returns its secret exactly once; only its SHA-256 is stored. Token creation and
revocation are written to the audit log in the same transaction as the change.
"""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot import kb_ops
from bot.api.auth import principal
from bot.api.base import (
    PAGE_PARAMS,
    ApiError,
    ApiRoute,
    Param,
    decode_cursor,
    json_body,
    not_found,
    page,
    page_limit,
    path_int,
    validation_error,
)
from bot.keys import CORE
from storage import admin as repo
from storage import unanswered
from storage.clean import BIGINT_MAX
from storage.models_admin import ApiToken


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=100)
    role: str = Field(pattern="^(admin|agent)$")


def token_json(t: ApiToken) -> dict[str, Any]:
    return {"id": t.id, "name": t.name, "role": t.role, "prefix": t.prefix,
            "created_by": t.created_by, "created_at": t.created_at.isoformat(),
            "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None,
            "revoked": t.revoked_at is not None}


async def me(request: web.Request) -> web.Response:
    who = principal(request)
    return web.json_response({"actor": who.actor, "role": who.role, "via": who.via})


async def list_tokens(request: web.Request) -> web.Response:
    async with request.app[CORE].sessions() as session:
        rows = await repo.list_tokens(session)
    return web.json_response({"items": [token_json(t) for t in rows]})


async def create_token(request: web.Request) -> web.Response:
    try:
        spec = TokenCreate.model_validate(await json_body(request))
    except ValidationError as exc:
        raise validation_error(exc) from None
    async with request.app[CORE].sessions.begin() as session:
        row, secret = await repo.create_token(session, spec.name, spec.role,
                                              principal(request).actor)
    return web.json_response({**token_json(row), "token": secret}, status=201)


async def revoke_token(request: web.Request) -> web.Response:
    token_id = path_int(request, "token_id")
    async with request.app[CORE].sessions.begin() as session:
        done = await repo.revoke_token(session, token_id, principal(request).actor)
    if not done:
        raise not_found(f"live token {token_id}")
    return web.Response(status=204)


async def list_audit(request: web.Request) -> web.Response:
    limit = page_limit(request)
    key = decode_cursor(request)
    if key is not None and (len(key) != 1 or not isinstance(key[0], int)):
        raise ApiError(400, "invalid_parameter", "cursor is not one this API gave out", "cursor")
    async with request.app[CORE].sessions() as session:
        rows = await repo.list_audit(session, limit=limit + 1,
                                     before_id=key[0] if key else None)
    more = len(rows) > limit
    rows = rows[:limit]
    items = [{"id": r.id, "actor": r.actor, "action": r.action, "target": r.target,
              "detail": r.detail, "created_at": r.created_at.isoformat()} for r in rows]
    return page(items, [rows[-1].id] if more else None)


async def list_unanswered(request: web.Request) -> web.Response:
    limit = page_limit(request)
    async with request.app[CORE].sessions() as session:
        groups = await unanswered.list_open(session, limit=limit)
    items = [{"text": g.text, "locale": g.locale, "count": g.count,
              "last_seen": g.last_seen.isoformat(), "outcome": g.outcome,
              "best_entry_id": g.best_entry_id, "confidence": g.confidence,
              "picked_entry_id": g.picked_entry_id, "ids": list(g.ids)} for g in groups]
    return web.json_response({"items": items})


class Teach(BaseModel):
    """POST /api/v1/unanswered/teach: a customer's wording becomes a phrasing of an entry."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    entry_id: str = Field(min_length=1, max_length=100)
    locale: str = Field(min_length=2, max_length=12)
    text: str = Field(min_length=1, max_length=kb_ops.MAX_PHRASING)
    #: the unanswered rows it closes (``ids`` of GET /api/v1/unanswered)
    ids: list[Annotated[int, Field(ge=1, le=BIGINT_MAX)]] = Field(default=[], max_length=10_000)


async def teach_unanswered(request: web.Request) -> web.Response:
    """Add the wording to the entry and close the rows; 200 with ``added`` false when the
    entry already had it (idempotent: a retry changes nothing)."""
    try:
        spec = Teach.model_validate(await json_body(request))
    except ValidationError as exc:
        raise validation_error(exc) from None
    try:
        saved, closed = await kb_ops.teach(request.app[CORE], spec.entry_id, spec.locale,
                                           spec.text, spec.ids, principal(request).actor)
    except LookupError:
        raise not_found(f"entry {spec.entry_id} ({spec.locale})") from None
    except ValueError as exc:
        raise ApiError(422, "invalid", str(exc), "text") from None
    except kb_ops.Conflict as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    return web.json_response({"added": saved is not None, "closed": closed,
                              "revision": saved.revision if saved else None})


ROUTES = [
    ApiRoute("GET", "/api/v1/me", me, "agent", "Who the token belongs to",
             response={"$ref": "#/components/schemas/Me"}, tag="access"),
    ApiRoute("GET", "/api/v1/tokens", list_tokens, "admin", "List API tokens (no secrets)",
             response={"$ref": "#/components/schemas/TokenList"}, tag="access"),
    ApiRoute("POST", "/api/v1/tokens", create_token, "admin",
             "Create a token; the secret is shown once",
             body={"$ref": "#/components/schemas/TokenCreate"},
             response={"$ref": "#/components/schemas/TokenCreated"}, status=201, tag="access",
             errors=(400, 415, 422)),
    ApiRoute("DELETE", "/api/v1/tokens/{token_id}", revoke_token, "admin", "Revoke a token",
             (Param("token_id", "path", "integer", required=True),), status=204,
             tag="access", errors=(400, 404)),
    ApiRoute("GET", "/api/v1/audit", list_audit, "admin", "Audit log, newest first",
             PAGE_PARAMS, response={"$ref": "#/components/schemas/AuditPage"}, tag="access",
             errors=(400,)),
    ApiRoute("GET", "/api/v1/unanswered", list_unanswered, "agent",
             "Customer questions the bot could not answer alone (grouped)",
             (Param("limit", type="integer"),),
             response={"$ref": "#/components/schemas/UnansweredList"}, tag="kb",
             errors=(400,)),
    ApiRoute("POST", "/api/v1/unanswered/teach", teach_unanswered, "admin",
             "Add a customer's wording to an entry as a phrasing and close its questions",
             body={"$ref": "#/components/schemas/Teach"},
             response={"$ref": "#/components/schemas/Taught"}, tag="kb",
             errors=(400, 404, 409, 415, 422)),
]
