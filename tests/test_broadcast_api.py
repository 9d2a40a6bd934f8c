"""/api/v1/broadcasts and `crmbot broadcast …`: create, preview, send, pause, errors."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest

from bot.cli import main
from storage.db import create_engine
from storage.migrate import upgrade
from tests.admin_support import running
from tests.broadcast_support import seed_customers
from tests.conftest import make_settings

SPEC = {"name": "News", "messages": {"en": "Hello", "sv": "Hej"}}


async def test_rest_api(db_url: str) -> None:
    async with running(make_settings(db_url)) as r, aiohttp.ClientSession() as http:
        await seed_customers(r.core.engine, 4, channel="web")
        base = r.url + "/api/v1/broadcasts"
        async with http.post(base, json=SPEC, headers=r.h(r.agent)) as resp:
            assert resp.status == 403  # agents read, admins change
        async with http.post(base, json={"name": "x", "messages": {"de": "Hallo"}},
                             headers=r.h(r.admin)) as resp:
            assert resp.status == 422
            assert "not a shipped locale" in (await resp.json())["error"]["message"]
        async with http.post(base + "/preview", json=SPEC, headers=r.h(r.agent)) as resp:
            assert (await resp.json())["eligible"] == 4
        async with http.post(base, json=SPEC, headers=r.h(r.admin)) as resp:
            assert resp.status == 201
            created = await resp.json()
        assert created["status"] == "draft" and created["preview"]["eligible"] == 4
        one = f"{base}/{created['id']}"
        async with http.post(one + "/resume", headers=r.h(r.admin)) as resp:
            assert resp.status == 409
        async with http.post(one + "/send", json={"at": "2099-01-01T00:00:00Z"},
                             headers=r.h(r.admin)) as resp:
            assert (await resp.json())["status"] == "running"
        async with http.post(one + "/pause", headers=r.h(r.admin)) as resp:
            assert (await resp.json())["status"] == "paused"
        async with http.post(one + "/resend-uncertain", headers=r.h(r.admin)) as resp:
            assert (await resp.json())["status"] == "paused"  # nothing uncertain: unchanged
        async with http.get(one, headers=r.h(r.agent)) as resp:
            body = await resp.json()
        assert body["send_at"].startswith("2099") and set(body["progress"]) >= {
            "sent", "failed", "unreachable", "pending"}
        async with http.get(base + "/999", headers=r.h(r.agent)) as resp:
            assert resp.status == 404


async def test_cli(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                   capsys: pytest.CaptureFixture[str]) -> None:
    engine = create_engine(db_url)
    await upgrade(engine)
    await seed_customers(engine, 3, channel="telegram")
    await engine.dispose()
    monkeypatch.setenv("CRMBOT_DATABASE_URL", db_url)
    spec = tmp_path / "b.yaml"
    spec.write_text("name: Sale\nmessages: {en: Sale today}\nsegment: {channels: [telegram]}\n")
    assert await _cli("broadcast", "create", str(spec)) == 0
    assert "3 recipient(s)" in capsys.readouterr().out
    assert await _cli("broadcast", "preview", str(spec)) == 0
    assert capsys.readouterr().out.startswith("3 recipient(s)")
    assert await _cli("broadcast", "send", "1") == 0
    assert await _cli("broadcast", "send", "1") == 1
    assert "cannot send broadcast 1: it is running" in capsys.readouterr().err
    assert await _cli("broadcast", "status", "1", "--json") == 0
    status = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert status["status"] == "running"
    assert await _cli("broadcast", "cancel", "1") == 0
    assert await _cli("broadcast", "resend-uncertain", "1") == 1
    assert "cannot resend-uncertain broadcast 1: it is cancelled" in capsys.readouterr().err
    assert await _cli("broadcast", "status", "1", "--watch") == 0  # ends: cancelled is final
    assert "cancelled" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: Sale\nmessages: {en: ''}\n")
    assert await _cli("broadcast", "create", str(bad)) == 2
    assert "messages.en" in capsys.readouterr().err
    assert await _cli("broadcast", "create", "--text", "Hi", "--channel", "telegram") == 0


async def _cli(*argv: str) -> int:
    import asyncio

    return await asyncio.to_thread(main, list(argv))
