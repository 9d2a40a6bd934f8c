"""Signing in to /admin/ with a user name and password, or with an API token; signing out.

The session secret lives in an HttpOnly, SameSite=Strict cookie (Secure when the public URL is
https) scoped to /admin; the database keeps only its hash, so signing out or revoking the token
ends the session everywhere. The login form has its own CSRF cookie (double submit), and failed
attempts are limited per client address.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import deque

from aiohttp import web

from bot.api.auth import SESSION_COOKIE, principal, token_principal
from bot.keys import CORE
from bot.web.admin.render import render
from bot.web.edge import form_fields
from storage import admin as repo

LOGIN_COOKIE = "crmbot_login"
MAX_FAILURES = 10
FAILURE_WINDOW = 300.0


class FailureLimiter:
    """At most MAX_FAILURES failed sign-ins per client address in FAILURE_WINDOW seconds."""

    def __init__(self) -> None:
        self._failures: dict[str, deque[float]] = {}

    def blocked(self, who: str) -> bool:
        recent = self._failures.get(who)
        now = time.monotonic()
        while recent and now - recent[0] > FAILURE_WINDOW:
            recent.popleft()
        return bool(recent) and len(recent or ()) >= MAX_FAILURES

    def failed(self, who: str) -> None:
        self._failures.setdefault(who, deque()).append(time.monotonic())


LIMITER = web.AppKey("crmbot_login_limiter", FailureLimiter)


def _secure(request: web.Request) -> bool:
    return request.app[CORE].settings.public_url.lower().startswith("https://")


def _next(raw: str | None) -> str:
    """Only local admin paths: never an open redirect."""
    if raw and raw.startswith("/admin") and not raw.startswith("//") and "\\" not in raw:
        return raw
    return "/admin/kb"


async def login_form(request: web.Request) -> web.Response:
    token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
    response = render(request, "login.html", form_csrf=token, error="",
                      next=_next(request.query.get("next")), name="")
    response.set_cookie(LOGIN_COOKIE, token, path="/admin/login", httponly=True,
                        samesite="Strict", secure=_secure(request), max_age=3600)
    return response


async def login_submit(request: web.Request) -> web.StreamResponse:
    form = await form_fields(request)
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    sent = str(form.get("_csrf", ""))
    target = _next(str(form.get("next", "")))
    name = str(form.get("name", "")).strip()

    def fail(message: str, status: int = 401) -> web.Response:
        token = cookie or secrets.token_urlsafe(24)
        response = render(request, "login.html", status=status, form_csrf=token,
                          error=message, next=target, name=name)
        response.set_cookie(LOGIN_COOKIE, token, path="/admin/login", httponly=True,
                            samesite="Strict", secure=_secure(request), max_age=3600)
        return response

    if not cookie or not hmac.compare_digest(cookie.encode(), sent.encode()):
        return fail("The form expired. Please try again.", 403)
    client = request.remote or "?"
    limiter = request.app[LIMITER]
    if limiter.blocked(client):
        return fail("Too many failed attempts. Wait a few minutes and try again.", 429)
    created = await _start_session(request, name, str(form.get("password", "")),
                                   str(form.get("token", "")).strip())
    if created is None:
        limiter.failed(client)
        return fail("Wrong user name, password or token.")
    response = web.HTTPSeeOther(target)
    response.set_cookie(SESSION_COOKIE, created, path="/admin", httponly=True,
                        samesite="Strict", secure=_secure(request),
                        max_age=int(repo.SESSION_TTL.total_seconds()))
    response.del_cookie(LOGIN_COOKIE, path="/admin/login")
    raise response


async def _start_session(
    request: web.Request, name: str, password: str, token: str
) -> str | None:
    """A new session secret for valid credentials, else None."""
    core = request.app[CORE]
    if token:
        who = await token_principal(request.app, token)
        if who is None:
            return None
        token_id = None
        if who.via == "token":
            token_id = int(who.actor.rsplit("#", 1)[1])
        async with core.sessions.begin() as session:
            secret, _ = await repo.create_session(session, who.actor, who.role,
                                                  token_id=token_id)
            await repo.audit(session, who.actor, "admin.login", None, {"via": "token"})
        return secret
    if not name or not password:
        return None
    async with core.sessions.begin() as session:
        user = await repo.authenticate(session, name, password)
        if user is None:
            return None
        secret, _ = await repo.create_session(session, f"user:{user.name}", user.role,
                                              user_id=user.id)
        await repo.audit(session, f"user:{user.name}", "admin.login", None,
                         {"via": "password"})
    return secret


async def logout(request: web.Request) -> web.StreamResponse:
    secret = request.cookies.get(SESSION_COOKIE, "")
    async with request.app[CORE].sessions.begin() as session:
        await repo.end_session(session, secret)
        await repo.audit(session, principal(request).actor, "admin.logout")
    response = web.HTTPSeeOther("/admin/login?flash=Signed+out.")
    response.del_cookie(SESSION_COOKIE, path="/admin")
    raise response
