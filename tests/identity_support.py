"""Helpers for the identity tests: customers on several channels of one core, a recording desk."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any

from bot.core import Core
from bot.desk import DeskEvent, DeskPost, NullDesk
from bot.messages import InboundMessage
from tests.helpers import RecordingChannel

_ids = itertools.count()
CODE = re.compile(r"\b([2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4})\b")


class Person:
    """One customer account on one channel: say something, get the bot's replies back."""

    def __init__(self, core: Core, channel: RecordingChannel, user: str,
                 name: str | None = None) -> None:
        self.core, self.channel, self.user, self.name = core, channel, user, name

    async def say(self, text: str, **raw: Any) -> list[str]:
        before = len(self.channel.sent)
        message = InboundMessage(
            channel=self.channel.name, event_id=f"ev{next(_ids)}", user_id=self.user,
            chat_id=self.user, text=text, kind="command" if text.startswith("/") else "text",
            display_name=self.name, raw=raw,
        )
        result = await self.core.ingest(message)
        await self.core.processor.process_conversation(result.conversation_id)
        await self.core.outbox.drain()
        return [m.text for _, m in self.channel.sent[before:] if m.chat_id == self.user]


def channels(core: Core, *names: str) -> list[RecordingChannel]:
    found = []
    for name in names:
        channel = RecordingChannel(name=name)
        core.registry.add(channel)
        found.append(channel)
    return found


def code_in(replies: list[str]) -> str:
    for text in replies:
        match = CODE.search(text)
        if match:
            return match.group(1)
    raise AssertionError(f"no link code in {replies!r}")


@dataclass
class RecordingDesk(NullDesk):
    """Remembers which ticket each customer message was relayed to."""

    wrote: list[tuple[int, int, str]] = field(default_factory=list)
    escalations: list[int] = field(default_factory=list)

    def handle(self, event: DeskEvent) -> list[DeskPost]:
        assert event.ticket is not None or event.kind == "dead_letter"
        if event.kind == "escalated" and event.ticket is not None:
            self.escalations.append(event.ticket.id)
        if event.kind == "customer_wrote" and event.ticket is not None:
            self.wrote.append((event.ticket.id, event.case.conversation_id, event.text))
        return []
