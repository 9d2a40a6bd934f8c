"""The admin web UI at /admin/: server-rendered pages, a little JavaScript, deny-by-default.

Every route is declared with the role it needs (:func:`bot.api.base.allow`); the shared auth
middleware sends anonymous visitors to the sign-in page and checks the CSRF token of every form.
"""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp import web

from bot.api import install_auth
from bot.api.base import Handler, Role, allow
from bot.core import Core
from bot.web.admin import login, pages
from bot.web.admin.render import JINJA, environment
from handlers.broadcast.web import admin as broadcast_views
from handlers.faq import web as kb_views
from handlers.tickets import web as desk_views

STATIC = Path(__file__).resolve().parent / "static"
E = "/admin/kb/e/{entry_id}"
L = E + "/{locale}"

ROUTES: list[tuple[str, str, Handler, Role]] = [
    ("GET", "/admin", pages.home, "agent"),
    ("GET", "/admin/", pages.home, "agent"),
    ("GET", "/admin/login", login.login_form, "public"),
    ("POST", "/admin/login", login.login_submit, "public"),
    ("POST", "/admin/logout", login.logout, "agent"),
    ("GET", "/admin/kb", kb_views.kb_list, "agent"),
    ("GET", "/admin/kb/new", kb_views.new_form, "admin"),
    ("POST", "/admin/kb/new", kb_views.save_entry, "admin"),
    ("GET", E, kb_views.edit_form, "agent"),
    ("POST", E, kb_views.save_entry, "admin"),
    ("POST", L + "/delete", kb_views.delete_locale, "admin"),
    ("GET", L + "/history", kb_views.history, "agent"),
    ("POST", L + "/restore/{revision:\\d+}", kb_views.restore, "admin"),
    ("GET", "/admin/try", kb_views.try_page, "agent"),
    ("GET", "/admin/try.json", kb_views.try_json, "agent"),
    ("GET", "/admin/unanswered", pages.unanswered_list, "agent"),
    ("POST", "/admin/unanswered/dismiss", pages.unanswered_dismiss, "admin"),
    ("POST", "/admin/unanswered/teach", pages.unanswered_teach, "admin"),
    ("GET", "/admin/tickets", pages.tickets_list, "agent"),
    ("GET", "/admin/tickets/{ticket_id}", desk_views.ticket_detail, "agent"),
    ("POST", "/admin/tickets/{ticket_id}/action", desk_views.ticket_action, "agent"),
    ("GET", "/admin/customers/{customer_id}", desk_views.customer_page, "agent"),
    ("GET", "/admin/audit", pages.audit_page, "admin"),
    ("GET", "/admin/broadcasts", broadcast_views.broadcasts_list, "agent"),
    ("POST", "/admin/broadcasts/{broadcast_id}/{action}", broadcast_views.broadcast_action,
     "admin"),
]


def setup(app: web.Application, core: Core) -> None:
    install_auth(app)
    app[JINJA] = environment()
    app[login.LIMITER] = login.FailureLimiter()
    for method, path, handler, role in ROUTES:
        app.router.add_route(method, path, handler)
        allow(app, method, _canonical(path), role)
    app.router.add_static("/admin/static/", STATIC, name="admin_static")


def _canonical(path: str) -> str:
    """aiohttp's canonical form drops regex parts of placeholders: {revision:\\d+} -> {revision}."""
    return re.sub(r"{(\w+):[^}]+}", r"{\1}", path)
