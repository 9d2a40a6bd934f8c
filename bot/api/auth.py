"""Deny-by-default authentication and authorisation for /api/v1 and /admin/.

One aiohttp middleware guards both areas. A route is reachable without credentials only when it
was explicitly marked public; every other route needs a principal whose role is at least the
route's role (a route nobody declared is admin-only). The API takes bearer tokens only (so a
browser's cookies can never be replayed against it); the admin UI takes its session cookie only,
and every unsafe request there must carry the session's CSRF token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

from aiohttp import web

from bot.api.base import ApiError, Handler, Role, error_response, registry
from storage import admin as repo
from storage.clean import same_secret

API_PREFIX = "/api/v1"
ADMIN_PREFIX = "/admin"
SESSION_COOKIE = "crmbot_session"
BOOTSTRAP_ACTOR = "admin-token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
ALWAYS_PUBLIC = {"/api/v1/openapi.json", "/api/v1/feedback", "/admin/login",
                 "/admin/static"}


@dataclass(frozen=True)
class Principal:
    """Who is calling: ``actor`` is what revisions and the audit log record."""

    actor: str
    role: Literal["admin", "agent"]
    via: Literal["bootstrap", "token", "session"]
    csrf: str | None = None


PRINCIPAL = web.RequestKey("crmbot_principal", Principal)


def principal(request: web.Request) -> Principal:
    return request[PRINCIPAL]


def _area(path: str) -> str | None:
    if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
        return "api"
    if path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/"):
        return "admin"
    return None


def _route_key(request: web.Request) -> tuple[str, str] | None:
    resource = request.match_info.route.resource
    if resource is None:
        return None
    method = "GET" if request.method == "HEAD" else request.method
    return method, resource.canonical


def required_role(request: web.Request) -> Role:
    """The declared role of the matched route; undeclared routes are admin-only."""
    key = _route_key(request)
    if key is None:
        return "admin"
    if key[1] in ALWAYS_PUBLIC:
        return "public"
    roles = registry(request.app).roles
    return roles.get(("*", key[1])) or roles.get(key) or "admin"


async def bearer_principal(request: web.Request) -> Principal | None:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    return await token_principal(request.app, secret.strip())


async def token_principal(app: web.Application, secret: str) -> Principal | None:
    """The bootstrap CRMBOT_ADMIN_TOKEN or a live stored token."""
    from bot.keys import CORE

    core = app[CORE]
    bootstrap = core.settings.admin_token
    if bootstrap and same_secret(secret, bootstrap):
        return Principal(BOOTSTRAP_ACTOR, "admin", "bootstrap")
    async with core.sessions.begin() as session:
        row = await repo.find_token(session, secret)
        if row is None:
            return None
        role: Literal["admin", "agent"] = "admin" if row.role == "admin" else "agent"
        return Principal(f"token:{row.name}#{row.id}", role, "token")


async def session_principal(request: web.Request) -> Principal | None:
    from bot.keys import CORE

    secret = request.cookies.get(SESSION_COOKIE)
    if not secret:
        return None
    async with request.app[CORE].sessions() as session:
        row = await repo.load_session(session, secret)
    if row is None:
        return None
    role: Literal["admin", "agent"] = "admin" if row.role == "admin" else "agent"
    return Principal(row.actor, role, "session", row.csrf)


async def _csrf_ok(request: web.Request, expected: str | None) -> bool:
    if expected is None:
        return False
    given = request.headers.get("X-CSRF-Token")
    if given is None and request.content_type in (
        "application/x-www-form-urlencoded", "multipart/form-data"
    ):
        value = (await request.post()).get("_csrf")
        given = value if isinstance(value, str) else None
    return given is not None and same_secret(given, expected)


def _denied_anonymous(request: web.Request, area: str) -> web.StreamResponse:
    if area == "api":
        return error_response(401, "unauthorized", "send Authorization: Bearer <token>",
                              headers={"WWW-Authenticate": 'Bearer realm="crmbot"'})
    if request.method in SAFE_METHODS:
        target = quote(request.path_qs, safe="")
        raise web.HTTPSeeOther(f"{ADMIN_PREFIX}/login?next={target}")
    return web.Response(status=401, text="sign in first")


def _forbidden(area: str, needed: str) -> web.StreamResponse:
    message = f"this needs the {needed} role"
    if area == "api":
        return error_response(403, "forbidden", message)
    return web.Response(status=403, text=f"Forbidden: {message}.")


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    area = _area(request.path)
    if area is None:
        return await handler(request)
    needed = required_role(request)
    if needed == "public":
        return await _call(request, handler, area)
    who = await (bearer_principal(request) if area == "api" else session_principal(request))
    if who is None:
        return _denied_anonymous(request, area)
    if needed == "admin" and who.role != "admin":
        return _forbidden(area, needed)
    if area == "admin" and request.method not in SAFE_METHODS and not await _csrf_ok(
        request, who.csrf
    ):
        return web.Response(status=403, text="Forbidden: the form expired; reload the page.")
    request[PRINCIPAL] = who
    return await _call(request, handler, area)


async def _call(request: web.Request, handler: Handler, area: str) -> web.StreamResponse:
    """API errors (ours and aiohttp's 404/405/413) always come back as the JSON error shape."""
    if area != "api":
        return await handler(request)
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = (exc.reason or "error").lower().replace(" ", "_")
        return error_response(exc.status, code, exc.text or exc.reason or "error")
