"""The terminal channel behind ``crmbot chat``: talk to the real core from a shell.

Buttons are printed as numbered choices; typing the number presses the button. When standard
input is not a terminal, each line is one message, so conversations can be scripted.
"""

from __future__ import annotations

import sys
from typing import TextIO

from bot.messages import Button, InboundMessage, OutboundMessage
from bot.ports import RateLimit, SendResult

#: Printed once before the first prompt when the chat runs on a terminal.
CHAT_BANNER = "Type your message (Ctrl-D to quit).\n"


class TerminalChannel:
    name = "terminal"

    def __init__(self, out: TextIO | None = None) -> None:
        self._out = out or sys.stdout
        self._buttons: dict[str, list[Button]] = {}
        self._sent = 0

    @property
    def limits(self) -> tuple[RateLimit, ...]:
        return ()

    def is_group(self, chat_id: str) -> bool:
        return False

    async def send(self, message: OutboundMessage) -> SendResult:
        self._sent += 1
        self._out.write(f"bot> {message.text}\n")
        buttons = [b for row in message.buttons for b in row]
        if buttons:
            self._buttons[message.chat_id] = buttons
            for number, button in enumerate(buttons, start=1):
                target = button.url or ""
                self._out.write(f"     [{number}] {button.label} {target}".rstrip() + "\n")
        self._out.flush()
        return SendResult.sent(f"t{self._sent}")

    def to_inbound(self, chat_id: str, line: str, event_id: str, name: str | None,
                   locale: str | None) -> InboundMessage:
        """A typed line becomes text, a command, or a button press (by its number)."""
        text = line.strip()
        buttons = self._buttons.get(chat_id, [])
        common = dict(channel=self.name, event_id=event_id, user_id=chat_id, chat_id=chat_id,
                      display_name=name, locale_hint=locale)
        if text.isdigit() and 1 <= int(text) <= len(buttons) and buttons[int(text) - 1].data:
            button = buttons[int(text) - 1]
            return InboundMessage(text=button.label, kind="callback",
                                  callback_data=button.data, **common)  # type: ignore[arg-type]
        kind = "command" if text.startswith("/") else "text"
        return InboundMessage(text=text, kind=kind, **common)  # type: ignore[arg-type]
