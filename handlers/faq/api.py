"""/api/v1/kb: entries (list, search, CRUD), revision history and restore, import/export, match.

An entry is addressed by (id, locale). Writes need the admin role and accept an optional
``base_revision`` (the revision the client last saw): if someone else saved in between, the API
answers 409 and writes nothing, so two admins cannot silently overwrite each other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from bot import kb_ops
from bot.api.auth import principal
from bot.api.base import (
    PAGE_PARAMS,
    ApiError,
    ApiRoute,
    Param,
    decode_cursor,
    json_body,
    not_found,
    page,
    page_limit,
    query_choice,
    validation_error,
)
from bot.keys import CORE
from handlers.faq import rules as kbrules
from knowledge.entries import KBEntry
from knowledge.formats import FORMATS, KBFormatError, dumps, loads
from storage import kb as kb_repo

BASE = "/api/v1/kb"
ENTRY = BASE + "/entries/{entry_id}/{locale}"
CONTENT_TYPES = {"yaml": "application/yaml", "json": "application/json",
                 "jsonl": "application/jsonl", "csv": "text/csv"}


def _found(q: str, tag: str | None, texts: Iterable[str], tags: Sequence[str]) -> bool:
    """The search's one rule: carries ``tag`` (if given) and contains ``q`` in any of its
    texts or tags, case-folded (filtered in Python: JSON lists differ by backend)."""
    if tag and tag not in tags:
        return False
    return not q or q.casefold() in " ".join((*texts, *tags)).casefold()


async def matching_keys(core: Any, *, locale: str | None, tag: str | None,
                        q: str) -> list[tuple[str, str]]:
    """(id, locale) of every entry a search finds, sorted: the text is read as plain columns
    and decoded and filtered in a worker thread, so that only the page shown is loaded as
    entries (a search of 3,000 entries held the event loop ~0.1-0.15 s)."""
    async with core.sessions() as session:
        rows = await kb_repo.plain_rows(session, locale)
    return await asyncio.to_thread(_filter_rows, rows, q, tag)


def _filter_rows(rows: list[kb_repo.PlainRow], q: str,
                 tag: str | None) -> list[tuple[str, str]]:
    strings = kb_repo.strings
    return sorted((entry_id, locale) for entry_id, locale, question, answer, phrasings, tags, *_
                  in rows
                  if _found(q, tag, (entry_id, question, answer, *strings(phrasings)),
                            strings(tags)))


async def list_entries(request: web.Request) -> web.Response:
    limit = page_limit(request)
    after = decode_cursor(request)
    key = _entry_key(after)
    locale, tag = request.query.get("locale") or None, request.query.get("tag") or None
    q = request.query.get("q", "")
    core = request.app[CORE]
    if not q and not tag:  # plain paging: one page in SQL, however large the KB
        async with core.sessions() as session:
            entries = await kb_repo.list_entries(session, locale=locale, after=key,
                                                 limit=limit + 1)
    else:
        keys = await matching_keys(core, locale=locale, tag=tag, q=q)
        keys = [k for k in keys if key is None or k > key][:limit + 1]
        async with core.sessions() as session:
            entries = await kb_repo.entries_at(session, keys)
    chunk = entries[:limit]
    more = len(entries) > limit
    return page([kb_ops.entry_json(e) for e in chunk], list(chunk[-1].key) if more else None)


def _entry_key(after: list[Any] | None) -> tuple[str, str] | None:
    """The (id, locale) a page cursor holds; a forged one is a 400, never a database error
    (``isprintable`` is false for a NUL and a lone surrogate, which PostgreSQL cannot take)."""
    if after is None:
        return None
    if len(after) != 2 or not all(isinstance(k, str) and k.isprintable() for k in after):
        raise ApiError(400, "invalid_parameter", "cursor is not one this API gave out", "cursor")
    return after[0], after[1]


def _entry_from(body: dict[str, Any], entry_id: str | None = None,
                locale: str | None = None) -> tuple[KBEntry, int | None]:
    body = dict(body)
    base = body.pop("base_revision", None)
    if base is not None and (not isinstance(base, int) or isinstance(base, bool)):
        raise ApiError(422, "validation_error", "base_revision must be an integer",
                       "base_revision")
    for name, value in (("id", entry_id), ("locale", locale)):
        if value is None:
            continue
        if name in body and body[name] != value:
            raise ApiError(422, "validation_error", f"{name} in the body differs from the URL",
                           name)
        body[name] = value
    try:
        entry = KBEntry.model_validate(body)
    except ValidationError as exc:
        raise validation_error(exc) from None
    refused = kbrules.problems([entry], whole_file=False)
    if refused:
        raise ApiError(422, "validation_error", refused[0].message, refused[0].field,
                       [p.message for p in refused])
    return entry, base


async def _write(request: web.Request, entry: KBEntry, base: int | None,
                 must_exist: bool) -> kb_ops.Saved:
    core = request.app[CORE]
    actor = principal(request).actor
    async with core.sessions.begin() as session:
        current = await kb_ops.entry_revision(session, entry.id, entry.locale, lock=True)
        if must_exist and current is None:
            raise not_found(f"entry {entry.id} ({entry.locale})")
        if not must_exist and current is not None:
            raise ApiError(409, "conflict", f"entry {entry.id} ({entry.locale}) already exists; "
                           "use PUT to change it", "id")
        try:
            [saved] = await kb_ops.save(session, [entry], actor,
                                        {entry.key: base} if base is not None else None)
        except kb_ops.Conflict as exc:
            raise ApiError(409, "conflict", str(exc), "base_revision") from None
    await kb_ops.reload(core)
    return saved


async def create_entry(request: web.Request) -> web.Response:
    entry, base = _entry_from(await json_body(request))
    saved = await _write(request, entry, base, must_exist=False)
    return web.json_response(kb_ops.entry_json(saved.entry, saved.revision), status=201)


async def update_entry(request: web.Request) -> web.Response:
    entry, base = _entry_from(await json_body(request), request.match_info["entry_id"],
                              request.match_info["locale"])
    saved = await _write(request, entry, base, must_exist=True)
    return web.json_response(kb_ops.entry_json(saved.entry, saved.revision))


async def get_entry(request: web.Request) -> web.Response:
    entry_id, locale = request.match_info["entry_id"], request.match_info["locale"]
    async with request.app[CORE].sessions() as session:
        entry = await kb_repo.get(session, entry_id, locale)
        revision = await kb_ops.entry_revision(session, entry_id, locale)
    if entry is None:
        raise not_found(f"entry {entry_id} ({locale})")
    return web.json_response(kb_ops.entry_json(entry, revision))


async def delete_entry(request: web.Request) -> web.Response:
    core = request.app[CORE]
    entry_id, locale = request.match_info["entry_id"], request.match_info["locale"]
    async with core.sessions.begin() as session:
        removed = await kb_ops.delete(session, entry_id, locale, principal(request).actor)
    if not removed:
        raise not_found(f"entry {entry_id} ({locale})")
    await kb_ops.reload(core)
    return web.Response(status=204)


async def list_revisions(request: web.Request) -> web.Response:
    entry_id, locale = request.match_info["entry_id"], request.match_info["locale"]
    async with request.app[CORE].sessions() as session:
        rows = await kb_repo.history(session, entry_id, locale)
    if not rows:
        raise not_found(f"entry {entry_id} ({locale})")
    return web.json_response({"items": [kb_ops.revision_json(r) for r in rows]})


async def restore_revision(request: web.Request) -> web.Response:
    core = request.app[CORE]
    entry_id, locale = request.match_info["entry_id"], request.match_info["locale"]
    try:
        revision = int(request.match_info["revision"])
    except ValueError:
        raise ApiError(400, "invalid_parameter", "revision must be an integer",
                       "revision") from None
    try:
        async with core.sessions.begin() as session:
            saved = await kb_ops.restore(session, entry_id, locale, revision,
                                         principal(request).actor)
    except LookupError as exc:
        raise ApiError(404, "not_found", str(exc), "revision") from None
    except ValueError as exc:
        raise ApiError(422, "validation_error", str(exc), "revision") from None
    await kb_ops.reload(core)
    return web.json_response(kb_ops.entry_json(saved.entry, saved.revision))


async def export_kb(request: web.Request) -> web.Response:
    fmt = query_choice(request, "format", FORMATS) or "yaml"
    async with request.app[CORE].sessions() as session:
        rows = await kb_repo.plain_rows(session, request.query.get("locale") or None)
    # In a worker thread, like the parsing below: YAML of 10,000 entries takes ~4 s to write
    # (and ~2 s to read 770 KB), and building 3,000 entries ~0.1 s, which on the event loop
    # held every conversation.
    text = await asyncio.to_thread(_export, rows, request.query.get("tag") or None, fmt)
    return web.Response(
        text=text, content_type=CONTENT_TYPES[fmt], charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="kb.{fmt}"'},
    )


def _export(rows: list[kb_repo.PlainRow], tag: str | None, fmt: str) -> str:
    entries = kb_repo.entries_from(rows)
    return dumps([e for e in entries if not tag or tag in e.tags], fmt)


async def import_kb(request: web.Request) -> web.Response:
    """All or nothing: a file with any bad row imports nothing and names every problem."""
    fmt = query_choice(request, "format", FORMATS)
    if fmt is None:
        raise ApiError(400, "invalid_parameter", f"format is required: one of {FORMATS}",
                       "format")
    dry_run = request.query.get("dry_run", "").lower() in ("1", "true", "yes")
    try:
        text = await request.text()
        entries = await asyncio.to_thread(loads, text, fmt, "request body")
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_body", "body is not UTF-8 text") from None
    except KBFormatError as exc:
        raise ApiError(422, "invalid_kb_file", exc.problems[0], "body", exc.problems) from None
    refused = kbrules.problems(entries)
    if refused:
        raise ApiError(422, "invalid_kb_file", refused[0].message, "body",
                       [p.message for p in refused])
    core = request.app[CORE]
    actor = principal(request).actor
    async with core.sessions() as session:
        stats = await kb_ops.import_entries(session, entries, actor, f"api:{fmt}")
        await (session.rollback() if dry_run else session.commit())
    if not dry_run:
        await kb_ops.reload(core)
    return web.json_response({**stats, "dry_run": dry_run})


async def match(request: web.Request) -> web.Response:
    text = request.query.get("text", "").strip()
    if not text:
        raise ApiError(400, "invalid_parameter", "text is required", "text")
    core = request.app[CORE]
    locale = request.query.get("locale") or core.settings.default_locale
    return web.json_response(await kb_ops.explain(core, text[:4000], locale))


_ENTRY_PARAMS = (Param("entry_id", "path", required=True), Param("locale", "path", required=True))
_ENTRY_BODY = {"$ref": "#/components/schemas/KBEntryWrite"}
_ENTRY_OUT = {"$ref": "#/components/schemas/KBEntryOut"}
_PAGE_OUT = {"$ref": "#/components/schemas/KBEntryPage"}

ROUTES = [
    ApiRoute("GET", BASE + "/entries", list_entries, "agent",
             "List and search entries (ordered by id, locale)",
             (Param("locale"), Param("tag"), Param("q", description="text search"),
              *PAGE_PARAMS), response=_PAGE_OUT, tag="kb", errors=(400,)),
    ApiRoute("POST", BASE + "/entries", create_entry, "admin", "Create an entry",
             body=_ENTRY_BODY, response=_ENTRY_OUT, status=201, tag="kb",
             errors=(400, 409, 415, 422)),
    ApiRoute("GET", ENTRY, get_entry, "agent", "Get one entry", _ENTRY_PARAMS,
             response=_ENTRY_OUT, tag="kb", errors=(404,)),
    ApiRoute("PUT", ENTRY, update_entry, "admin", "Change an entry (base_revision guards)",
             _ENTRY_PARAMS, body=_ENTRY_BODY, response=_ENTRY_OUT, tag="kb",
             errors=(400, 404, 409, 415, 422)),
    ApiRoute("DELETE", ENTRY, delete_entry, "admin", "Delete an entry", _ENTRY_PARAMS,
             status=204, tag="kb", errors=(404,)),
    ApiRoute("GET", ENTRY + "/revisions", list_revisions, "agent",
             "Revision history of an entry (oldest first)", _ENTRY_PARAMS,
             response={"$ref": "#/components/schemas/RevisionList"}, tag="kb", errors=(404,)),
    ApiRoute("POST", ENTRY + "/revisions/{revision}/restore", restore_revision, "admin",
             "Make an old revision current (recorded as a new revision)",
             (*_ENTRY_PARAMS, Param("revision", "path", "integer", required=True)),
             response=_ENTRY_OUT, tag="kb", errors=(400, 404, 422)),
    ApiRoute("GET", BASE + "/export", export_kb, "agent", "Export entries as a file",
             (Param("format", enum=FORMATS), Param("locale"), Param("tag")),
             response={"type": "string"}, tag="kb", errors=(400,)),
    ApiRoute("POST", BASE + "/import", import_kb, "admin",
             "Import a YAML/JSON/JSONL/CSV file (all or nothing)",
             (Param("format", enum=FORMATS, required=True),
              Param("dry_run", type="boolean", description="validate and count only")),
             body={"type": "string"}, body_type="text/plain",
             response={"$ref": "#/components/schemas/ImportStats"}, tag="kb",
             errors=(400, 422)),
    ApiRoute("GET", BASE + "/match", match, "agent",
             "What the bot would answer to a text, with confidence",
             (Param("text", required=True), Param("locale")),
             response={"$ref": "#/components/schemas/MatchResult"}, tag="kb", errors=(400,)),
]
