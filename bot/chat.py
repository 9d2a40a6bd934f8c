"""``crmbot chat``: a conversation with the bot in the terminal, through the real core."""

from __future__ import annotations

import asyncio
import sys
import uuid
from concurrent.futures import Future
from typing import TextIO

from sqlalchemy import select

from bot import language
from bot.channels.terminal import CHAT_BANNER, TerminalChannel
from bot.compose import build_core
from bot.config import Settings
from bot.core import Core
from storage.models import Conversation


async def chat(
    settings: Settings,
    *,
    locale: str | None,
    name: str | None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    chat_id: str | None = None,
    first_line: Future[str] | None = None,
) -> None:
    """Read lines, feed them to the core, print the bot's replies; stop at end of input.

    ``first_line``: the first line, already being read after an early prompt (bot/cli.py).
    """
    stdin = stdin or sys.stdin
    out = stdout or sys.stdout
    core = build_core(settings)
    channel = TerminalChannel(out)
    core.registry.add(channel)
    chat_id = chat_id or f"local-{uuid.uuid4().hex[:12]}"
    try:
        await core.prepare(warm_up=False)
        # The language models (~0.5 s) load while the user types the first line.
        warming = asyncio.create_task(asyncio.to_thread(language.warm_up))
        try:
            await _converse(core, channel, stdin, out, chat_id, name, locale, first_line)
        finally:
            await warming
    finally:
        await core.close()


async def _converse(
    core: Core, channel: TerminalChannel, stdin: TextIO, out: TextIO, chat_id: str,
    name: str | None, locale: str | None, first_line: Future[str] | None,
) -> None:
    interactive, told = stdin.isatty(), False
    if interactive and first_line is None:
        out.write(CHAT_BANNER)
    while True:
        if first_line is not None:  # prompted early; the line may already be typed
            line, first_line = await asyncio.wrap_future(first_line), None
        else:
            if interactive:
                out.write("you> ")
                out.flush()
            line = await asyncio.to_thread(stdin.readline)
        if not line:
            break
        if not line.strip():
            continue
        message = channel.to_inbound(chat_id, line, uuid.uuid4().hex, name, locale)
        result = await core.ingest(message)
        await core.processor.process_conversation(result.conversation_id)
        await core.outbox.drain()
        if not told and await _handed_over(core, result.conversation_id):
            out.write(NO_DESK)
            told = True


#: Said once when a terminal conversation is handed to people: nobody is at a desk here.
NO_DESK = ("(crmbot chat: no staff desk is connected to the terminal, so nobody will answer "
           "this case here; the ticket is stored and shows in the admin UI. `crmbot run` with "
           "Slack set up hands cases to your team: docs/channels/slack.md. Type /bot to talk "
           "to the bot again.)\n")


async def _handed_over(core: Core, conversation_id: int) -> bool:
    async with core.sessions() as session:
        mode = await session.scalar(
            select(Conversation.mode).where(Conversation.id == conversation_id))
    return mode == "human"
