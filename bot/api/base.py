"""Shared pieces of the admin REST API: route metadata, errors, JSON bodies, pagination.

Every /api/v1 route is registered through :func:`register` with an :class:`ApiRoute` that says
which role may call it and what it takes and returns; the auth middleware reads the role from
there (a route without metadata is admin-only) and the OpenAPI document is generated from it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web
from pydantic import ValidationError

from storage.clean import BadInput, db_id, loads

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Role = Literal["public", "agent", "admin"]
JSON = dict[str, Any]

MAX_LIMIT = 200
DEFAULT_LIMIT = 50


@dataclass(frozen=True)
class Param:
    """A query or path parameter, for validation messages and the OpenAPI document."""

    name: str
    where: Literal["query", "path", "header"] = "query"
    type: str = "string"
    description: str = ""
    required: bool = False
    enum: tuple[str, ...] = ()


@dataclass(frozen=True)
class ApiRoute:
    method: str
    path: str
    handler: Handler
    role: Role
    summary: str
    params: tuple[Param, ...] = ()
    body: JSON | None = None
    body_type: str = "application/json"
    response: JSON | None = None
    status: int = 200
    tag: str = "misc"
    errors: tuple[int, ...] = ()


@dataclass
class Registry:
    """What was registered: API metadata by (METHOD, path) and roles of UI routes too."""

    routes: dict[tuple[str, str], ApiRoute] = field(default_factory=dict)
    roles: dict[tuple[str, str], Role] = field(default_factory=dict)
    public_prefixes: set[str] = field(default_factory=set)


REGISTRY = web.AppKey("crmbot_api_registry", Registry)


def registry(app: web.Application) -> Registry:
    if REGISTRY not in app:
        app[REGISTRY] = Registry()
    return app[REGISTRY]


def register(app: web.Application, routes: list[ApiRoute]) -> None:
    """Add API routes to the app; surveys, broadcasts and others plug in through this."""
    reg = registry(app)
    for route in routes:
        app.router.add_route(route.method, route.path, route.handler)
        reg.routes[(route.method, route.path)] = route
        reg.roles[(route.method, route.path)] = route.role


def allow(app: web.Application, method: str, path: str, role: Role) -> None:
    """Declare who may call a non-API route (admin UI pages) that the middleware guards."""
    registry(app).roles[(method, path)] = role


def mark_public(app: web.Application, path: str) -> None:
    """Let a route under /api/v1 or /admin/ authenticate itself (e.g. the intake token)."""
    registry(app).roles[("*", path)] = "public"


class ApiError(Exception):
    """A clear 4xx: rendered as {"error": {"code", "message", "field"?, "details"?}}."""

    def __init__(
        self, status: int, code: str, message: str, field: str | None = None,
        details: list[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.field, self.details = field, details

    def response(self) -> web.Response:
        return error_response(self.status, self.code, self.message, self.field, self.details)


def error_response(
    status: int, code: str, message: str, field: str | None = None,
    details: list[str] | None = None, headers: dict[str, str] | None = None,
) -> web.Response:
    body: JSON = {"code": code, "message": message}
    if field:
        body["field"] = field
    if details:
        body["details"] = details
    return web.json_response({"error": body}, status=status, headers=headers)


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} does not exist")


async def json_body(request: web.Request) -> JSON:
    """The request's JSON object, or a 400/415 that says what is wrong."""
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "send Content-Type: application/json")
    try:
        data = loads(await request.read())
    except BadInput as exc:
        raise ApiError(exc.status, "invalid_json", f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "body must be a JSON object")
    return data


def validation_error(exc: ValidationError) -> ApiError:
    """The first problem as ``field``/``message``, all of them in ``details``."""
    errors = exc.errors()
    fields = [".".join(str(p) for p in e["loc"]) or "body" for e in errors]
    details = [f"{f}: {e['msg']}" for f, e in zip(fields, errors, strict=True)]
    return ApiError(422, "validation_error", details[0], fields[0], details)


def query_int(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "invalid_parameter", f"{name} must be an integer", name) from None
    if not lo <= value <= hi:
        raise ApiError(400, "invalid_parameter", f"{name} must be between {lo} and {hi}", name)
    return value


def path_int(request: web.Request, name: str) -> int:
    """A database id from the path: a positive integer below 2^63 (storage/clean.py)."""
    try:
        return db_id(request.match_info[name], name)
    except BadInput as exc:
        raise ApiError(400, "invalid_parameter", str(exc), name) from None


def query_choice(request: web.Request, name: str, choices: tuple[str, ...]) -> str | None:
    value = request.query.get(name) or None
    if value is not None and value not in choices:
        raise ApiError(400, "invalid_parameter",
                       f"{name} must be one of {', '.join(choices)}", name)
    return value


def page_limit(request: web.Request) -> int:
    return query_int(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)


def encode_cursor(key: list[Any]) -> str:
    raw = json.dumps(key, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(request: web.Request) -> list[Any] | None:
    """The sort key after which the next page starts (opaque to clients)."""
    raw = request.query.get("cursor")
    if not raw:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError):
        raise ApiError(400, "invalid_parameter", "cursor is not one this API gave out",
                       "cursor") from None
    if not isinstance(data, list):
        raise ApiError(400, "invalid_parameter", "cursor is not one this API gave out", "cursor")
    return data


def page(items: list[JSON], next_key: list[Any] | None) -> web.Response:
    cursor = encode_cursor(next_key) if next_key is not None else None
    return web.json_response({"items": items, "next_cursor": cursor})


PAGE_PARAMS = (
    Param("limit", type="integer", description=f"page size, 1-{MAX_LIMIT} (default 50)"),
    Param("cursor", description="next_cursor from the previous page"),
)
