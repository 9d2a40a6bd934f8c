"""``crmbot events dead|retry``: see the inbound events that failed every attempt, and process
one again once its cause is fixed (bot/deadletter.py, docs/operations.md)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from bot.config import Settings
from bot.dbtool import cli_id, tool_sessions
from storage import deadletters


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dead = sub.add_parser("dead", help="list dead letters, newest first")
    dead.add_argument("--limit", type=int, default=50)
    dead.add_argument("--json", action="store_true", help="one JSON object per line")
    dead.set_defaults(func=cmd_dead)
    retry = sub.add_parser("retry", help="process a dead letter again (after a fix)")
    retry.add_argument("event", type=cli_id, metavar="ID")
    retry.set_defaults(func=cmd_retry)


def cmd_dead(args: argparse.Namespace, settings: Settings) -> int:
    async def go() -> list[dict[str, Any]]:
        async with tool_sessions(settings) as sessions:
            rows = await deadletters.listing(sessions, max(1, args.limit))
        return [
            {"id": r.id, "channel": r.channel, "event_id": r.event_id,
             "conversation_id": r.conversation_id, "attempts": r.attempts,
             "dead_at": r.dead_at.isoformat() if r.dead_at else None, "error": r.error}
            for r in rows
        ]

    rows = asyncio.run(go())
    for row in rows:
        if args.json:
            print(json.dumps(row, ensure_ascii=False))
        else:
            print(f"{row['id']}\t{row['dead_at']}\t{row['channel']}\tconversation "
                  f"{row['conversation_id']}\t{row['attempts']} attempts\t{row['error']}")
    if not rows and not args.json:
        print("no dead letters")
    return 0


def cmd_retry(args: argparse.Namespace, settings: Settings) -> int:
    async def go() -> bool:
        async with tool_sessions(settings) as sessions:
            return await deadletters.reopen(sessions, args.event)

    if not asyncio.run(go()):
        print(f"crmbot: event {args.event} is not a dead letter", file=sys.stderr)
        return 1
    print(f"event {args.event} is pending again; the running bot processes it within seconds")
    return 0
