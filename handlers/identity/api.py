"""Admin routes for one person's data: export, erase, merge two customers and undo a merge.

Thin wrappers over storage/privacy.py and storage/merge.py (the CLI's `crmbot customer …` uses
the same functions), each in one transaction, actor recorded from the caller's token.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.api.auth import principal
from bot.api.base import ApiError, ApiRoute, Param, json_body, not_found, path_int
from bot.keys import CORE
from storage import merge as merging
from storage import privacy

CUSTOMER = (Param("customer_id", "path", "integer", required=True),)


def _merge_json(record: Any) -> dict[str, Any]:
    return {"id": record.id, "kept": record.target_id, "merged": record.source_id,
            "actor": record.actor, "reason": record.reason}


async def export_customer(request: web.Request) -> web.Response:
    customer_id = path_int(request, "customer_id")
    async with request.app[CORE].sessions() as session:
        try:
            data = await privacy.export_customer(session, customer_id)
        except LookupError:
            raise not_found(f"customer {customer_id}") from None
    return web.json_response(data)


async def erase_customer(request: web.Request) -> web.Response:
    customer_id = path_int(request, "customer_id")
    async with request.app[CORE].sessions.begin() as session:
        try:
            counts = await privacy.erase_customer(session, customer_id)
        except LookupError:
            raise not_found(f"customer {customer_id}") from None
    return web.json_response({"erased": customer_id, "rows": counts})


async def merge_customer(request: web.Request) -> web.Response:
    keep = path_int(request, "customer_id")
    body = await json_body(request)
    fold = body.get("merge") if isinstance(body, dict) else None
    if not isinstance(fold, int) or isinstance(fold, bool):
        raise ApiError(422, "invalid_field", "'merge' must be the id of the customer to fold in",
                       "merge")
    async with request.app[CORE].sessions.begin() as session:
        try:
            record = await merging.merge_customers(session, keep, fold,
                                                   actor=principal(request).actor)
        except (merging.MergeError, LookupError) as exc:
            raise ApiError(409, "cannot_merge", str(exc)) from None
    return web.json_response(_merge_json(record), status=201)


async def undo_merge(request: web.Request) -> web.Response:
    merge_id = path_int(request, "merge_id")
    async with request.app[CORE].sessions.begin() as session:
        try:
            record = await merging.unmerge(session, merge_id, actor=principal(request).actor)
        except (merging.MergeError, LookupError) as exc:
            raise ApiError(409, "cannot_undo", str(exc)) from None
    return web.json_response(_merge_json(record))


ROUTES = [
    ApiRoute("GET", "/api/v1/customers/{customer_id}/export", export_customer, "admin",
             "Everything stored about a person (JSON)", CUSTOMER, tag="privacy",
             errors=(400, 404)),
    ApiRoute("POST", "/api/v1/customers/{customer_id}/erase", erase_customer, "admin",
             "Erase a person's data everywhere (aggregates stay)", CUSTOMER, tag="privacy",
             errors=(400, 404)),
    ApiRoute("POST", "/api/v1/customers/{customer_id}/merge", merge_customer, "admin",
             "Fold another customer into this one (undoable)", CUSTOMER,
             body={"type": "object", "required": ["merge"],
                   "properties": {"merge": {"type": "integer"}}},
             status=201, tag="privacy", errors=(400, 409, 422)),
    ApiRoute("POST", "/api/v1/merges/{merge_id}/undo", undo_merge, "admin",
             "Undo a merge", (Param("merge_id", "path", "integer", required=True),),
             tag="privacy", errors=(400, 409)),
]
