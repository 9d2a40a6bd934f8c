"""What this deployment can serve from a knowledge base, checked before anything is stored.

A file can be well-formed and still useless: an entry in a language the bot does not speak
("de" when only en, sv and lv are shipped) is never reached, an entry with neither a question
nor phrasings is found only through its answer text, and an empty file imports nothing while
looking like it worked. The CLI's ``kb import`` and the REST API refuse these with a message
that says what to do; both call :func:`problems`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from bot.i18n import SUPPORTED
from knowledge.entries import KBEntry


class Problem(NamedTuple):
    field: str
    message: str

    def __str__(self) -> str:
        return self.message


def problems(entries: Sequence[KBEntry], *, whole_file: bool = True) -> list[Problem]:
    found: list[Problem] = []
    if whole_file and not entries:
        found.append(Problem("body", "the file has no entries"))
    for entry in entries:
        where = f"entry {entry.id!r} ({entry.locale})"
        if entry.locale not in SUPPORTED:
            found.append(Problem("locale", (
                f"{where}, field 'locale': the bot speaks {', '.join(SUPPORTED)}; a locale needs "
                "its message catalog bot/locales/<locale>.yaml before entries in it can be used")))
        if not entry.question and not entry.phrasings:
            found.append(Problem("question", f"{where}, field 'question': write the question "
                                 "customers ask (or at least one phrasing)"))
    return found
