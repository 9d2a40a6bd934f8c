"""What this deployment can serve from a knowledge base, checked before anything is stored.

A file can be well-formed and still useless: an entry in a language the bot does not speak
("de" when only en, sv and lv are shipped) is never reached, an entry with neither a question
nor phrasings is found only through its answer text, and an empty file imports nothing while
looking like it worked. The CLI's ``kb import`` and the REST API refuse these with a message
that says what to do; both call :func:`problems`.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.i18n import SUPPORTED
from knowledge.entries import KBEntry


def problems(entries: Sequence[KBEntry], *, whole_file: bool = True) -> list[str]:
    found: list[str] = []
    if whole_file and not entries:
        found.append("the file has no entries")
    for entry in entries:
        where = f"entry {entry.id!r} ({entry.locale})"
        if entry.locale not in SUPPORTED:
            found.append(
                f"{where}, field 'locale': the bot speaks {', '.join(SUPPORTED)}; a locale needs "
                "its message catalog bot/locales/<locale>.yaml before entries in it can be used")
        if not entry.question and not entry.phrasings:
            found.append(f"{where}, field 'question': write the question customers ask "
                         "(or at least one phrasing)")
    return found
