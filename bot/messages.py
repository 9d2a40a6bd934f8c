"""Platform-neutral message types (defined with their stored form in storage/envelopes.py) and
the parsing of a slash command every channel shares."""

from __future__ import annotations

from storage.envelopes import Button, InboundKind, InboundMessage, OutboundMessage, StaffAction

__all__ = ["Button", "InboundKind", "InboundMessage", "OutboundMessage", "StaffAction",
           "parse_command"]


def parse_command(text: str) -> tuple[str, str] | None:
    """'/lang@shopbot sv' -> ('lang', 'sv'); None for ordinary text."""
    if not text.startswith("/") or len(text) < 2:
        return None
    head, _, rest = text[1:].partition(" ")
    return head.split("@", 1)[0].lower(), rest.strip()
