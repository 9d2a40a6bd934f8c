"""Automatic assignment of new tickets (handlers/tickets/assignment.py): rules, shifts."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.compose import build_core
from bot.config import ConfigError
from bot.core import Core
from bot.desk import DeskEvent, DeskPost, NullDesk
from handlers.tickets.assignment_rules import parse_rules
from storage.models import Ticket
from tests.conftest import make_settings
from tests.test_conversation import Chat

OPEN_ALWAYS = "\n".join(["teams:", "  default:", "    timezone: Europe/Riga", "    hours:",
                         *[f'      {d}: "00:00-24:00"' for d in
                           ("mon", "tue", "wed", "thu", "fri", "sat", "sun")],
                         "  closed:", "    timezone: Europe/Riga", "    hours: {}", ""])
_chats = itertools.count(1)


@dataclass
class ClaimDesk(NullDesk):
    claims: list[tuple[int, str]] = field(default_factory=list)

    def handle(self, event: DeskEvent) -> list[DeskPost]:
        if event.kind == "claimed" and event.ticket is not None:
            self.claims.append((event.ticket.id, event.by))
        return []


async def _core(db_url: str, engine: AsyncEngine, tmp_path: Path, rules: str,
                mode: str = "least_open") -> tuple[Core, ClaimDesk]:
    hours = tmp_path / "hours.yaml"
    hours.write_text(OPEN_ALWAYS, encoding="utf-8")
    core = build_core(make_settings(db_url, assign_rules=rules, assign_mode=mode,
                                    business_hours_file=hours), engine=engine)
    await core.prepare()
    desk = ClaimDesk()
    core.set_desk(desk)
    return core, desk


async def _tickets(core: Core) -> dict[int, str | None]:
    async with core.sessions() as s:
        return {t.id: t.assignee for t in (await s.scalars(select(Ticket))).all()}


@pytest.fixture
async def rules_core(db_url: str, engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[
        tuple[Core, ClaimDesk]]:
    rules = ('[{"agents": ["U0SV"], "locales": ["sv"]},'
             ' {"agents": ["U0LATE"], "locales": ["lv"], "team": "closed"},'
             ' {"agents": ["U0A", "U0B", "U0C"]}]')
    core, desk = await _core(db_url, engine, tmp_path, rules)
    yield core, desk


async def test_new_tickets_go_to_the_least_loaded_agent_on_shift(
        rules_core: tuple[Core, ClaimDesk]) -> None:
    core, desk = rules_core
    for _ in range(4):
        assert "#" in (await Chat(core, f"c{next(_chats)}").say("/human"))[0]
    assert await _tickets(core) == {1: "U0A", 2: "U0B", 3: "U0C", 4: "U0A"}
    assert desk.claims == [(1, "U0A"), (2, "U0B"), (3, "U0C"), (4, "U0A")]
    async with core.sessions() as s:
        first = await s.get(Ticket, 1)
    assert first is not None and first.status == "claimed" and first.claimed_at is not None


async def test_language_rules_and_closed_shifts(rules_core: tuple[Core, ClaimDesk]) -> None:
    core, _ = rules_core
    swede, latvian = Chat(core, "sv-1"), Chat(core, "lv-1")
    await swede.say("/lang sv")
    await swede.say("/human")
    await latvian.say("/lang lv")
    await latvian.say("/human")
    # the Latvian rule's team is closed: that ticket waits to be claimed
    assert await _tickets(core) == {1: "U0SV", 2: None}


async def test_round_robin_ignores_load(db_url: str, engine: AsyncEngine, tmp_path: Path) -> None:
    core, _ = await _core(db_url, engine, tmp_path, '[{"agents": ["U0A", "U0B"]}]',
                          "round_robin")
    for _ in range(3):
        await Chat(core, f"rr{next(_chats)}").say("/human")
    assert list((await _tickets(core)).values()) == ["U0A", "U0B", "U0A"]


def test_bad_rules_are_a_start_up_error(db_url: str) -> None:
    for raw, fragment in (("[{", "CRMBOT_ASSIGN_RULES"), ('[{"agents": []}]', "0.agents"),
                          ('[{"agents": ["U1"], "colour": "red"}]', "colour"),
                          ('{"agents": ["U1"]}', "CRMBOT_ASSIGN_RULES")):
        with pytest.raises(ConfigError, match=fragment):
            build_core(make_settings(db_url, assign_rules=raw))
    assert parse_rules("")[:1] == ()
