"""Accounts and tokens behind ``crmbot token …`` and ``crmbot user …`` (same DB as the server)."""

from __future__ import annotations

import getpass
import sys
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.dbtool import in_transaction as _in_transaction
from storage import admin as repo

T = TypeVar("T")
CLI_ACTOR = "cli"




async def create_token(settings: Settings, role: str, name: str) -> tuple[int, str]:
    async def work(session: AsyncSession) -> tuple[int, str]:
        row, secret = await repo.create_token(session, name, role, CLI_ACTOR)
        return row.id, secret

    return await _in_transaction(settings, work)


async def list_tokens(settings: Settings) -> list[str]:
    async def work(session: AsyncSession) -> list[str]:
        lines = []
        for t in await repo.list_tokens(session):
            state = "revoked" if t.revoked_at else "active"
            used = t.last_used_at.strftime("%Y-%m-%d %H:%M") if t.last_used_at else "never"
            lines.append(f"{t.id:<5} {t.role:<6} {state:<8} {t.prefix}…  last used {used:<16}  "
                         f"{t.name}")
        return lines

    return await _in_transaction(settings, work)


async def revoke_token(settings: Settings, token_id: int) -> bool:
    async def work(session: AsyncSession) -> bool:
        return await repo.revoke_token(session, token_id, CLI_ACTOR)

    return await _in_transaction(settings, work)


async def create_user(settings: Settings, name: str, role: str, password: str) -> int:
    async def work(session: AsyncSession) -> int:
        return (await repo.create_user(session, name, role, password, CLI_ACTOR)).id

    return await _in_transaction(settings, work)


async def list_users(settings: Settings) -> list[str]:
    async def work(session: AsyncSession) -> list[str]:
        return [f"{u.name:<24} {u.role:<6} {'disabled' if u.disabled_at else 'active'}"
                for u in await repo.list_users(session)]

    return await _in_transaction(settings, work)


def read_password() -> str:
    """Prompt twice on a terminal; otherwise read the first line of standard input."""
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            raise ValueError("the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")
