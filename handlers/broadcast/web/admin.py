"""Admin UI for announcements: the list with live progress, and pause / resume / cancel / send.

Creating a broadcast stays in the CLI and the REST API (a spec is a YAML/JSON document with
segments and per-locale texts, docs/broadcasts.md); this page is for watching and steering the
ones that exist, which is what staff need while a sale or an outage notice goes out. Every
action goes through :mod:`handlers.broadcast.service`, the same rules as the CLI and the API.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from bot.keys import CORE
from bot.web.admin.render import render
from handlers.broadcast import service
from handlers.broadcast.store import TRANSITIONS, TransitionError

#: Buttons offered per broadcast, in this order, where its status allows them.
ACTIONS = tuple(TRANSITIONS)


async def broadcasts_list(request: web.Request) -> web.Response:
    sessions = request.app[CORE].sessions
    rows = [await service.status(sessions, int(b["id"])) for b in await service.listing(sessions)]
    return render(request, "broadcasts.html", broadcasts=[_view(row) for row in rows])


def _view(row: dict[str, Any]) -> dict[str, Any]:
    """What the template shows for one broadcast: counts, the share done, possible actions."""
    progress: dict[str, int] = row["progress"]
    total = progress["total"]
    done = total - progress["pending"]
    actions = [a for a in ACTIONS if row["status"] in TRANSITIONS[a]]
    if not progress["uncertain"] and "resend-uncertain" in actions:
        actions.remove("resend-uncertain")
    return {**row, "done": done, "percent": round(100 * done / total) if total else 0,
            "actions": actions}


async def broadcast_action(request: web.Request) -> web.StreamResponse:
    action = request.match_info["action"]
    try:
        broadcast_id = int(request.match_info["broadcast_id"])
    except ValueError:
        raise web.HTTPNotFound() from None
    if action not in ACTIONS:
        raise web.HTTPNotFound(text=f"No action {action!r}.")
    try:
        await service.act(request.app[CORE].sessions, broadcast_id, action)
        flash = f"Broadcast {broadcast_id}: {action} done."
    except LookupError as exc:
        raise web.HTTPNotFound(text=str(exc)) from None
    except TransitionError as exc:  # e.g. someone paused it a moment ago
        flash = str(exc)
    raise web.HTTPSeeOther("/admin/broadcasts?" + urlencode({"flash": flash}))
