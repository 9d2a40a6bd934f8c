"""What the core needs from a channel adapter, and how an adapter reports a send's outcome.

The outbox dispatcher decides retries from :class:`SendResult` alone, so every adapter maps its
platform's errors onto the same four outcomes: sent, retry later (optionally after the
platform's ``retry_after`` for a scope), or failed for good (optionally marking the customer
unreachable).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from bot.messages import OutboundMessage


@dataclass(frozen=True, slots=True)
class RateLimit:
    """``amount`` sends per ``seconds`` for one scope: ``global`` or ``chat`` (per chat id)."""

    scope: str
    amount: int
    seconds: int
    groups_only: bool = False


@dataclass(frozen=True, slots=True)
class SendResult:
    ok: bool
    external_id: str | None = None
    retry_after: float | None = None
    retry_scope: str = "chat"
    permanent: bool = False
    unreachable: bool = False
    error: str = ""

    @classmethod
    def sent(cls, external_id: str | None = None) -> SendResult:
        return cls(ok=True, external_id=external_id)

    @classmethod
    def retry(cls, error: str, after: float | None = None, scope: str = "chat") -> SendResult:
        return cls(ok=False, retry_after=after, retry_scope=scope, error=error)

    @classmethod
    def failed(cls, error: str, *, unreachable: bool = False) -> SendResult:
        return cls(ok=False, permanent=True, unreachable=unreachable, error=error)


class ChannelAdapter(Protocol):
    """A delivery target for outbox items of one channel name."""

    name: str

    @property
    def limits(self) -> tuple[RateLimit, ...]: ...

    def is_group(self, chat_id: str) -> bool: ...

    async def send(self, message: OutboundMessage) -> SendResult: ...


@dataclass
class ChannelRegistry:
    """The adapters this process can deliver through, by channel name."""

    adapters: dict[str, ChannelAdapter] = field(default_factory=dict)

    def add(self, adapter: ChannelAdapter) -> None:
        self.adapters[adapter.name] = adapter

    def get(self, name: str) -> ChannelAdapter | None:
        return self.adapters.get(name)

    def names(self) -> list[str]:
        return sorted(self.adapters)
