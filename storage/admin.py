"""Accounts, API tokens, browser sessions and the audit log (repository functions).

A token or session secret is 256 random bits; only its SHA-256 is stored, which is safe for
high-entropy secrets and lets a lookup be one indexed query. Passwords are low-entropy, so they
get scrypt (stdlib, memory-hard) with a per-user salt; hashing runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import utcnow
from storage.models_admin import AdminSession, AdminUser, ApiToken, AuditLog

ROLES = ("admin", "agent")
TOKEN_PREFIX = "crm_"
MIN_PASSWORD = 10
SESSION_TTL = timedelta(hours=12)
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_TOUCH_EVERY = timedelta(minutes=1)


def new_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")


# --- audit --------------------------------------------------------------------------------


async def audit(
    session: AsyncSession, actor: str, action: str, target: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Record one admin action in the caller's transaction (so it exists iff the action does)."""
    session.add(AuditLog(actor=actor, action=action, target=target, detail=detail or {},
                         created_at=utcnow()))


async def list_audit(
    session: AsyncSession, *, limit: int = 50, before_id: int | None = None
) -> list[AuditLog]:
    stmt = select(AuditLog).order_by(AuditLog.id.desc()).limit(limit)
    if before_id is not None:
        stmt = stmt.where(AuditLog.id < before_id)
    return list((await session.scalars(stmt)).all())


# --- API tokens ---------------------------------------------------------------------------


async def create_token(
    session: AsyncSession, name: str, role: str, created_by: str
) -> tuple[ApiToken, str]:
    """A new token; the plain secret is returned once and never stored."""
    _check_role(role)
    name = name.strip()
    if not name or len(name) > 100:
        raise ValueError("token name must be 1-100 characters")
    secret = new_secret()
    row = ApiToken(name=name, role=role, token_hash=hash_secret(secret),
                   prefix=secret[: len(TOKEN_PREFIX) + 4], created_by=created_by,
                   created_at=utcnow())
    session.add(row)
    await session.flush()
    await audit(session, created_by, "token.create", f"token:{row.id}",
                {"name": name, "role": role})
    return row, secret


async def list_tokens(session: AsyncSession) -> list[ApiToken]:
    return list((await session.scalars(select(ApiToken).order_by(ApiToken.id))).all())


async def revoke_token(session: AsyncSession, token_id: int, actor: str) -> bool:
    """Revoke a token and end every browser session signed in with it."""
    row = await session.get(ApiToken, token_id)
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    await session.execute(delete(AdminSession).where(AdminSession.token_id == token_id))
    await audit(session, actor, "token.revoke", f"token:{token_id}", {"name": row.name})
    return True


async def find_token(session: AsyncSession, secret: str) -> ApiToken | None:
    """The live token with this secret (last use is noted at most once a minute)."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    row = await session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_secret(secret)))
    if row is None or row.revoked_at is not None:
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at > _TOUCH_EVERY:
        await session.execute(
            update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now)
        )
    return row


# --- users --------------------------------------------------------------------------------


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, **_SCRYPT)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}$" \
        f"{b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt),
                             n=int(n), r=int(r), p=int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, base64.b64decode(digest))


_DUMMY_HASH = hash_password("not a real password")


async def create_user(
    session: AsyncSession, name: str, role: str, password: str, actor: str
) -> AdminUser:
    _check_role(role)
    name = name.strip()
    if not name or len(name) > 100 or any(c.isspace() for c in name):
        raise ValueError("user name must be 1-100 characters without spaces")
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"password must be at least {MIN_PASSWORD} characters")
    if await session.scalar(select(AdminUser.id).where(AdminUser.name == name)) is not None:
        raise ValueError(f"user {name!r} already exists")
    hashed = await asyncio.to_thread(hash_password, password)
    row = AdminUser(name=name, role=role, password_hash=hashed, created_at=utcnow())
    session.add(row)
    await session.flush()
    await audit(session, actor, "user.create", f"user:{name}", {"role": role})
    return row


async def list_users(session: AsyncSession) -> list[AdminUser]:
    return list((await session.scalars(select(AdminUser).order_by(AdminUser.name))).all())


async def authenticate(session: AsyncSession, name: str, password: str) -> AdminUser | None:
    """The enabled user with this password; the work is the same when the name is unknown."""
    row = await session.scalar(select(AdminUser).where(AdminUser.name == name.strip()))
    stored = row.password_hash if row is not None else _DUMMY_HASH
    ok = await asyncio.to_thread(verify_password, password, stored)
    if row is None or not ok or row.disabled_at is not None:
        return None
    return row


# --- browser sessions ---------------------------------------------------------------------


async def create_session(
    session: AsyncSession, actor: str, role: str, *, user_id: int | None = None,
    token_id: int | None = None, ttl: timedelta = SESSION_TTL,
) -> tuple[str, AdminSession]:
    """A new browser session; returns (cookie secret, row)."""
    secret = secrets.token_urlsafe(32)
    now = utcnow()
    row = AdminSession(id_hash=hash_secret(secret), actor=actor, role=role,
                       csrf=secrets.token_urlsafe(32), user_id=user_id, token_id=token_id,
                       created_at=now, expires_at=now + ttl)
    session.add(row)
    await session.execute(delete(AdminSession).where(AdminSession.expires_at < now))
    return secret, row


async def load_session(session: AsyncSession, secret: str) -> AdminSession | None:
    if not secret or len(secret) > 200:
        return None
    row = await session.get(AdminSession, hash_secret(secret))
    if row is None or row.expires_at < utcnow():
        return None
    return row


async def end_session(session: AsyncSession, secret: str) -> None:
    await session.execute(delete(AdminSession).where(AdminSession.id_hash == hash_secret(secret)))


def expires_in(row: AdminSession) -> datetime:
    return row.expires_at
