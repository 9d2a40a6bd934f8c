"""Test doubles for the core: a channel that records what it is asked to send."""

from __future__ import annotations

import asyncio
import inspect
import signal
import socket
import subprocess
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.messages import InboundMessage, OutboundMessage
from bot.ports import RateLimit, SendResult


@dataclass
class RecordingChannel:
    """A channel adapter that records sends; queue results in ``script`` to inject failures."""

    name: str = "test"
    rate_limits: tuple[RateLimit, ...] = ()
    sent: list[tuple[float, OutboundMessage]] = field(default_factory=list)
    attempts: list[tuple[float, OutboundMessage, SendResult]] = field(default_factory=list)
    script: deque[SendResult] = field(default_factory=deque)

    @property
    def limits(self) -> tuple[RateLimit, ...]:
        return self.rate_limits

    def is_group(self, chat_id: str) -> bool:
        return chat_id.startswith("-")

    async def send(self, message: OutboundMessage) -> SendResult:
        result = self.script.popleft() if self.script else SendResult.sent(str(len(self.sent)))
        now = time.monotonic()
        self.attempts.append((now, message, result))
        if result.ok:
            self.sent.append((now, message))
        return result

    def texts(self, chat_id: str | None = None) -> list[str]:
        return [m.text for _, m in self.sent if chat_id is None or m.chat_id == chat_id]


def statements(engine: AsyncEngine) -> list[str]:
    """Every SQL statement ``engine`` sends from now on, whitespace collapsed (tests count
    round trips with it)."""
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    return seen


def inserted_tables(seen: list[str]) -> list[str]:
    """The table of each INSERT among :func:`statements`, in order."""
    return [s.split()[2] for s in seen if s.startswith("INSERT INTO")]


def inbound(text: str, event_id: str, chat: str = "c1", channel: str = "test",
            **extra: object) -> InboundMessage:
    kind = "command" if text.startswith("/") else "text"
    return InboundMessage(channel=channel, event_id=event_id, user_id=chat, chat_id=chat,
                          text=text, kind=kind, **extra)  # type: ignore[arg-type]


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM a `crmbot run` started by a test; SIGKILL it if it has not gone in 15 s."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def free_port() -> int:
    """A loopback port nobody listens on right now (for a subprocess that must be told one)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], timeout: float = 60.0
) -> bool:
    """Poll ``check`` (plain or async) until it holds or ``timeout`` seconds pass; whether it
    held.

    `make test` runs two workers on a two-core machine: a background build or delivery takes
    several times longer under that load than alone, so waits are generous and end as soon
    as the thing happened. The caller asserts what it expected, with its own message.
    """
    deadline = time.monotonic() + timeout
    while True:
        outcome = check()
        if inspect.isawaitable(outcome):
            outcome = await outcome
        if outcome:
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)


class ThreadLog:
    """Which thread ran each wrapped call: for tests that work stays off the event loop."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def wrap(self, name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, threading.get_ident()))
            return real(*args, **kwargs)
        return call

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def ran_on_this_thread(self) -> bool:
        """Whether any wrapped call ran on the calling (the event loop's) thread."""
        return any(thread == threading.get_ident() for _, thread in self.calls)
