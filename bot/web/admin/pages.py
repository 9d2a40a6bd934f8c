"""Admin UI pages outside the KB editor: unanswered questions, tickets, the audit log."""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web

from bot import kb_ops
from bot.api import people
from bot.api.auth import principal
from bot.keys import CORE
from bot.web.admin.render import render
from bot.web.edge import form_fields
from handlers.faq.web import entry_url
from storage import admin as admin_repo
from storage import agents, unanswered


async def home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther("/admin/kb")


async def unanswered_list(request: web.Request) -> web.Response:
    async with request.app[CORE].sessions() as session:
        groups = await unanswered.list_open(session, limit=200)
    items = []
    for g in groups:
        query = urlencode({"question": g.text, "locale": g.locale,
                           "from": ",".join(str(i) for i in g.ids)})
        items.append({"group": g, "create": f"/admin/kb/new?{query}",
                      "ids": ",".join(str(i) for i in g.ids)})
    return render(request, "unanswered.html", items=items, entry_url=entry_url)


async def unanswered_dismiss(request: web.Request) -> web.StreamResponse:
    post = await form_fields(request)
    ids = unanswered.row_ids(str(post.get("ids", "")))
    async with request.app[CORE].sessions.begin() as session:
        count = await unanswered.resolve(session, ids, None)
    raise web.HTTPSeeOther("/admin/unanswered?" + urlencode({"flash": f"Dismissed {count}."}))


async def unanswered_teach(request: web.Request) -> web.StreamResponse:
    """Add the customer's question as a phrasing of the entry the admin chose (the form is
    filled in with the suggestion the customer picked, else the closest entry the bot found)
    and close the question's rows."""
    post = await form_fields(request)
    ids = unanswered.row_ids(str(post.get("ids", "")))
    entry_id = str(post.get("entry", "")).strip()
    text, locale = str(post.get("text", "")), str(post.get("locale", ""))
    try:
        saved, _ = await kb_ops.teach(request.app[CORE], entry_id, locale, text, ids,
                                      principal(request).actor)
    except (LookupError, ValueError, kb_ops.Conflict) as exc:
        flash = f"Nothing changed: {exc}."
    else:
        flash = (f"Added to {entry_id} ({locale}) as a phrasing." if saved is not None
                 else f"{entry_id} ({locale}) already has this wording; the question is closed.")
    raise web.HTTPSeeOther("/admin/unanswered?" + urlencode({"flash": flash}))


async def tickets_list(request: web.Request) -> web.Response:
    status = request.query.get("status") or None
    if status not in (None, *people.STATUSES):
        raise web.HTTPBadRequest(text="unknown status")
    async with request.app[CORE].sessions() as session:
        rows = await people.query_tickets(session, status, 200)
        known = await agents.names(session, (t.assignee for t in rows))
    return render(request, "tickets.html", tickets=rows, current=status or "",
                  statuses=people.STATUSES, agents=known)


async def audit_page(request: web.Request) -> web.Response:
    async with request.app[CORE].sessions() as session:
        rows = await admin_repo.list_audit(session, limit=200)
    return render(request, "audit.html", rows=rows)
