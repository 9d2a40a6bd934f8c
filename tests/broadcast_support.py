"""Seeding many opted-in customers quickly (bulk INSERTs), for the broadcast e2e test and
bench/broadcast.py. Customer ``i`` chats in private chat ``first_chat + i``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.consent import with_consent
from storage.models import ChannelIdentity, Conversation, Customer, utcnow

LOCALES = ("en", "sv", "lv")


async def seed_customers(
    engine: AsyncEngine, n: int, *, channel: str = "telegram", first_chat: int = 10_000_000,
    batch: int = 5000,
) -> list[int]:
    """Insert ``n`` consenting customers with one identity and conversation each; chat ids."""
    now = utcnow()
    attrs = with_consent({}, True, "import", now)
    chats = [first_chat + i for i in range(n)]
    async with engine.begin() as conn:
        for start in range(0, n, batch):
            part = range(start + 1, min(n, start + batch) + 1)
            customers: list[dict[str, Any]] = [
                {"id": i, "display_name": f"Customer {i}", "locale": LOCALES[i % 3],
                 "attributes": attrs, "created_at": now, "last_contact_at": now} for i in part]
            await conn.execute(insert(Customer), customers)
            await conn.execute(insert(ChannelIdentity), [
                {"id": i, "customer_id": i, "channel": channel,
                 "external_id": str(first_chat + i - 1), "created_at": now} for i in part])
            await conn.execute(insert(Conversation), [
                {"id": i, "customer_id": i, "identity_id": i, "channel": channel,
                 "chat_id": str(first_chat + i - 1), "mode": "bot", "state": {},
                 "created_at": now} for i in part])
    if engine.dialect.name == "postgresql":
        async with engine.begin() as conn:
            from sqlalchemy import text

            for table in ("customers", "channel_identities", "conversations"):
                await conn.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {n})"))
    return chats
