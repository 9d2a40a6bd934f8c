"""The ``crmbot`` command line (``python bot.py`` is the same).

Every sub-command reads the same settings as the server, so ``crmbot chat`` and ``crmbot kb``
act on exactly the database the running bot uses.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import TextIO, TypeAlias

from bot.channels.terminal import CHAT_BANNER
from bot.config import ConfigError, Settings, load_settings
from knowledge.formats import KBFormatError

Command = Callable[[argparse.Namespace, Settings], int]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        settings = load_settings()
        return int(args.func(args, settings))
    except (ConfigError, KBFormatError, ValueError, FileNotFoundError) as exc:
        print(f"crmbot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole command line; only the group named in ``argv`` gets its actions.

    Each group's actions live next to the code they run, whose imports (SQLAlchemy, the ORM
    models, the survey and broadcast services) cost ~0.4 s; ``crmbot chat`` or ``--help`` need
    none of them, so a group is filled in only when ``argv`` asks for it (issue 32).
    """
    parser = argparse.ArgumentParser(
        prog="crmbot", description="crmbot, the self-hosted customer-support bot. Every "
        "command uses the same settings (environment, .env) and database as `crmbot run`.")
    sub = parser.add_subparsers(metavar="COMMAND")
    run = sub.add_parser("run", help="serve HTTP and run every configured channel")
    run.add_argument("--workers", type=int, default=1,
                     help="server processes sharing the port (PostgreSQL only)")
    run.set_defaults(func=cmd_run)
    chat = sub.add_parser("chat", help="talk to the bot in the terminal")
    chat.add_argument("--locale", choices=("en", "sv", "lv"),
                      help="talk in this language (default: detected from what you write)")
    chat.add_argument("--name", help="your display name, as a customer")
    chat.set_defaults(func=cmd_chat)
    for name, (text, fill) in GROUPS.items():
        group = sub.add_parser(name, help=text)
        group.set_defaults(func=_usage(group))
        actions = group.add_subparsers(metavar="ACTION")
        if _named(argv, name):
            fill(actions)
    report = sub.add_parser("report", help="management report: HTML, PDF, CSV or JSON")
    if _named(argv, "report"):
        _report_parsers(report)
    return parser


def _named(argv: Sequence[str] | None, command: str) -> bool:
    """Whether the command line's first word (after options) is ``command``."""
    words = [word for word in (sys.argv[1:] if argv is None else argv)
             if not word.startswith("-")]
    return bool(words) and words[0] == command


def _usage(parser: argparse.ArgumentParser) -> Command:
    """A group without its action (``crmbot kb``) prints its own help, not the top level's."""
    def show(args: argparse.Namespace, settings: Settings) -> int:
        parser.print_help()
        return 2
    return show


def _broadcast_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``crmbot broadcast create|preview|send|pause|resume|cancel|status|list``."""
    from handlers.broadcast.tool import add_parsers

    add_parsers(sub)


def _replies_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``crmbot replies list|set|delete`` (handlers/tickets/tool.py)."""
    from handlers.tickets.tool import add_parsers

    add_parsers(sub)


def _events_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``crmbot events dead|retry`` (bot/eventstool.py)."""
    from bot.eventstool import add_parsers

    add_parsers(sub)


def _report_parsers(report: argparse.ArgumentParser) -> None:
    """``crmbot report`` (handlers/reports/tool.py)."""
    from handlers.reports.tool import add_arguments

    add_arguments(report)


def _survey_parsers(survey: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``crmbot survey list|import|results|send`` (handlers/surveys/tool.py)."""
    from handlers.surveys.tool import add_parsers

    add_parsers(survey)


def _customer_parsers(customer: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``crmbot customer merge|unmerge|merges|export|erase`` (handlers/identity/tool.py)."""
    from handlers.identity.tool import add_parsers

    add_parsers(customer)


def _kb_parsers(kb: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    imp = kb.add_parser("import", help="import a YAML/JSON/JSONL/CSV file (all or nothing)")
    imp.add_argument("file", type=Path)
    imp.set_defaults(func=cmd_kb_import)
    exp = kb.add_parser("export", help="export to a file; format from its extension")
    exp.add_argument("file", type=Path)
    exp.set_defaults(func=cmd_kb_export)
    lst = kb.add_parser("list", help="list entries")
    lst.add_argument("--locale", choices=("en", "sv", "lv"), help="only this language")
    lst.set_defaults(func=cmd_kb_list)
    ev = kb.add_parser("eval", help="measure matching on a JSONL query file")
    ev.add_argument("queries", type=Path)
    ev.add_argument("--kb", type=Path, help="evaluate this KB file instead of the database")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.set_defaults(func=cmd_kb_eval)
    lint = kb.add_parser("lint", help="flag near-duplicates and thin entries")
    lint.add_argument("--kb", type=Path, help="lint this KB file instead of the database")
    lint.set_defaults(func=cmd_kb_lint)


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from bot.app import run
    from bot.workers import check_workers

    check_workers(settings, args.workers)
    run(settings, args.workers)
    return 0


def cmd_chat(args: argparse.Namespace, settings: Settings) -> int:
    first = _prompt_early(sys.stdin, sys.stdout)
    from bot.chat import chat

    asyncio.run(chat(settings, locale=args.locale, name=args.name, first_line=first))
    return 0


def _prompt_early(stdin: TextIO, out: TextIO) -> Future[str] | None:
    """On a terminal, prompt before the core is loaded and read the first line meanwhile.

    Loading the core (imports, database check, matcher) takes most of a second; the user
    types their first question in that time instead of waiting for the prompt.
    """
    if not stdin.isatty():
        return None
    out.write(CHAT_BANNER + "you> ")
    out.flush()
    first: Future[str] = Future()

    def read() -> None:
        try:
            first.set_result(stdin.readline())
        except Exception as exc:  # handed to the chat loop, which raises it there
            first.set_exception(exc)

    threading.Thread(target=read, name="crmbot-chat-first-line", daemon=True).start()
    return first


def _db_parsers(db: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db.add_parser("upgrade", help="apply migrations").set_defaults(func=cmd_db_upgrade)


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from storage.db import create_engine
    from storage.migrate import upgrade

    async def _go() -> None:
        engine = create_engine(settings.database_url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(_go())
    print("database is up to date")
    return 0


def cmd_kb_import(args: argparse.Namespace, settings: Settings) -> int:
    from handlers.faq.tool import import_file

    stats = asyncio.run(import_file(settings, args.file))
    print(f"imported {args.file}: {stats['created']} created, {stats['updated']} updated, "
          f"{stats['unchanged']} unchanged")
    return 0


def cmd_kb_export(args: argparse.Namespace, settings: Settings) -> int:
    from handlers.faq.tool import export_file

    count = asyncio.run(export_file(settings, args.file))
    print(f"exported {count} entries to {args.file}")
    return 0


def cmd_kb_list(args: argparse.Namespace, settings: Settings) -> int:
    from handlers.faq.tool import load_entries

    for entry in asyncio.run(load_entries(settings, None, args.locale)):
        flag = "" if entry.enabled else "  (disabled)"
        print(f"{entry.id:<28} {entry.locale:<4} {entry.question}{flag}")
    return 0


def cmd_kb_eval(args: argparse.Namespace, settings: Settings) -> int:
    from handlers.faq.tool import load_entries
    from knowledge.evaluate import evaluate, format_report, load_queries
    from knowledge.lemmatizer import use_tries
    from knowledge.matcher import build_matcher

    use_tries(settings.cache_path)
    entries = asyncio.run(load_entries(settings, args.kb, None))
    matcher = build_matcher(
        entries, settings.default_locale, settings.match_threshold, settings.matcher,
        settings.match_wrong_cost,
    )
    try:
        queries = load_queries(args.queries)
    except ValueError as exc:
        raise ValueError(f"{args.queries}: {exc}") from None
    known = {e.id for e in entries}
    unknown = sorted({q.expected for q in queries if q.expected and q.expected not in known})
    if unknown:  # counted as misses, but most likely a typo or a different KB
        print(f"crmbot: {args.queries}: {len(unknown)} expected id(s) not in the KB (counted as "
              f"wrong): {', '.join(unknown[:10])}{' …' if len(unknown) > 10 else ''}",
              file=sys.stderr)
    result = evaluate(matcher, queries)
    print(json.dumps(result, ensure_ascii=False) if args.json else format_report(result))
    return 0


def cmd_kb_lint(args: argparse.Namespace, settings: Settings) -> int:
    from handlers.faq.tool import load_entries
    from knowledge.lemmatizer import use_tries
    from knowledge.lint import lint

    use_tries(settings.cache_path)
    problems = lint(asyncio.run(load_entries(settings, args.kb, None)))
    for problem in problems:
        print(problem)
    print(f"{len(problems)} problem(s)")
    return 1 if problems else 0


def _token_parsers(token: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from bot.dbtool import cli_id

    create = token.add_parser("create", help="create a token (shown once)")
    create.add_argument("--role", choices=("admin", "agent"), required=True)
    create.add_argument("--name", default="", help="what it is for (default: ROLE token)")
    create.set_defaults(func=cmd_token_create)
    token.add_parser("list", help="list tokens (never their secrets)").set_defaults(
        func=cmd_token_list)
    revoke = token.add_parser("revoke", help="revoke a token by id")
    revoke.add_argument("id", type=cli_id)
    revoke.set_defaults(func=cmd_token_revoke)


def _user_parsers(user: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    create = user.add_parser("create", help="create a web UI user (password from prompt/stdin)")
    create.add_argument("name")
    create.add_argument("--role", choices=("admin", "agent"), required=True)
    create.set_defaults(func=cmd_user_create)
    user.add_parser("list", help="list users").set_defaults(func=cmd_user_list)


def cmd_token_create(args: argparse.Namespace, settings: Settings) -> int:
    from bot.admintool import create_token

    token_id, secret = asyncio.run(create_token(settings, args.role, args.name or
                                                f"{args.role} token"))
    print(f"token {token_id} ({args.role}) created; it is shown only now:", file=sys.stderr)
    print(secret)
    return 0


def cmd_token_list(args: argparse.Namespace, settings: Settings) -> int:
    from bot.admintool import list_tokens

    for line in asyncio.run(list_tokens(settings)):
        print(line)
    return 0


def cmd_token_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from bot.admintool import revoke_token

    if not asyncio.run(revoke_token(settings, args.id)):
        print(f"crmbot: no active token {args.id}", file=sys.stderr)
        return 1
    print(f"token {args.id} revoked")
    return 0


def cmd_user_create(args: argparse.Namespace, settings: Settings) -> int:
    from bot.admintool import create_user, read_password

    asyncio.run(create_user(settings, args.name, args.role, read_password()))
    print(f"user {args.name} ({args.role}) created")
    return 0


def cmd_user_list(args: argparse.Namespace, settings: Settings) -> int:
    from bot.admintool import list_users

    for line in asyncio.run(list_users(settings)):
        print(line)
    return 0


Filler: TypeAlias = "Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]"
#: Command groups: (help line, what adds their actions); filled in only when named.
GROUPS: dict[str, tuple[str, Filler]] = {
    "db": ("database schema", _db_parsers),
    "kb": ("knowledge base", _kb_parsers),
    "token": ("admin API tokens", _token_parsers),
    "user": ("admin web UI users", _user_parsers),
    "survey": ("surveys", _survey_parsers),
    "customer": ("merge, export, erase customers", _customer_parsers),
    "replies": ("saved replies staff send as :name", _replies_parsers),
    "events": ("dead letters: inbound events that failed", _events_parsers),
    "broadcast": ("announcements to opted-in customers", _broadcast_parsers),
}
