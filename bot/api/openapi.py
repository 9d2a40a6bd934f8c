"""GET /api/v1/openapi.json, generated from the routes actually registered on the app.

Paths come from ``app.router`` (so the document cannot list a route that does not exist), and
each operation's details from its :class:`ApiRoute`; a route another module added without
metadata still appears (from its docstring), and the tests insist that every route has metadata.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from bot.api.base import JSON, ApiRoute, Param, registry
from knowledge.entries import KBEntry

TITLE = "crmbot admin API"
STATUS_TEXT = {200: "OK", 201: "Created", 202: "Accepted", 204: "No content",
               400: "Bad request", 413: "Too large",
               401: "No or unknown token", 403: "Role not allowed", 404: "Not found",
               409: "Conflict", 415: "Wrong content type", 422: "Validation failed"}


def _obj(props: dict[str, Any], required: tuple[str, ...] = ()) -> JSON:
    out: JSON = {"type": "object", "properties": props}
    if required:
        out["required"] = list(required)
    return out


def _page(ref: str) -> JSON:
    return _obj({"items": {"type": "array", "items": {"$ref": f"#/components/schemas/{ref}"}},
                 "next_cursor": {"type": ["string", "null"]}}, ("items", "next_cursor"))


def _list(ref: str) -> JSON:
    return _obj({"items": {"type": "array", "items": {"$ref": f"#/components/schemas/{ref}"}}},
                ("items",))


S: JSON = {"type": "string"}
INT: JSON = {"type": "integer"}
B: JSON = {"type": "boolean"}
NUM: JSON = {"type": "number"}
NS: JSON = {"type": ["string", "null"]}


def components() -> JSON:
    entry = KBEntry.model_json_schema()
    entry.pop("title", None)
    write = {**entry, "properties": {**entry["properties"], "base_revision": INT}}
    out = {**entry, "properties": {**entry["properties"], "revision": INT}}
    ticket = _obj({k: S for k in ("status", "priority", "reason", "subject", "channel")}
                  | {"id": INT, "customer_id": INT, "assignee": NS, "created_at": S})
    customer = _obj({"id": INT, "display_name": NS, "locale": NS, "created_at": S,
                     "merged_into": {"type": ["integer", "null"]}})
    return {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": _obj({"error": _obj({"code": S, "message": S, "field": S,
                                          "details": {"type": "array", "items": S}},
                                         ("code", "message"))}, ("error",)),
            "KBEntry": entry, "KBEntryWrite": write, "KBEntryOut": out,
            "KBEntryPage": _page("KBEntryOut"),
            "Revision": _obj({"revision": INT, "action": S, "actor": NS, "created_at": S,
                              "data": {"type": ["object", "null"]}}),
            "RevisionList": _list("Revision"),
            "ImportStats": _obj({"created": INT, "updated": INT, "unchanged": INT, "dry_run": B}),
            "MatchResult": _obj({"text": S, "locale": S, "confident": B, "kb_revision": INT,
                                 "outcome": {"type": "string",
                                             "enum": ["answer", "suggest", "fallback"]},
                                 "candidates": {"type": "array", "items": _obj(
                                     {"entry_id": S, "locale": S, "score": NUM,
                                      "question": S, "answer": S})}}),
            "Ticket": ticket, "TicketPage": _page("Ticket"),
            "TicketDetail": {**ticket, "properties": {**ticket["properties"],
                                                      "transcript": {"type": "array"},
                                                      "notes": {"type": "array"},
                                                      "customer": {"type": ["object", "null"]}}},
            "ActionAccepted": _obj({"status": {"type": "string",
                                               "enum": ["accepted", "duplicate"]},
                                    "event_id": S, "ticket_id": INT, "action": S}),
            "Customer": customer, "CustomerPage": _page("Customer"),
            "CustomerDetail": {**customer, "properties": {
                **customer["properties"], "identities": {"type": "array"},
                "conversations": {"type": "array"}, "tickets": {"type": "array"},
                "timeline": {"type": "array"}, "surveys": {"type": "array"},
                "merges": {"type": "array"}, "consent": {"type": "object"},
                "timezone": NS}},
            "Me": _obj({"actor": S, "role": S, "via": S}),
            "Token": _obj({"id": INT, "name": S, "role": S, "prefix": S, "revoked": B}),
            "TokenList": _list("Token"),
            "TokenCreate": _obj({"name": S, "role": {"type": "string",
                                                     "enum": ["admin", "agent"]}},
                                ("name", "role")),
            "TokenCreated": _obj({"id": INT, "name": S, "role": S, "token": S}),
            "AuditEntry": _obj({"id": INT, "actor": S, "action": S, "target": NS,
                                "detail": {"type": "object"}, "created_at": S}),
            "AuditPage": _page("AuditEntry"),
            "Unanswered": _obj({"text": S, "locale": S, "count": INT, "outcome": S,
                                "best_entry_id": NS, "picked_entry_id": NS,
                                "ids": {"type": "array", "items": INT}}),
            "UnansweredList": _list("Unanswered"),
            "Teach": _obj({"entry_id": S, "locale": S, "text": S,
                           "ids": {"type": "array", "items": INT}},
                          ("entry_id", "locale", "text")),
            "Taught": _obj({"added": B, "closed": INT,
                            "revision": {"type": ["integer", "null"]}}),
        },
    }


def _param(p: Param) -> JSON:
    schema: JSON = {"type": p.type}
    if p.enum:
        schema["enum"] = list(p.enum)
    out: JSON = {"name": p.name, "in": p.where, "required": p.required or p.where == "path",
                 "schema": schema}
    if p.description:
        out["description"] = p.description
    return out


def _responses(route: ApiRoute) -> JSON:
    ok: JSON = {"description": STATUS_TEXT.get(route.status, "OK")}
    if route.response is not None and route.status != 204:
        kind = "application/json" if "$ref" in route.response else "text/plain"
        ok["content"] = {kind: {"schema": route.response}}
    out: JSON = {str(route.status): ok}
    codes = set(route.errors) | ({401, 403} if route.role != "public" else set())
    for code in sorted(codes):
        out[str(code)] = {"description": STATUS_TEXT.get(code, "Error"), "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    return out


def operation(route: ApiRoute) -> JSON:
    op: JSON = {"operationId": _operation_id(route), "summary": route.summary,
                "tags": [route.tag], "x-crmbot-role": route.role,
                "responses": _responses(route)}
    if route.params:
        op["parameters"] = [_param(p) for p in route.params]
    if route.role == "public":
        op["security"] = []
    if route.body is not None:
        op["requestBody"] = {"required": True,
                             "content": {route.body_type: {"schema": route.body}}}
    return op


def _undocumented(method: str, path: str, handler: Any) -> JSON:
    doc = (getattr(handler, "__doc__", None) or f"{method} {path}").strip().splitlines()[0]
    params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
              for n in re.findall(r"{(\w+)", path)]
    op: JSON = {"summary": doc, "x-crmbot-undocumented": True,
                "responses": {"default": {"description": "see the module that owns it"}}}
    if params:
        op["parameters"] = params
    return op


def build(app: web.Application) -> JSON:
    """The OpenAPI 3.1 document for every /api/v1 route registered on ``app``."""
    known = registry(app).routes
    paths: dict[str, JSON] = {}
    for route in app.router.routes():
        resource = route.resource
        if resource is None or not resource.canonical.startswith("/api/v1/"):
            continue
        if route.method in ("HEAD", "OPTIONS", "*"):
            continue
        path = resource.canonical
        meta = known.get((route.method, path))
        op = operation(meta) if meta else _undocumented(route.method, path, route.handler)
        paths.setdefault(path, {})[route.method.lower()] = op
    return {"openapi": "3.1.0",
            "info": {"title": TITLE, "version": "1",
                     "description": "Bearer-token admin API of crmbot; see docs/admin.md."},
            "servers": [{"url": "/"}], "security": [{"bearer": []}],
            "paths": dict(sorted(paths.items())), "components": components()}


async def openapi_json(request: web.Request) -> web.Response:
    """The API description (public, so tools can read it before a token exists)."""
    return web.json_response(build(request.app))


ROUTES = [ApiRoute("GET", "/api/v1/openapi.json", openapi_json, "public",
                   "This OpenAPI document", response={"type": "object"}, tag="meta")]


def _operation_id(route: ApiRoute) -> str:
    """Unique by construction (method + path), unlike handler names made by factories."""
    words = re.findall(r"[a-z0-9]+", route.path.removeprefix("/api/v1").lower())
    return "_".join([route.method.lower(), *words]) or route.method.lower()
