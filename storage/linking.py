"""One-time link codes: prove that two channel identities belong to one person.

``/link`` on one channel issues a code (8 characters from a 32-letter alphabet without look-alike
characters, shown as ``K7QM-4XPA``: 2^40 possibilities), valid for 10 minutes and once. Only its
SHA-256 is stored. Redeeming is one conditional UPDATE (``used_at IS NULL AND expires_at > now``),
so two processes cannot both use a code. Every failed attempt is recorded per channel identity
and more than :data:`MAX_FAILED` in :data:`FAILED_WINDOW` locks that identity out for a while:
with at most a handful of live codes, a guesser's chance per attempt is about 1 in 10^11.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models_identity import LinkAttempt, LinkCode

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
CODE_LENGTH = 8
CODE_TTL = timedelta(minutes=10)
MAX_FAILED = 5
FAILED_WINDOW = timedelta(minutes=15)
KEEP_HISTORY = timedelta(days=1)

Outcome = Literal["ok", "invalid", "limited"]


@dataclass(frozen=True, slots=True)
class Redeemed:
    outcome: Outcome
    customer_id: int | None = None
    identity_id: int | None = None
    retry_after: timedelta | None = None


def normalise(code: str) -> str | None:
    """'k7qm-4xpa' / 'K7QM 4XPA' -> 'K7QM4XPA'; None when it cannot be a code."""
    cleaned = "".join(ch for ch in code.upper() if ch not in " -_")
    if len(cleaned) != CODE_LENGTH or any(ch not in ALPHABET for ch in cleaned):
        return None
    return cleaned


def digest(code: str) -> str:
    return hashlib.sha256(code.encode("ascii")).hexdigest()


def display(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


async def issue_code(
    session: AsyncSession, customer_id: int, identity_id: int, now: datetime
) -> str:
    """A fresh code for this customer (earlier unused codes of this identity stop working)."""
    await session.execute(delete(LinkCode).where(
        (LinkCode.identity_id == identity_id) & LinkCode.used_at.is_(None)
        | (LinkCode.expires_at < now - KEEP_HISTORY)))
    await session.execute(delete(LinkAttempt).where(LinkAttempt.created_at < now - KEEP_HISTORY))
    code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    session.add(LinkCode(code_hash=digest(code), customer_id=customer_id,
                         identity_id=identity_id, created_at=now, expires_at=now + CODE_TTL))
    await session.flush()
    return display(code)


async def redeem_code(
    session: AsyncSession, code: str, identity_id: int, now: datetime
) -> Redeemed:
    """Use a code from ``identity_id``: whose customer it names, or why not."""
    failures = await _recent_failures(session, identity_id, now)
    if len(failures) >= MAX_FAILED:
        return Redeemed("limited", retry_after=min(failures) + FAILED_WINDOW - now)
    cleaned = normalise(code)
    row = None
    if cleaned is not None:
        result = await session.execute(
            update(LinkCode)
            .where(LinkCode.code_hash == digest(cleaned), LinkCode.used_at.is_(None),
                   LinkCode.expires_at > now)
            .values(used_at=now, used_by_identity_id=identity_id)
            .returning(LinkCode.customer_id, LinkCode.identity_id)
        )
        row = result.first()
    session.add(LinkAttempt(identity_id=identity_id, ok=row is not None, created_at=now))
    await session.flush()
    if row is None:
        return Redeemed("invalid")
    return Redeemed("ok", customer_id=int(row[0]), identity_id=int(row[1]))


async def _recent_failures(
    session: AsyncSession, identity_id: int, now: datetime
) -> list[datetime]:
    rows = await session.scalars(
        select(LinkAttempt.created_at).where(
            LinkAttempt.identity_id == identity_id,
            LinkAttempt.ok.is_(False),
            LinkAttempt.created_at > now - FAILED_WINDOW,
        ).order_by(LinkAttempt.created_at.desc()).limit(MAX_FAILED)
    )
    return list(rows.all())


async def live_codes(session: AsyncSession, now: datetime) -> int:
    """How many codes could be guessed right now (for the rate-limit reasoning and tests)."""
    count = await session.scalar(select(func.count()).select_from(LinkCode).where(
        LinkCode.used_at.is_(None), LinkCode.expires_at > now))
    return int(count or 0)
