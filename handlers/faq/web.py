"""Admin UI pages for the knowledge base: list/search, editor with language tabs, history, try it.

The editor saves every language of an entry in one transaction; a problem in any language
re-shows the form with the typed values and saves nothing. Each language carries the revision it
was loaded at, so a concurrent edit is reported instead of overwritten.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web
from pydantic import ValidationError
from sqlalchemy import select

from bot import kb_ops
from bot.api.auth import principal
from bot.keys import CORE
from bot.web.admin.render import LOCALES, render
from bot.web.edge import form_fields
from knowledge.entries import KBEntry
from storage import kb as kb_repo
from storage import unanswered
from storage.models import KBEntryRow

FIELDS = ("question", "answer", "phrasings", "tags")


@dataclass
class LocaleForm:
    """One language tab: what the form shows and any problems with it."""

    locale: str
    question: str = ""
    answer: str = ""
    phrasings: str = ""
    tags: str = ""
    enabled: bool = True
    public: bool = True
    base: int | None = None
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, entry: KBEntry, revision: int) -> LocaleForm:
        return cls(entry.locale, entry.question, entry.answer, "\n".join(entry.phrasings),
                   ", ".join(entry.tags), entry.enabled, entry.public, revision)

    @property
    def blank(self) -> bool:
        return not (self.question.strip() or self.answer.strip() or self.phrasings.strip())

    def entry(self, entry_id: str) -> KBEntry | None:
        try:
            return KBEntry(
                id=entry_id, locale=self.locale, question=self.question, answer=self.answer,
                phrasings=tuple(line for line in self.phrasings.splitlines() if line.strip()),
                tags=tuple(t.strip() for t in self.tags.split(",") if t.strip()),
                enabled=self.enabled, public=self.public,
            )
        except ValidationError as exc:
            for err in exc.errors():
                name = str(err["loc"][0]) if err["loc"] else "answer"
                self.errors[name if name in FIELDS else "answer"] = err["msg"]
            return None


def entry_url(entry_id: str, suffix: str = "") -> str:
    return f"/admin/kb/e/{quote(entry_id, safe='')}{suffix}"


#: Entries per page of the admin KB list.
LIST_PAGE = 100


async def kb_list(request: web.Request) -> web.Response:
    """One page of entries. A plain page is read in SQL: the list loaded and rendered the whole
    KB on every view (3,000 entries held the event loop ~0.2 s, every conversation waiting)."""
    q = request.query.get("q", "").strip()
    locale = request.query.get("locale") or None
    tag = request.query.get("tag") or None
    after = _after(request.query.get("after", ""))
    if q or tag:
        ids, grouped, total = await _searched(request, locale, tag, q, after)
    else:
        async with request.app[CORE].sessions() as session:
            ids = await kb_repo.entry_ids_page(session, locale=locale, after=after,
                                               limit=LIST_PAGE + 1)
            grouped = _grouped(await kb_repo.entries_of(session, ids[:LIST_PAGE], locale))
            total = await kb_repo.count_ids(session, locale)
    page_ids = ids[:LIST_PAGE]
    rows = [(entry_id, grouped[entry_id]) for entry_id in page_ids if entry_id in grouped]
    more = {"q": q, "locale": locale or "", "tag": tag or "", "after": page_ids[-1]} \
        if len(ids) > LIST_PAGE and page_ids else None
    return render(request, "kb_list.html", rows=rows, q=q, locale=locale or "", tag=tag or "",
                  total=total, entry_url=entry_url, paged=after is not None,
                  next_url=f"/admin/kb?{urlencode(more)}" if more else "")


async def _searched(
    request: web.Request, locale: str | None, tag: str | None, q: str, after: str | None
) -> tuple[list[str], dict[str, list[KBEntry]], int]:
    """Entry ids found after ``after``, the page's found versions, and how many ids in all."""
    from handlers.faq.api import matching_keys

    keys = await matching_keys(request.app[CORE], locale=locale, tag=tag, q=q)
    every = list(dict.fromkeys(entry_id for entry_id, _ in keys))
    ids = [i for i in every if after is None or i > after]
    shown = set(ids[:LIST_PAGE])
    async with request.app[CORE].sessions() as session:
        found = await kb_repo.entries_at(session, [k for k in keys if k[0] in shown])
    return ids, _grouped(found), len(every)


def _grouped(entries: list[KBEntry]) -> dict[str, list[KBEntry]]:
    grouped: dict[str, list[KBEntry]] = {}
    for entry in entries:
        grouped.setdefault(entry.id, []).append(entry)
    return grouped


def _after(raw: str) -> str | None:
    """The id a page starts after; anything a database could not take (``isprintable`` is
    false for a NUL and a lone surrogate) starts at the top."""
    text = raw.strip()[:200]
    return text if text and text.isprintable() else None


async def _load_forms(request: web.Request, entry_id: str) -> dict[str, LocaleForm]:
    async with request.app[CORE].sessions() as session:
        rows = (await session.scalars(
            select(KBEntryRow).where(KBEntryRow.entry_id == entry_id)
        )).all()
    forms = {loc: LocaleForm(loc) for loc in LOCALES}
    for row in rows:
        forms[row.locale] = LocaleForm.of(kb_repo.row_to_entry(row), row.revision)
    return forms


def _editor(request: web.Request, entry_id: str, forms: dict[str, LocaleForm], *,
            new: bool, status: int = 200, error: str = "", active: str = "",
            from_ids: str = "") -> web.Response:
    active = active or next((loc for loc, f in forms.items() if f.errors), "") or \
        next((loc for loc, f in forms.items() if not f.blank), LOCALES[0])
    return render(request, "kb_edit.html", status=status, entry_id=entry_id,
                  forms=list(forms.values()), new=new, error=error, active=active,
                  from_ids=from_ids, entry_url=entry_url)


async def edit_form(request: web.Request) -> web.Response:
    entry_id = request.match_info["entry_id"]
    forms = await _load_forms(request, entry_id)
    if all(f.base is None for f in forms.values()):
        raise web.HTTPNotFound(text=f"No entry {entry_id!r}. It may have been deleted.")
    return _editor(request, entry_id, forms, new=False, active=request.query.get("tab", ""))


async def new_form(request: web.Request) -> web.Response:
    locale = request.query.get("locale", "")
    forms = {loc: LocaleForm(loc) for loc in LOCALES}
    if locale in forms:
        forms[locale].question = request.query.get("question", "")[:4000]
    return _editor(request, request.query.get("id", ""), forms, new=True, active=locale,
                   from_ids=request.query.get("from", ""))


def _forms_from_post(post: Any, locales: list[str]) -> dict[str, LocaleForm]:
    forms = {}
    for loc in locales:
        base = str(post.get(f"{loc}-base", "")).strip()
        text = {name: str(post.get(f"{loc}-{name}", "")) for name in FIELDS}
        forms[loc] = LocaleForm(
            loc, text["question"], text["answer"], text["phrasings"], text["tags"],
            enabled=post.get(f"{loc}-enabled") == "on",
            public=post.get(f"{loc}-public") == "on",
            base=int(base) if base.isdigit() else None,
        )
    return forms


async def save_entry(request: web.Request) -> web.StreamResponse:
    new = request.match_info.get("entry_id") is None
    post = await form_fields(request)
    entry_id = str(post.get("id", "")).strip() if new else request.match_info["entry_id"]
    extra = str(post.get("locales", "")).split(",")
    locales = [loc for loc in dict.fromkeys([*LOCALES, *extra]) if loc]
    forms = _forms_from_post(post, locales)
    from_ids = str(post.get("from", ""))
    entries, error = _validate(entry_id, forms)
    if error:
        return _editor(request, entry_id, forms, new=new, status=422, error=error,
                       from_ids=from_ids)
    core = request.app[CORE]
    base = {(entry_id, f.locale): f.base for f in forms.values() if not f.blank or f.base}
    try:
        async with core.sessions.begin() as session:
            saved = await kb_ops.save(session, entries, principal(request).actor, base)
            await unanswered.resolve(session, unanswered.row_ids(from_ids), entry_id)
    except kb_ops.Conflict as exc:
        message = str(exc) if not new else f"An entry with id {entry_id!r} already exists."
        return _editor(request, entry_id, forms, new=new, status=409, error=message,
                       from_ids=from_ids)
    await kb_ops.reload(core)
    changed = sum(1 for s in saved if s.created or s.revision > (base.get(s.entry.key) or 0))
    flash = f"Saved ({changed} language{'s' if changed != 1 else ''} changed)."
    raise web.HTTPSeeOther(entry_url(entry_id) + "?" + urlencode({"flash": flash}))


def _validate(entry_id: str, forms: dict[str, LocaleForm]) -> tuple[list[KBEntry], str]:
    entries: list[KBEntry] = []
    try:
        KBEntry(id=entry_id, locale="en", answer="x")
    except ValidationError as exc:
        return [], f"Id: {exc.errors()[0]['msg']}"
    for form in forms.values():
        if form.blank and form.base is None:
            continue
        if form.blank:
            form.errors["answer"] = "An answer is required (use Delete to remove a language)."
            continue
        entry = form.entry(entry_id)
        if entry is not None:
            entries.append(entry)
    if any(f.errors for f in forms.values()):
        bad = ", ".join(f.locale for f in forms.values() if f.errors)
        return [], f"Nothing was saved: fix the marked fields ({bad})."
    if not entries:
        return [], "Nothing was saved: write a question and an answer in at least one language."
    return entries, ""


async def delete_locale(request: web.Request) -> web.StreamResponse:
    entry_id, locale = request.match_info["entry_id"], request.match_info["locale"]
    core = request.app[CORE]
    async with core.sessions.begin() as session:
        removed = await kb_ops.delete(session, entry_id, locale, principal(request).actor)
    await kb_ops.reload(core)
    flash = f"Deleted {entry_id} ({locale})." if removed else "It was already gone."
    raise web.HTTPSeeOther("/admin/kb?" + urlencode({"flash": flash}))


def entry_lines(data: dict[str, Any] | None) -> list[str]:
    """A revision as lines, so a diff shows which field changed."""
    if data is None:
        return ["(deleted)"]
    lines = [f"question: {data.get('question', '')}", "answer:"]
    lines += [f"  {line}" for line in str(data.get("answer", "")).splitlines()]
    lines += ["phrasings:"] + [f"  - {p}" for p in data.get("phrasings", [])]
    lines += [f"tags: {', '.join(data.get('tags', []))}",
              f"enabled: {'yes' if data.get('enabled', True) else 'no'}",
              f"public: {'yes' if data.get('public', True) else 'no'}"]
    return lines


def diff(old: dict[str, Any] | None, new: dict[str, Any] | None, first: bool) -> list[
        tuple[str, str]]:
    """(css class, line) pairs of a unified diff between two revisions."""
    before = [] if first else entry_lines(old)
    out = []
    for line in difflib.unified_diff(before, entry_lines(new), lineterm="", n=2):
        if line.startswith(("---", "+++")):
            continue
        kind = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "ctx")
        out.append((kind, line))
    return out


async def history(request: web.Request) -> web.Response:
    entry_id, locale = request.match_info["entry_id"], request.match_info["locale"]
    async with request.app[CORE].sessions() as session:
        rows = await kb_repo.history(session, entry_id, locale)
        current = await kb_ops.entry_revision(session, entry_id, locale)
    if not rows:
        raise web.HTTPNotFound(text=f"No history for {entry_id} ({locale}).")
    items = []
    for number, row in enumerate(rows):
        previous = rows[number - 1].data if number else None
        items.append({"row": row, "diff": diff(previous, row.data, number == 0)})
    return render(request, "kb_history.html", entry_id=entry_id, locale=locale,
                  items=list(reversed(items)), current=current, entry_url=entry_url)


async def restore(request: web.Request) -> web.StreamResponse:
    entry_id, locale = request.match_info["entry_id"], request.match_info["locale"]
    revision = int(request.match_info["revision"])
    core = request.app[CORE]
    try:
        async with core.sessions.begin() as session:
            saved = await kb_ops.restore(session, entry_id, locale, revision,
                                         principal(request).actor)
    except (LookupError, ValueError) as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    await kb_ops.reload(core)
    flash = f"Restored revision {revision} as revision {saved.revision}."
    raise web.HTTPSeeOther(
        entry_url(entry_id, f"/{quote(locale, safe='')}/history") + "?" + urlencode(
            {"flash": flash}))


def _try_args(request: web.Request) -> tuple[str, str]:
    core = request.app[CORE]
    text = request.query.get("text", "").strip()[:4000]
    locale = request.query.get("locale") or core.settings.default_locale
    return text, locale if locale in LOCALES else core.settings.default_locale


async def try_page(request: web.Request) -> web.Response:
    text, locale = _try_args(request)
    result = await kb_ops.explain(request.app[CORE], text, locale) if text else None
    return render(request, "try.html", text=text, locale=locale, result=result,
                  entry_url=entry_url)


async def try_json(request: web.Request) -> web.Response:
    text, locale = _try_args(request)
    if not text:
        return web.json_response({"error": {"code": "invalid_parameter",
                                            "message": "text is required", "field": "text"}},
                                 status=400)
    return web.json_response(await kb_ops.explain(request.app[CORE], text, locale))
