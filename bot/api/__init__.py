"""The admin REST API under /api/v1 (bearer tokens; see docs/admin.md).

:func:`setup` installs the deny-by-default auth middleware and every resource module's
``ROUTES``. A later feature (surveys, broadcasts) adds its own module with a ``ROUTES`` list of
:class:`bot.api.base.ApiRoute` and calls :func:`bot.api.base.register` from its own setup (or is
appended to :data:`RESOURCES`): roles, OpenAPI and the JSON error shape then come for free.
"""

from __future__ import annotations

from aiohttp import web

from bot.api.auth import auth_middleware
from bot.api.base import ApiRoute, register, registry
from bot.core import Core

MIDDLEWARE_ON = web.AppKey("crmbot_auth_middleware", bool)


def resources() -> list[list[ApiRoute]]:
    from bot.api import access, openapi, people
    from handlers.faq.api import ROUTES as kb_routes
    from handlers.identity import api as privacy
    from handlers.tickets.api import desk, replies

    return [kb_routes, people.ROUTES, desk.ROUTES, replies.ROUTES, access.ROUTES,
            privacy.ROUTES, openapi.ROUTES]


def install_auth(app: web.Application) -> None:
    """Add the auth middleware once (the API and the admin UI both need it)."""
    if MIDDLEWARE_ON not in app:
        app.middlewares.append(auth_middleware)
        app[MIDDLEWARE_ON] = True
        registry(app)


def setup(app: web.Application, core: Core) -> None:
    install_auth(app)
    for routes in resources():
        register(app, routes)
