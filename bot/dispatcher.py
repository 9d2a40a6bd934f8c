"""Routers and the dispatcher that runs them in a fixed priority order.

Each feature in handlers/ exposes one :class:`Router`. For every inbound event the dispatcher
asks the routers, lowest priority number first, and stops at the first handler that returns
True. The documented order (docs/architecture.md):

====  ==============  ===========================================================
  1   tickets         staff actions from the Slack desk
  2   intake          reviews and forum posts: stored, escalated, never answered
  5   guard           oversize, empty and unsupported content
  8   identity        /link, /tz; announcement consent /subscribe, /stop
  9   callback        phone call-back requests
 10   commands        /start, /help, /lang, /human, /bot
 15   feedback        button presses: "did this help?", suggestions, "talk to a person"
 20   surveys         a pending survey answer
 30   human           conversation is with a human: relay, the bot stays quiet
 40   escalation      triggers that hand the conversation to staff
 50   faq             answer from the knowledge base, or suggest
 90   fallback        polite "I don't know" with a way to a human
====  ==============  ===========================================================
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from bot.context import Context

Handler = Callable[[Context], Awaitable[bool]]
#: Called with the context and the event's subject (e.g. the resolved ticket).
Listener = Callable[[Context, Any], Awaitable[None]]


class Router:
    """An ordered group of handlers for one feature."""

    def __init__(self, name: str, priority: int) -> None:
        self.name = name
        self.priority = priority
        self.handlers: list[Handler] = []
        self.listeners: dict[str, list[Listener]] = {}

    def handler(self, fn: Handler) -> Handler:
        """Register ``fn``; it returns True when it handled the event."""
        self.handlers.append(fn)
        return fn

    def on(self, event: str) -> Callable[[Listener], Listener]:
        """Register a listener for a feature event ("ticket_resolved", ...).

        Features tell each other what happened through these hooks instead of importing each
        other's internals: the one that raises the event does not know who listens."""

        def register(fn: Listener) -> Listener:
            self.listeners.setdefault(event, []).append(fn)
            return fn

        return register

    async def dispatch(self, ctx: Context) -> bool:
        for fn in self.handlers:
            if await fn(ctx):
                return True
        return False


class Dispatcher:
    """The routers of one core; also what :attr:`Context.routing` offers the handlers."""

    def __init__(self, routers: Iterable[Router]) -> None:
        self.routers = sorted(routers, key=lambda r: r.priority)

    async def dispatch(self, ctx: Context) -> str | None:
        """Run routers in priority order; the name of the one that handled the event."""
        ctx.routing = self
        return await self._run(ctx, self.routers)

    async def dispatch_after(self, ctx: Context, priority: int) -> str | None:
        """Run only the routers after ``priority`` (a survey interrupted by a question lets the
        later features answer it, with the routers this core was built with)."""
        return await self._run(ctx, [r for r in self.routers if r.priority > priority])

    async def emit(self, event: str, ctx: Context, subject: Any) -> None:
        """Tell every listener of ``event``, in router order, inside the same transaction."""
        for router in self.routers:
            for listener in router.listeners.get(event, ()):
                await listener(ctx, subject)

    @staticmethod
    async def _run(ctx: Context, routers: Iterable[Router]) -> str | None:
        for router in routers:
            if await router.dispatch(ctx):
                return router.name
        return None
