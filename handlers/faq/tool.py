"""Knowledge-base operations behind ``crmbot kb …`` (import, export, list)."""

from __future__ import annotations

from pathlib import Path

from bot.config import Settings
from bot.dbtool import in_transaction, tool_sessions
from handlers.faq import rules as kbrules
from knowledge.entries import KBEntry
from knowledge.formats import KBFormatError, detect_format, dump_file, load_file
from storage import kb as kb_repo


async def import_file(settings: Settings, path: Path) -> dict[str, int]:
    """Validate the whole file first; a bad file changes nothing."""
    entries = load_file(path)
    refused = kbrules.problems(entries)
    if refused:
        raise KBFormatError(str(path), [p.message for p in refused])
    return await in_transaction(
        settings, lambda session: kb_repo.import_entries(session, entries, f"cli:{path.name}")
    )


async def load_entries(settings: Settings, path: Path | None, locale: str | None) -> list[KBEntry]:
    """Entries from a KB file when given, else from the database."""
    if path is not None:
        try:
            entries = load_file(path)
        except KBFormatError as exc:  # not an import: say what it means here
            raise KBFormatError(exc.source, exc.problems, "cannot read this KB file") from None
        return [e for e in entries if locale is None or e.locale == locale]
    async with tool_sessions(settings) as sessions, sessions() as session:
        return await kb_repo.list_entries(session, locale=locale)


async def export_file(settings: Settings, path: Path) -> int:
    try:
        detect_format(path)
    except KBFormatError as exc:
        raise KBFormatError(exc.source, exc.problems, "nothing exported") from None
    entries = await load_entries(settings, None, None)
    dump_file(entries, path)
    return len(entries)
