"""The HTTP edge: one place that turns refused input into the API's one error shape.

Every route parses what it receives with :mod:`storage.clean` (JSON with a size and depth limit,
text made storable, ids range-checked); a refusal is a :class:`storage.clean.BadInput`, which
this middleware renders as ``{"error": {"code", "message"}}`` with its 4xx status, the same shape
as the REST API's own errors (bot/api/base.py). A body over the size limit (aiohttp's 413) gets
that shape too. Errors that only hostile input can cause and that a route did not anticipate
(nesting past the recursion limit, an integer too large for the database, text that cannot be
encoded) are a 400 as well, logged as a warning: the request was bad, the server is fine.

The access logger here redacts credentials that clients put in URLs (the widget's session
token in ``/chat/ws?token=…``), so log files never hold a usable secret.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_log import AccessLogger
from aiohttp.web_request import FileField
from multidict import MultiDict, MultiDictProxy

from bot.api.base import error_response
from storage.clean import BadInput, clean_text

log = logging.getLogger("crmbot.edge")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
HOSTILE = (RecursionError, OverflowError, UnicodeError)
_SECRET_PARAM = re.compile(r"(?i)([?&](?:token|session|key|secret|signature|code)=)[^&\s\"]*")


@web.middleware
async def edge_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except BadInput as exc:
        return error_response(exc.status, exc.code, str(exc), exc.field, headers=exc.headers)
    except web.HTTPRequestEntityTooLarge as exc:
        return error_response(413, "too_large", exc.text or "request body too large")
    except HOSTILE as exc:
        log.warning("refused hostile input on %s %s: %s", request.method,
                    redact(request.path_qs), type(exc).__name__)
        return error_response(400, "bad_request", "the request could not be read")


async def form_fields(
    request: web.BaseRequest,
) -> MultiDictProxy[str | bytes | bytearray | FileField]:
    """The request's form fields with every text made storable (:func:`storage.clean.clean_text`:
    a NUL or a lone surrogate becomes U+FFFD). JSON bodies are cleaned by ``storage.clean.loads``;
    form posts (the admin UI, the help center) are cleaned here: a NUL typed or pasted into the
    KB editor made PostgreSQL refuse the write (a 500) and SQLite store it."""
    raw = await request.post()
    return MultiDictProxy(MultiDict(
        (key, clean_text(value) if isinstance(value, str) else value)
        for key, value in raw.items()))


def redact(text: str) -> str:
    """``text`` (a path with its query) with credential-like parameters replaced."""
    return _SECRET_PARAM.sub(r"\1[redacted]", text)


class RedactingAccessLogger(AccessLogger):
    """aiohttp's access log (same format), with credentials in URLs redacted."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        if "=" in request.query_string:
            request = request.clone(rel_url=redact(request.rel_url.raw_path_qs))
        super().log(request, response, time)


ACCESS_LOGGER: type[AbstractAccessLogger] = RedactingAccessLogger
