"""``crmbot token …`` and ``crmbot user …`` against a real SQLite database."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from bot.cli import main
from storage import admin as repo
from storage.db import create_engine, session_factory


def test_token_create_list_revoke_and_user_create(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/cli.db"
    monkeypatch.setenv("CRMBOT_DATABASE_URL", url)
    assert main(["token", "create", "--role", "agent", "--name", "ci bot"]) == 0
    secret = capsys.readouterr().out.strip()
    assert secret.startswith("crm_") and len(secret) > 40
    assert main(["token", "list"]) == 0
    listing = capsys.readouterr().out
    assert "ci bot" in listing and "active" in listing and secret not in listing
    assert main(["token", "revoke", "1"]) == 0
    assert main(["token", "revoke", "1"]) == 1
    capsys.readouterr()
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["user", "create", "carol", "--role", "admin"]) == 2
    assert "at least 10" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert main(["user", "create", "carol", "--role", "admin"]) == 0

    async def check() -> None:
        engine = create_engine(url)
        async with session_factory(engine)() as session:
            assert await repo.find_token(session, secret) is None
            assert await repo.authenticate(session, "carol", "a long enough password")
            assert await repo.authenticate(session, "carol", "wrong") is None
            actions = [a.action for a in await repo.list_audit(session)]
            assert actions == ["user.create", "token.revoke", "token.create"]
        await engine.dispose()

    asyncio.run(check())
