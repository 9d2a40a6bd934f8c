"""Everything stored about one person: export it (JSON) or erase it (GDPR articles 15 and 17).

Generic over the schema: starting from the customer (and any records merged into them), every
row reachable through foreign keys is theirs: identities, conversations, their messages, inbox
and outbox items, tickets, feedback, survey runs and answers, and tables added later. Tables
that point at a conversation by chat id instead of a foreign key (the widget's bubbles) are
listed in :data:`CHAT_KEYED` (the widget's bubbles, the e-mail store with its raw mails and,
through their foreign key, its attachments); Slack posts about a ticket sit in the outbox under
``ticket:<id>``.

Coverage is checked, not hoped for: :func:`uncovered` names every table that no path reaches
and is not declared free of customer data (:data:`NO_CUSTOMER_DATA`), and every text, JSON or
binary column that erasing would keep without a declaration (:data:`NOT_PERSONAL`). A test
asserts it is empty, so a new table or column with personal data fails until it is handled.

Erasing keeps rows (counts, timestamps, scores, statuses stay for reports) and removes the
person: free texts become ``[erased]``, names, e-mails and links are cleared, JSON payloads are
emptied, and platform ids (Telegram user and chat ids, widget visitor ids) are replaced by
random pseudonyms, so the person is a stranger if they write again.
"""

from __future__ import annotations

import base64
import secrets
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from storage.merge import chunks, merged_sources
from storage.models import Base, Customer, utcnow

ERASED = "[erased]"
#: Columns that share a personal-sounding name but hold keys the code writes itself (a survey
#: run's ``subject`` is ``ticket:<id>`` or ``campaign:<name>:<customer id>``, unique per
#: survey): nothing personal, and overwriting them would collide on the unique constraint.
MACHINE_KEYS = {("survey_runs", "subject")}
#: Tables tied to a conversation by its chat id instead of a foreign key: table -> (channel,
#: columns holding the chat id; "lower:" compares lower-cased, as e-mail addresses are).
CHAT_KEYED = {
    "web_chat_messages": ("web", ("chat_id",)),
    "email_messages": ("email", ("chat_id", "lower:sender")),
}
PSEUDONYMISED = ("external_id", "chat_id", "user_id", "message_id")
PERSONAL_TEXT = ("text", "subject", "body", "comment", "suggested_reply", "reply_text", "refs")
PERSONAL_FIELDS = ("display_name", "author", "email", "url", "phone", "name", "sender",
                   "filename")
#: Tables that hold nothing about a customer: configuration, staff, the knowledge base,
#: report aggregates (counts per day, no ids of people).
NO_CUSTOMER_DATA = frozenset({
    "admin_users", "admin_sessions", "api_tokens", "audit_log", "broadcasts", "kb_entries",
    "kb_revisions", "kb_state", "report_conversation_days", "report_rollup_offsets",
    "report_rollup_state", "survey_definitions", "web_secrets", "saved_replies",
    "agent_names",
    # the help center's visitors are anonymous: counts, votes and searches name nobody
    "help_article_stats", "help_votes", "help_searches",
})
#: Columns of customer tables that erasing keeps on purpose: codes, statuses, languages,
#: entry ids, staff ids; nothing that says who the customer is or what they wrote.
NOT_PERSONAL = {
    "customers": {"locale", "timezone"},
    "channel_identities": {"channel", "unreachable_reason"},
    "conversations": {"channel", "mode"},
    "customer_merges": {"actor", "reason", "moved", "undone_by"},
    "link_codes": {"code_hash"},
    "broadcast_recipients": {"channel", "locale", "status", "reason"},
    "inbound_events": {"channel", "event_id"},
    "tickets": {"channel", "status", "priority", "reason", "assignee"},
    "slack_threads": {"channel", "thread_ts"},
    "unanswered_questions": {"locale", "outcome", "best_entry_id", "resolved_entry_id",
                             "picked_entry_id"},
    "feedback": {"source", "language", "sentiment", "suggested_entry_id", "replied_by"},
    "messages": {"direction", "sender", "kind", "kb_entry_id"},
    "survey_runs": {"survey_id", "subject", "campaign", "channel", "locale", "agent", "status",
                    "question"},
    "ticket_sla_reminders": {"kind"},
    "ticket_sla_events": {"kind"},
    "ticket_notes": {"author", "source"},  # the staff member and the desk; the text is erased
    "outbox": {"order_key", "channel", "status", "receipt"},
    "survey_answers": {"survey_id", "question"},
    "web_chat_messages": {"client_id", "sender"},
    "email_messages": {"direction", "status", "reason"},
    "email_attachments": {"content_type"},
}
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
    while grew:  # rows found by chat id have children too (a mail's attachments)
        grew = False
        for table in Base.metadata.sorted_tables:
            grew |= await _follow_keys(session, table, found)
        grew |= await _chat_keyed(session, found)
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


async def _chat_keyed(session: AsyncSession, found: Rows) -> bool:
    """Rows that name one of the customer's chats in a column; True when any were new."""
    conversations = found.get("conversations", {}).values()
    grew = False
    for name, (channel, columns) in CHAT_KEYED.items():
        table = Base.metadata.tables.get(name)
        chats = [c["chat_id"] for c in conversations if c["channel"] == channel]
        if table is None or not chats:
            continue
        pk = _pk(table)
        assert pk is not None
        rows = found.setdefault(name, {})
        before = len(rows)
        for column in columns:
            lower = column.startswith("lower:")
            target = table.c[column.removeprefix("lower:")]
            key = func.lower(target) if lower else target
            for part in chunks([c.lower() for c in chats] if lower else chats):
                for row in await session.execute(select(table).where(key.in_(part))):
                    rows.setdefault(row._mapping[pk.name], dict(row._mapping))
        grew |= len(rows) > before
        if not rows:
            found.pop(name)
    return grew


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
    """Times as ISO text; bytes (raw mails, attachments) as base64, so nothing is left out."""
    return {k: _json_value(v) for k, v in row.items()}


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return {"base64": base64.b64encode(value).decode("ascii")}
    return value


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
    if (table, name) in MACHINE_KEYS or name in NOT_PERSONAL.get(table, ()):
        return _KEEP  # a declared code or status (messages.sender is "bot", not a person)
    if name in PSEUDONYMISED and isinstance(value, str):
        return pseudonyms.setdefault(value, f"erased-{secrets.token_hex(8)}")
    if isinstance(column.type, LargeBinary):  # raw mails, attachment bytes
        return None
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


def uncovered(metadata: MetaData = Base.metadata) -> list[str]:
    """What export and erase would miss: tables no path reaches that are not declared free of
    customer data, and kept text/JSON/binary columns of customer tables not declared
    non-personal. Empty when every table is accounted for (a test asserts it)."""
    reachable = _reachable(metadata)
    problems = [f"table {t.name}: not reachable from customers and not in NO_CUSTOMER_DATA"
                for t in metadata.sorted_tables
                if t.name not in reachable and t.name not in NO_CUSTOMER_DATA]
    for table in metadata.sorted_tables:
        if table.name not in reachable:
            continue
        for column in table.c:
            if _declared(table, column):
                continue
            sample = {} if isinstance(column.type, JSON) else "x"
            if _scrubbed(table.name, column, sample, {}) is _KEEP:
                problems.append(f"column {table.name}.{column.name}: kept by erase and not "
                                "in NOT_PERSONAL")
    return problems


def _declared(table: Table, column: Column[Any]) -> bool:
    if column.primary_key or column.foreign_keys or column.name.startswith("_"):
        return True
    if not isinstance(column.type, String | Text | JSON | LargeBinary):
        return True  # numbers, times, flags: counts and timestamps stay for reports
    return column.name in NOT_PERSONAL.get(table.name, set()) or (
        (table.name, column.name) in MACHINE_KEYS)


def _reachable(metadata: MetaData) -> set[str]:
    """Tables :func:`collect` visits: customers, anything with a foreign-key path to a visited
    table, the chat-keyed tables, and (by order key) the outbox."""
    seen = {"customers", "outbox", *CHAT_KEYED}
    grew = True
    while grew:
        grew = False
        for table in metadata.sorted_tables:
            if table.name not in seen and any(fk.column.table.name in seen
                                              for fk in table.foreign_keys):
                seen.add(table.name)
                grew = True
    return seen
