"""Widget session tokens: ``<session id>.<HMAC-SHA256 signature>``, checked in constant time.

A browser gets a token on its first connection and keeps it in localStorage; it is the only
credential of an anonymous visitor, so it is unguessable (128 random bits) and unforgeable
without the server secret. The secret comes from CRMBOT_WIDGET_SECRET or, when unset, is
generated once and stored in the database, so tokens survive restarts and every process of a
PostgreSQL deployment accepts them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import utcnow
from storage.models_feedback import WebSecret
from storage.sql import dialect_insert

SECRET_NAME = "widget_secret"
_SESSION = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class TokenSigner:
    """Issues and verifies session tokens with one secret."""

    def __init__(self, secret: str) -> None:
        self._key = secret.encode("utf-8")

    def _signature(self, session_id: str) -> str:
        mac = hmac.new(self._key, b"crmbot-widget-v1:" + session_id.encode("ascii"),
                       hashlib.sha256)
        return _b64(mac.digest())

    def issue(self) -> tuple[str, str]:
        """A new (session id, token) pair."""
        session_id = secrets.token_urlsafe(16)
        return session_id, f"{session_id}.{self._signature(session_id)}"

    def verify(self, token: str) -> str | None:
        """The session id of a genuine token, else None (never raises on garbage)."""
        session_id, dot, signature = token.partition(".")
        if not dot or not _SESSION.match(session_id):
            return None
        expected = self._signature(session_id)
        if not hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8")):
            return None
        return session_id


async def load_secret(sessions: async_sessionmaker[AsyncSession], configured: str | None) -> str:
    """The configured secret, else the stored one, else a new one stored race-free."""
    if configured:
        return configured
    async with sessions.begin() as session:
        await session.execute(
            dialect_insert(session)(WebSecret.__table__)
            .values(name=SECRET_NAME, value=secrets.token_urlsafe(32), created_at=utcnow())
            .on_conflict_do_nothing(index_elements=["name"])
        )
        value = await session.scalar(select(WebSecret.value).where(WebSecret.name == SECRET_NAME))
    if not value:
        raise RuntimeError("widget secret could not be stored")
    return str(value)
