"""Merging two customer records into one, and undoing it.

A merge is never automatic on weak evidence (a shared display name proves nothing): it happens
when the customer proves both channels are theirs (a one-time link code, storage/linking.py) or
when an agent decides (``crmbot customer merge``). It is generic over the schema: every table
with a ``customer_id`` column has its rows moved, so conversations, tickets, survey runs (and
with them their answers), channel identities and tables added later all follow. The merged-away
record stays, marked ``merged_into``, and a ``customer_merges`` row lists the primary keys of
every moved row and the fields the merge filled in, which is exactly what undo puts back.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Base, Customer, utcnow
from storage.models_identity import CustomerMerge
from storage.sql import is_postgres

PROFILE_FIELDS = ("display_name", "locale", "timezone")
MARKER = "merged_into"
CHUNK = 500


class MergeError(ValueError):
    """The merge or undo cannot be done; the message says why (nothing was changed)."""


def customer_tables() -> list[Table]:
    """Every table holding a ``customer_id`` (the ones a merge moves), in dependency order."""
    return [
        t for t in Base.metadata.sorted_tables
        if "customer_id" in t.c and t.name != "customers"
    ]


def _pk(table: Table) -> Any:
    columns = list(table.primary_key.columns)
    if len(columns) != 1:
        raise MergeError(f"table {table.name} needs a single-column primary key to be merged")
    return columns[0]


def chunks(ids: Sequence[Any]) -> Iterator[list[Any]]:
    for i in range(0, len(ids), CHUNK):
        yield list(ids[i:i + CHUNK])


async def _customer(session: AsyncSession, customer_id: int) -> Customer:
    query = select(Customer).where(Customer.id == customer_id)
    if is_postgres(session):
        query = query.with_for_update()
    customer = await session.scalar(query)
    if customer is None:
        raise MergeError(f"no customer {customer_id}")
    return customer


async def merge_customers(
    session: AsyncSession, target_id: int, source_id: int, *, actor: str, reason: str = "agent"
) -> CustomerMerge:
    """Fold customer ``source_id`` into ``target_id`` (in the caller's transaction)."""
    if target_id == source_id:
        raise MergeError("a customer cannot be merged into itself")
    first, second = sorted((target_id, source_id))  # same lock order in every process
    locked = {first: await _customer(session, first), second: await _customer(session, second)}
    target, source = locked[target_id], locked[source_id]
    for who in (target, source):
        if (who.attributes or {}).get(MARKER):
            raise MergeError(f"customer {who.id} was already merged into "
                             f"{who.attributes[MARKER]}; use that one")
        if (who.attributes or {}).get("erased"):
            raise MergeError(f"customer {who.id} was erased")
    moved: dict[str, list[Any]] = {}
    for table in customer_tables():
        pk = _pk(table)
        ids = list((await session.execute(
            select(pk).where(table.c.customer_id == source_id).order_by(pk))).scalars())
        for part in chunks(ids):
            await session.execute(
                update(table).where(pk.in_(part)).values(customer_id=target_id))
        if ids:
            moved[table.name] = ids
    filled = _fill_profile(target, source)
    source.attributes = {**(source.attributes or {}), MARKER: target_id}
    record = CustomerMerge(target_id=target_id, source_id=source_id, actor=actor[:200],
                           reason=reason[:64], moved=moved, filled=filled, created_at=utcnow())
    session.add(record)
    await session.flush()
    return record


def _fill_profile(target: Customer, source: Customer) -> dict[str, Any]:
    """Give the kept record what only the merged one knew (never overwrite what it has)."""
    filled: dict[str, Any] = {}
    for name in PROFILE_FIELDS:
        value = getattr(source, name)
        if getattr(target, name) is None and value is not None:
            setattr(target, name, value)
            filled[name] = value
    attributes = dict(target.attributes or {})
    extra = {k: v for k, v in (source.attributes or {}).items()
             if k not in attributes and k != MARKER}
    if "locale" not in filled:
        extra.pop("locale_source", None)  # the kept record's language choice stands
    if extra:
        target.attributes = {**attributes, **extra}
        filled["attributes"] = extra
    return filled


async def unmerge(session: AsyncSession, merge_id: int, *, actor: str) -> CustomerMerge:
    """Undo a merge: moved rows, and rows made since in moved conversations, go back."""
    record = await session.get(CustomerMerge, merge_id)
    if record is None:
        raise MergeError(f"no merge {merge_id}")
    if record.undone_at is not None:
        raise MergeError(f"merge {merge_id} was already undone")
    await _no_later_merges(session, record)
    target = await _customer(session, record.target_id)
    source = await _customer(session, record.source_id)
    moved = record.moved or {}
    tables = {t.name: t for t in customer_tables()}
    for name, ids in moved.items():
        table = tables.get(name)
        if table is None:
            continue
        pk = _pk(table)
        for part in chunks(ids):
            await session.execute(update(table).where(
                pk.in_(part), table.c.customer_id == target.id).values(customer_id=source.id))
    await _follow_conversations(session, tables, moved.get("conversations", []), target, source)
    _unfill_profile(target, record.filled or {})
    attributes = dict(source.attributes or {})
    attributes.pop(MARKER, None)
    source.attributes = attributes
    record.undone_at = utcnow()
    record.undone_by = actor[:200]
    await session.flush()
    return record


async def _no_later_merges(session: AsyncSession, record: CustomerMerge) -> None:
    involved = (record.target_id, record.source_id)
    later = (await session.scalars(
        select(CustomerMerge.id).where(
            CustomerMerge.id > record.id,
            CustomerMerge.undone_at.is_(None),
            CustomerMerge.target_id.in_(involved) | CustomerMerge.source_id.in_(involved),
        ).order_by(CustomerMerge.id.desc())
    )).all()
    if later:
        raise MergeError(
            f"merge {record.id} has later merges of the same customers; undo "
            f"{', '.join(map(str, later))} first (newest first)"
        )


async def _follow_conversations(
    session: AsyncSession, tables: dict[str, Table], conversation_ids: list[Any],
    target: Customer, source: Customer,
) -> None:
    """Tickets, survey runs ... created after the merge in a conversation that goes back."""
    for table in tables.values():
        if "conversation_id" not in table.c or not conversation_ids:
            continue
        for part in chunks(conversation_ids):
            await session.execute(update(table).where(
                table.c.conversation_id.in_(part), table.c.customer_id == target.id,
            ).values(customer_id=source.id))


def _unfill_profile(target: Customer, filled: dict[str, Any]) -> None:
    """Take back what the merge filled in, unless it was changed since."""
    for name in PROFILE_FIELDS:
        if name in filled and getattr(target, name) == filled[name]:
            setattr(target, name, None)
    extra = filled.get("attributes") or {}
    attributes = dict(target.attributes or {})
    for key, value in extra.items():
        if attributes.get(key) == value:
            attributes.pop(key)
    target.attributes = attributes


async def resolve_customer(session: AsyncSession, customer_id: int) -> int:
    """Follow ``merged_into`` marks to the record that is in use now."""
    seen: set[int] = set()
    current = customer_id
    while current not in seen:
        seen.add(current)
        customer = await session.get(Customer, current)
        if customer is None:
            break
        nxt = (customer.attributes or {}).get(MARKER)
        if not nxt:
            return current
        current = int(nxt)
    return current


async def merged_sources(session: AsyncSession, customer_id: int) -> list[int]:
    """Customers (transitively) merged into this one and not undone."""
    found: list[int] = []
    frontier = [customer_id]
    while frontier:
        rows = (await session.scalars(select(CustomerMerge.source_id).where(
            CustomerMerge.target_id.in_(frontier), CustomerMerge.undone_at.is_(None)))).all()
        frontier = [int(r) for r in rows if int(r) not in found and int(r) != customer_id]
        found.extend(frontier)
    return found
