"""The CLI starts light (issue 32): a command group's heavy modules load only when it runs,
and a group named without its action shows that group's help."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT

HEAVY = ("sqlalchemy", "storage.models", "scipy", "sklearn", "matplotlib", "alembic", "lingua")


def _loaded_after(code: str) -> set[str]:
    probe = (f"import sys\n{code}\n"
             f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    return set(out.split())


def test_help_and_chat_parsing_import_nothing_heavy() -> None:
    assert _loaded_after("from bot.cli import build_parser; "
                         "build_parser(['chat']).parse_args(['chat'])") == set()
    assert _loaded_after("from bot.cli import build_parser; "
                         "build_parser(['--help']).format_help()") == set()


def test_the_named_group_is_filled_in() -> None:
    from bot.cli import build_parser

    args = build_parser(["token", "list"]).parse_args(["token", "list"])
    assert args.func.__name__ == "cmd_token_list"
    args = build_parser(["report", "--json"]).parse_args(["report", "--json"])
    assert args.json is True


@pytest.mark.parametrize("group", ["kb", "token", "user", "survey", "customer", "replies",
                                   "events", "broadcast", "db"])
def test_a_group_without_its_action_shows_its_own_help(group: str) -> None:
    proc = subprocess.run([sys.executable, "bot.py", group], cwd=ROOT, capture_output=True,
                          text=True, env={"PATH": "/usr/bin:/bin"}, timeout=60)
    assert proc.returncode == 2
    assert f"usage: crmbot {group} [-h] ACTION" in proc.stdout, proc.stdout + proc.stderr
