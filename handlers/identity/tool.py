"""``crmbot customer merge|unmerge|merges|history|export|erase`` (same database as the server).

The functions below are also what an admin API route or a Slack action calls: each runs one
transaction and returns plain data. Merges are agent decisions (never automatic on a shared
display name); erase is irreversible and therefore asks for ``--yes`` on the command line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.dbtool import cli_id
from bot.dbtool import in_transaction as _in_transaction
from storage import merge as merging
from storage import privacy
from storage.models_identity import CustomerMerge

T = TypeVar("T")




async def merge(settings: Settings, keep: int, fold: int, actor: str = "cli") -> dict[str, Any]:
    async def work(session: AsyncSession) -> dict[str, Any]:
        record = await merging.merge_customers(session, keep, fold, actor=actor, reason="agent")
        return _merge_dict(record)

    return await _in_transaction(settings, work)


async def unmerge(settings: Settings, merge_id: int, actor: str = "cli") -> dict[str, Any]:
    async def work(session: AsyncSession) -> dict[str, Any]:
        return _merge_dict(await merging.unmerge(session, merge_id, actor=actor))

    return await _in_transaction(settings, work)


async def list_merges(settings: Settings, customer: int | None = None) -> list[dict[str, Any]]:
    async def work(session: AsyncSession) -> list[dict[str, Any]]:
        query = select(CustomerMerge).order_by(CustomerMerge.id)
        if customer is not None:
            query = query.where((CustomerMerge.target_id == customer)
                                | (CustomerMerge.source_id == customer))
        return [_merge_dict(m) for m in (await session.scalars(query)).all()]

    return await _in_transaction(settings, work)


async def export(settings: Settings, customer_id: int) -> dict[str, Any]:
    return await _about(settings, customer_id, privacy.export_customer)


async def erase(settings: Settings, customer_id: int) -> dict[str, int]:
    return await _about(settings, customer_id, privacy.erase_customer)


async def _about(
    settings: Settings, customer_id: int,
    action: Callable[[AsyncSession, int], Awaitable[T]],
) -> T:
    """``action`` on one customer in a transaction; an unknown customer is a ValueError (the
    CLI's clear error) instead of privacy's LookupError."""
    async def work(session: AsyncSession) -> T:
        try:
            return await action(session, customer_id)
        except LookupError as exc:
            raise ValueError(str(exc)) from None

    return await _in_transaction(settings, work)


def _merge_dict(record: CustomerMerge) -> dict[str, Any]:
    return {
        "id": record.id, "kept": record.target_id, "merged": record.source_id,
        "actor": record.actor, "reason": record.reason,
        "moved": {name: len(ids) for name, ids in (record.moved or {}).items()},
        "created_at": record.created_at.isoformat(),
        "undone_at": record.undone_at.isoformat() if record.undone_at else None,
    }


# -- command line ---------------------------------------------------------------------------


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    m = sub.add_parser("merge", help="merge customer B into customer A (A is kept)")
    m.add_argument("keep", type=cli_id, metavar="A")
    m.add_argument("fold", type=cli_id, metavar="B")
    m.set_defaults(func=_cmd_merge)
    u = sub.add_parser("unmerge", help="undo a merge by its id")
    u.add_argument("merge_id", type=cli_id, metavar="MERGE_ID")
    u.set_defaults(func=_cmd_unmerge)
    ls = sub.add_parser("merges", help="list merges (optionally of one customer)")
    ls.add_argument("--customer", type=cli_id)
    ls.set_defaults(func=_cmd_merges)
    ex = sub.add_parser("export", help="everything stored about a customer, as JSON")
    ex.add_argument("customer", type=cli_id, metavar="ID")
    ex.add_argument("--out", type=Path, help="write to this file instead of standard output")
    ex.set_defaults(func=_cmd_export)
    er = sub.add_parser("erase", help="erase a customer's personal data everywhere")
    er.add_argument("customer", type=cli_id, metavar="ID")
    er.add_argument("--yes", action="store_true", help="confirm: this cannot be undone")
    er.set_defaults(func=_cmd_erase)


def _cmd_merge(args: argparse.Namespace, settings: Settings) -> int:
    result = asyncio.run(merge(settings, args.keep, args.fold))
    print(f"merge {result['id']}: customer {result['merged']} merged into {result['kept']} "
          f"(moved {json.dumps(result['moved'])}); undo with: crmbot customer unmerge "
          f"{result['id']}")
    return 0


def _cmd_unmerge(args: argparse.Namespace, settings: Settings) -> int:
    result = asyncio.run(unmerge(settings, args.merge_id))
    print(f"merge {result['id']} undone: customer {result['merged']} is separate again")
    return 0


def _cmd_merges(args: argparse.Namespace, settings: Settings) -> int:
    for m in asyncio.run(list_merges(settings, args.customer)):
        state = f"undone {m['undone_at']}" if m["undone_at"] else "active"
        print(f"{m['id']:<5} {m['merged']} -> {m['kept']}  {m['reason']:<10} {m['actor']:<16} "
              f"{m['created_at']}  {state}")
    return 0


def _cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    text = json.dumps(asyncio.run(export(settings, args.customer)), ensure_ascii=False,
                      indent=2, default=str)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
        print(f"exported customer {args.customer} to {args.out}", file=sys.stderr)
    else:
        print(text)
    return 0


def _cmd_erase(args: argparse.Namespace, settings: Settings) -> int:
    if not args.yes:
        print("crmbot: erasing cannot be undone; add --yes to confirm", file=sys.stderr)
        return 2
    changed = asyncio.run(erase(settings, args.customer))
    print(f"customer {args.customer} erased; rows changed: {json.dumps(changed)}")
    return 0
