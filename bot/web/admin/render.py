"""Jinja2 rendering for the admin UI (autoescape on) with the security headers every page needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from bot.api.auth import PRINCIPAL

HERE = Path(__file__).resolve().parent
JINJA = web.AppKey("crmbot_admin_jinja", jinja2.Environment)
LOCALES = ("en", "sv", "lv")
LOCALE_NAMES = {"en": "English", "sv": "Svenska", "lv": "Latviešu"}
#: The admin UI's main navigation: (path, label, admins only). Pages rendered outside the
#: admin templates (the report, handlers/reports/web.py) show it through :func:`nav_html`.
NAV = (("/admin/kb", "Knowledge base", False), ("/admin/unanswered", "Unanswered", False),
       ("/admin/tickets", "Tickets", False), ("/admin/broadcasts", "Broadcasts", False),
       ("/admin/try", "Try it", False), ("/admin/reports", "Reports", True),
       ("/admin/audit", "Audit log", True))
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none';"
                               " form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(LOCALES=LOCALES, LOCALE_NAMES=LOCALE_NAMES, NAV=NAV)
    env.filters["when"] = lambda v: v.strftime("%Y-%m-%d %H:%M UTC") if v else ""
    return env


def render(
    request: web.Request, template: str, status: int = 200, **values: Any
) -> web.Response:
    who = request.get(PRINCIPAL)
    values.setdefault("flash", request.query.get("flash", ""))
    body = request.app[JINJA].get_template(template).render(
        who=who, csrf=who.csrf if who else "", is_admin=bool(who and who.role == "admin"),
        path=request.path, **values,
    )
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8",
                        headers=HEADERS)


def nav_html(current: str, is_admin: bool) -> str:
    """The main navigation as HTML for a page not built from the admin templates."""
    current_mark = ' aria-current="page"'
    links = "".join(
        f'<a href="{href}"{current_mark if current.startswith(href) else ""}>{label}</a> '
        for href, label, admins in NAV if is_admin or not admins)
    return f'<nav aria-label="Main" class="admin-nav">{links}</nav>'
