"""Saved replies: canned answers an agent sends by name (``!reply :refund_ok`` in Slack, the
REST API or the admin UI), one text per locale, with placeholders filled at send time
(handlers/tickets/staff.py): ``{name}`` the customer's name, ``{ticket}`` the ticket number,
``{hours}`` when the team answers (business hours, on the customer's clock)."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import String, Text, UniqueConstraint, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, BigId, utcnow

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
PLACEHOLDERS = ("name", "ticket", "hours")


class SavedReply(Base):
    __tablename__ = "saved_replies"
    __table_args__ = (UniqueConstraint("name", "locale"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    locale: Mapped[str] = mapped_column(String(12))
    text: Mapped[str] = mapped_column(Text)
    updated_by: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


def check(name: str, text: str) -> str | None:
    """Why this name or text cannot be saved, or None."""
    if not NAME_RE.match(name):
        return "name: lower-case letters, digits, _ and -, at most 64 (e.g. refund_ok)"
    if not text.strip():
        return "text: must not be empty"
    unknown = set(re.findall(r"{(\w*)}", text)) - set(PLACEHOLDERS)
    if unknown:
        return (f"text: unknown placeholder(s) {sorted(unknown)}; "
                "use {name}, {ticket}, {hours}")
    return None


async def listing(session: AsyncSession) -> list[SavedReply]:
    return list((await session.scalars(
        select(SavedReply).order_by(SavedReply.name, SavedReply.locale))).all())


async def find(
    session: AsyncSession, name: str, locale: str, fallback: str
) -> SavedReply | None:
    """The reply in ``locale``, else in the default locale ``fallback``."""
    rows = {r.locale: r for r in await session.scalars(
        select(SavedReply).where(SavedReply.name == name,
                                 SavedReply.locale.in_({locale, fallback})))}
    return rows.get(locale) or rows.get(fallback)


async def save(
    session: AsyncSession, name: str, locale: str, text: str, actor: str | None
) -> SavedReply:
    row = await session.scalar(select(SavedReply).where(
        SavedReply.name == name, SavedReply.locale == locale))
    if row is None:
        row = SavedReply(name=name, locale=locale, text=text)
        session.add(row)
    row.text, row.updated_by, row.updated_at = text, actor, utcnow()
    await session.flush()
    return row


async def remove(session: AsyncSession, name: str, locale: str) -> bool:
    result = await session.execute(delete(SavedReply).where(
        SavedReply.name == name, SavedReply.locale == locale))
    return bool(getattr(result, "rowcount", 0))


def fill(text: str, values: dict[str, str]) -> str:
    """Placeholders replaced; anything else in braces stays as written."""
    return re.sub(r"{(\w+)}", lambda m: values.get(m.group(1), m.group(0)), text)
