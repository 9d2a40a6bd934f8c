"""``crmbot replies list|set|delete``: the saved replies staff send as ``:name``."""

from __future__ import annotations

import argparse
import asyncio
import sys

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.dbtool import in_transaction
from bot.i18n import SUPPORTED
from storage import saved_replies as repo


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub.add_parser("list", help="every saved reply").set_defaults(func=cmd_list)
    put = sub.add_parser("set", help="create or change one ({name}, {ticket}, {hours} work)")
    put.add_argument("name")
    put.add_argument("locale", choices=sorted(SUPPORTED))
    put.add_argument("text")
    put.set_defaults(func=cmd_set)
    rm = sub.add_parser("delete", help="delete one")
    rm.add_argument("name")
    rm.add_argument("locale", choices=sorted(SUPPORTED))
    rm.set_defaults(func=cmd_delete)


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    async def work(session: AsyncSession) -> list[tuple[str, str, str]]:
        return [(r.name, r.locale, r.text) for r in await repo.listing(session)]

    rows = asyncio.run(in_transaction(settings, work))
    for name, locale, text in rows:
        print(f":{name}\t{locale}\t{text}")
    if not rows:
        print("no saved replies; add one with `crmbot replies set NAME LOCALE TEXT`")
    return 0


def cmd_set(args: argparse.Namespace, settings: Settings) -> int:
    problem = repo.check(args.name, args.text)
    if problem is not None:
        raise ValueError(problem)

    async def work(session: AsyncSession) -> None:
        await repo.save(session, args.name, args.locale, args.text.strip(), "cli")

    asyncio.run(in_transaction(settings, work))
    print(f"saved :{args.name} ({args.locale})")
    return 0


def cmd_delete(args: argparse.Namespace, settings: Settings) -> int:
    async def work(session: AsyncSession) -> bool:
        return await repo.remove(session, args.name, args.locale)

    if not asyncio.run(in_transaction(settings, work)):
        print(f"crmbot: no saved reply :{args.name} ({args.locale})", file=sys.stderr)
        return 1
    print(f"deleted :{args.name} ({args.locale})")
    return 0
