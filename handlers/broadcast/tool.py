"""``crmbot broadcast create|preview|send|pause|resume|cancel|status|list``.

The CLI only writes to the database; the running bot (``crmbot run``) does the delivery, at
the channels' rate limits. ``status --watch`` follows a broadcast with a progress bar.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.dbtool import cli_id
from bot.dbtool import tool_sessions as _sessions
from handlers.broadcast import service
from handlers.broadcast.spec import BroadcastSpec, load_file, parse
from handlers.broadcast.store import TransitionError

T = TypeVar("T")
BAR = 30
FINAL = ("done", "cancelled")




def _with_db(settings: Settings, fn: Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]]
             ) -> T:
    async def go() -> T:
        async with _sessions(settings) as sessions:
            return await fn(sessions)

    return asyncio.run(go())


def _when(value: str) -> datetime:
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a time like 2026-12-01T09:00Z") from None
    if at.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{value!r} needs a time zone, e.g. 2026-12-01T09:00Z")
    return at


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    create = sub.add_parser("create", help="store a broadcast (draft) from FILE or --text")
    create.add_argument("file", nargs="?", type=Path, help="YAML/JSON spec (docs/broadcasts.md)")
    create.add_argument("--text", help="message text (default locale) instead of a file")
    create.add_argument("--name", help="name (with --text)")
    create.add_argument("--locale", default=None, help="locale of --text (default: en)")
    create.add_argument("--channel", action="append", help="only this channel (repeatable)")
    create.add_argument("--tag", action="append", help="only customers with this tag")
    create.set_defaults(func=cmd_create)
    prev = sub.add_parser("preview", help="how many customers a broadcast (ID or FILE) reaches")
    prev.add_argument("target", help="broadcast id or spec file")
    prev.set_defaults(func=cmd_preview)
    send = sub.add_parser("send", help="start sending (or schedule with --at)")
    send.add_argument("id", type=cli_id)
    send.add_argument("--at", type=_when, help="start time, ISO 8601 with zone")
    send.set_defaults(func=cmd_action, action="send")
    for action, text in (("pause", "pause a broadcast"), ("resume", "resume a broadcast"),
                         ("cancel", "cancel a broadcast"),
                         ("resend-uncertain", "send again to recipients left uncertain by a "
                          "crash (they may get it twice)")):
        p = sub.add_parser(action, help=text)
        p.add_argument("id", type=cli_id)
        p.set_defaults(func=cmd_action, action=action)
    st = sub.add_parser("status", help="progress: sent / failed / unreachable / pending")
    st.add_argument("id", type=cli_id)
    st.add_argument("--watch", action="store_true", help="follow until done")
    st.add_argument("--json", action="store_true", help="machine-readable")
    st.add_argument("--interval", type=float, default=1.0, help=argparse.SUPPRESS)
    st.set_defaults(func=cmd_status)
    sub.add_parser("list", help="recent broadcasts").set_defaults(func=cmd_list)


def spec_from_args(args: argparse.Namespace) -> BroadcastSpec:
    if args.file is not None and args.text:
        raise ValueError("give FILE or --text, not both")
    if args.file is not None:
        return load_file(args.file)
    if not args.text:
        raise ValueError("give a spec FILE or --text")
    locale = args.locale or "en"
    segment: dict[str, Any] = {}
    if args.channel:
        segment["channels"] = args.channel
    if args.tag:
        segment["tags"] = args.tag
    return parse({"name": args.name or args.text[:60], "messages": {locale: args.text},
                  "default_locale": locale, "segment": segment})


def cmd_create(args: argparse.Namespace, settings: Settings) -> int:
    spec = spec_from_args(args)

    async def go(sessions: async_sessionmaker[AsyncSession]) -> tuple[dict[str, Any], Any]:
        row = await service.create(sessions, spec, "cli")
        return row, await service.preview_spec(sessions, settings, spec)

    row, found = _with_db(settings, go)
    print(f"broadcast {row['id']} created (draft): {row['name']!r}; "
          f"{found.eligible} recipient(s) now ({_breakdown(found.as_dict())})")
    print(f"start it with: crmbot broadcast send {row['id']}")
    return 0


def cmd_preview(args: argparse.Namespace, settings: Settings) -> int:
    target: str = args.target

    async def go(sessions: async_sessionmaker[AsyncSession]) -> Any:
        if target.isdigit():
            return await service.preview_id(sessions, settings, int(target))
        return await service.preview_spec(sessions, settings, load_file(Path(target)))

    try:
        found = _with_db(settings, go)
    except LookupError as exc:
        print(f"crmbot: {exc}", file=sys.stderr)
        return 1
    data = found.as_dict()
    print(f"{found.eligible} recipient(s): {_breakdown(data)}")
    print(f"excluded: {found.no_consent} without consent, {found.unreachable} unreachable")
    return 0


def _breakdown(data: dict[str, Any]) -> str:
    parts = [f"{k} {v}" for k, v in sorted(data["by_channel"].items())]
    parts += [f"{k} {v}" for k, v in sorted(data["by_locale"].items())]
    return ", ".join(parts) or "nobody"


def cmd_action(args: argparse.Namespace, settings: Settings) -> int:
    async def go(sessions: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
        return await service.act(sessions, args.id, args.action, send_at=getattr(args, "at", None))

    try:
        row = _with_db(settings, go)
    except (LookupError, TransitionError) as exc:
        print(f"crmbot: {exc}", file=sys.stderr)
        return 1
    extra = f" (starts {row['send_at']})" if args.action == "send" and row["send_at"] else ""
    print(f"broadcast {row['id']} is {row['status']}{extra}")
    return 0


def progress_line(data: dict[str, Any]) -> str:
    p = data["progress"]
    total = p["total"] or 1
    done = total - p["pending"]
    filled = int(BAR * done / total)
    return (f"[{'#' * filled}{'.' * (BAR - filled)}] {100 * done // total:3d}% {data['status']:9s} "
            f"sent {p['sent']} failed {p['failed']} unreachable {p['unreachable']} "
            f"pending {p['pending']} opted-out {p['opted_out']} uncertain {p['uncertain']}"
            f"{'' if data['recipients_listed'] else ' (still listing recipients)'}")


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    async def go(sessions: async_sessionmaker[AsyncSession]) -> int:
        tty = sys.stdout.isatty()
        while True:
            data = await service.status(sessions, args.id)
            if args.json:
                print(json.dumps(data))
            else:
                print(("\r" if tty and args.watch else "") + progress_line(data),
                      end="" if tty and args.watch else "\n", flush=True)
            if not args.watch or data["status"] in FINAL:
                if tty and args.watch:
                    print()
                return 0
            started = time.monotonic()
            await asyncio.sleep(max(0.0, args.interval - (time.monotonic() - started)))

    try:
        return _with_db(settings, go)
    except LookupError as exc:
        print(f"crmbot: {exc}", file=sys.stderr)
        return 1


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    for row in _with_db(settings, service.listing):
        print(f"{row['id']:>5}  {row['status']:9s}  {row['created_at'][:16]}  {row['name']}")
    return 0
