"""Everything stored about one person: export it (JSON) or erase it (GDPR articles 15 and 17).

Generic over the schema: starting from the customer (and any records merged into them), every
row reachable through foreign keys is theirs: identities, conversations, their messages, inbox
and outbox items, tickets, feedback, survey runs and answers, and tables added later. Tables
that point at a conversation by chat id instead of a foreign key (the widget's bubbles) are
listed in :data:`CHAT_KEYED`; Slack posts about a ticket sit in the outbox under
``ticket:<id>``.

Erasing keeps rows (counts, timestamps, scores, statuses stay for reports) and removes the
person: free texts become ``[erased]``, names, e-mails and links are cleared, JSON payloads are
emptied, and platform ids (Telegram user and chat ids, widget visitor ids) are replaced by
random pseudonyms, so the person is a stranger if they write again.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, String, Table, Text, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.merge import chunks, merged_sources
from storage.models import Base, Customer, utcnow

ERASED = "[erased]"
#: Columns that share a personal-sounding name but hold keys the code writes itself (a survey
#: run's ``subject`` is ``ticket:<id>`` or ``campaign:<name>:<customer id>``, unique per
#: survey): nothing personal, and overwriting them would collide on the unique constraint.
MACHINE_KEYS = {("survey_runs", "subject")}
CHAT_KEYED = {"web_chat_messages": "web"}
PSEUDONYMISED = ("external_id", "chat_id", "user_id")
PERSONAL_TEXT = ("text", "subject", "body", "comment", "suggested_reply")
PERSONAL_FIELDS = ("display_name", "author", "email", "url", "phone", "name")
PERSONAL_JSON = ("payload", "meta", "raw", "state", "attributes", "buttons", "filled")
Rows = dict[str, dict[Any, dict[str, Any]]]


async def collect(session: AsyncSession, customer_id: int) -> Rows:
    """Every row about this customer, per table, keyed by primary key."""
    root = await session.get(Customer, customer_id)
    if root is None:
        raise LookupError(f"no customer {customer_id}")
    people = [customer_id, *await merged_sources(session, customer_id)]
    found: Rows = {"customers": {}}
    customers = Base.metadata.tables["customers"]
    for part in chunks(people):
        for row in (await session.execute(select(customers).where(customers.c.id.in_(part)))):
            found["customers"][row.id] = dict(row._mapping)
    grew = True
    while grew:
        grew = False
        for table in Base.metadata.sorted_tables:
            grew |= await _follow_keys(session, table, found)
    await _chat_keyed(session, found)
    await _ticket_posts(session, found)
    return found


async def _follow_keys(session: AsyncSession, table: Table, found: Rows) -> bool:
    pk = _pk(table)
    if pk is None:
        return False
    rows = found.setdefault(table.name, {})
    before = len(rows)
    for fk in table.foreign_keys:
        parent_ids = list(found.get(fk.column.table.name, {}))
        for part in chunks(parent_ids):
            query = select(table).where(fk.parent.in_(part))
            for row in await session.execute(query):
                rows.setdefault(row._mapping[pk.name], dict(row._mapping))
    if not rows:
        found.pop(table.name)
    return len(rows) > before


async def _chat_keyed(session: AsyncSession, found: Rows) -> None:
    conversations = found.get("conversations", {}).values()
    for name, channel in CHAT_KEYED.items():
        table = Base.metadata.tables.get(name)
        chats = [c["chat_id"] for c in conversations if c["channel"] == channel]
        if table is None or not chats:
            continue
        pk = _pk(table)
        assert pk is not None
        for part in chunks(chats):
            for row in await session.execute(select(table).where(table.c.chat_id.in_(part))):
                found.setdefault(name, {})[row._mapping[pk.name]] = dict(row._mapping)


async def _ticket_posts(session: AsyncSession, found: Rows) -> None:
    """Desk posts about the customer's tickets (Slack threads) are queued under ticket:<id>."""
    keys = [f"ticket:{tid}" for tid in found.get("tickets", {})]
    outbox = Base.metadata.tables["outbox"]
    for part in chunks(keys):
        for row in await session.execute(select(outbox).where(outbox.c.order_key.in_(part))):
            found.setdefault("outbox", {})[row.id] = dict(row._mapping)


def _pk(table: Table) -> Column[Any] | None:
    columns = list(table.primary_key.columns)
    return columns[0] if len(columns) == 1 else None


async def export_customer(session: AsyncSession, customer_id: int) -> dict[str, Any]:
    """A JSON-ready document of everything stored about the customer."""
    found = await collect(session, customer_id)
    tables = {name: [_jsonable(r) for _, r in sorted(rows.items())]
              for name, rows in sorted(found.items())}
    people = tables.pop("customers")
    return {
        "customer_id": customer_id,
        "exported_at": utcnow().isoformat(),
        "customer": next(r for r in people if r["id"] == customer_id),
        "merged_customers": [r for r in people if r["id"] != customer_id],
        "tables": tables,
    }


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime | date) else v for k, v in row.items()}


async def erase_customer(session: AsyncSession, customer_id: int) -> dict[str, int]:
    """Remove the person's data everywhere, keep anonymous rows; returns rows changed per table."""
    found = await collect(session, customer_id)
    pseudonyms: dict[str, str] = {}
    changed: dict[str, int] = {}
    for name, rows in found.items():
        table = Base.metadata.tables[name]
        pk = _pk(table)
        assert pk is not None
        for key, row in rows.items():
            values = _scrub(table, row, pseudonyms)
            if values:
                await session.execute(update(table).where(pk == key).values(**values))
                changed[name] = changed.get(name, 0) + 1
    return changed


def _scrub(table: Table, row: dict[str, Any], pseudonyms: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for column in table.c:
        value = row.get(column.name)
        if value is None or column.primary_key or column.foreign_keys:
            continue
        new = _scrubbed(table.name, column, value, pseudonyms)
        if new is not _KEEP:
            values[column.name] = new
    if table.name == "customers":
        values["attributes"] = {"erased": True, "erased_at": utcnow().isoformat()}
        values["timezone"] = None
    if table.name == "inbound_events" and row.get("processed_at") is None:
        values["processed_at"] = utcnow()  # its payload is gone: never process it
    if table.name == "outbox" and row.get("status") in ("pending", "sending"):
        values.update(status="failed", last_error="erased")
    return values


_KEEP = object()


def _scrubbed(table: str, column: Column[Any], value: Any, pseudonyms: dict[str, str]) -> Any:
    name = column.name
    if (table, name) in MACHINE_KEYS:
        return _KEEP
    if name in PSEUDONYMISED and isinstance(value, str):
        return pseudonyms.setdefault(value, f"erased-{secrets.token_hex(8)}")
    if name in PERSONAL_JSON and isinstance(column.type, JSON):
        return [] if isinstance(value, list) else {}
    if isinstance(column.type, String | Text) and isinstance(value, str):
        if name in PERSONAL_TEXT:
            return ERASED
        if name in PERSONAL_FIELDS and table not in ("survey_definitions",):
            return None if column.nullable else ERASED
    if name == "error" and table == "inbound_events":
        return None
    if name == "last_error" and table == "outbox":
        return "erased"
    return _KEEP
