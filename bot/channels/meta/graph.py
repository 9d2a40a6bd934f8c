"""One Graph API call and what its answer means for the outbox.

WhatsApp and the Messenger Platform answer errors in one shape,
``{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}``; the codes below are
the ones Meta documents for sending. Each maps onto the outbox's outcomes (bot/ports.py): retry
(later, for this chat or for the whole channel), failed, or failed with the customer
unreachable. An expired or revoked token pauses the channel (a long global retry, logged as
critical) rather than failing every queued message.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.ports import SendResult

log = logging.getLogger("crmbot.meta")

#: A revoked or expired token: nothing will send until an operator replaces it.
TOKEN_PAUSE_SECONDS = 300.0
#: Graph error code -> (outcome, seconds to wait, scope). Outcomes: retry, failed, unreachable.
ERRORS: dict[int, tuple[str, float | None, str]] = {
    190: ("pause", TOKEN_PAUSE_SECONDS, "global"),  # access token expired or revoked
    4: ("retry", 60.0, "global"),  # application request limit
    80007: ("retry", 60.0, "global"),  # WhatsApp Business Account rate limit
    130429: ("retry", 10.0, "global"),  # WhatsApp throughput (messages per second) limit
    131056: ("retry", 60.0, "chat"),  # WhatsApp pair rate limit: too many to one number
    613: ("retry", 60.0, "global"),  # Messenger calls-per-page limit
    1: ("retry", None, "chat"),  # unknown / temporary
    2: ("retry", None, "chat"),  # service temporarily unavailable
    131000: ("retry", None, "chat"),  # WhatsApp: something went wrong
    131016: ("retry", 30.0, "global"),  # WhatsApp service unavailable
    131047: ("failed", None, "chat"),  # WhatsApp re-engagement: outside the 24-hour window
    131026: ("unreachable", None, "chat"),  # WhatsApp: undeliverable (no WhatsApp, old app)
    551: ("unreachable", None, "chat"),  # Messenger: this person isn't available right now
    10: ("failed", None, "chat"),  # Messenger: outside the allowed window / permission
    100: ("failed", None, "chat"),  # invalid parameter (a bug on our side: do not repeat)
    200: ("failed", None, "chat"),  # permission missing (e.g. the human_agent tag)
}


@dataclass(frozen=True, slots=True)
class GraphError:
    code: int
    subcode: int | None
    message: str

    def __str__(self) -> str:
        sub = f"/{self.subcode}" if self.subcode else ""
        return f"Graph error {self.code}{sub}: {self.message}"


def outcome(status: int, error: GraphError | None) -> SendResult:
    """The outbox outcome of a failed call (HTTP ``status``, Graph ``error`` if any)."""
    if error is None:
        if status >= 500 or status == 429:
            return SendResult.retry(f"HTTP {status}")
        return SendResult.failed(f"HTTP {status} without a Graph error")
    kind, after, scope = ERRORS.get(error.code, ("retry" if status >= 500 else "failed",
                                                 None, "chat"))
    if kind == "pause":
        log.critical("%s: the access token was refused; sends are paused until it is replaced",
                     error)
        return SendResult.retry(str(error), after, "global")
    if kind == "retry":
        return SendResult.retry(str(error), after, scope)
    return SendResult.failed(str(error), unreachable=kind == "unreachable")


def parse_error(data: Any) -> GraphError | None:
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("code"), int):
        return None
    sub = error.get("error_subcode")
    return GraphError(error["code"], sub if isinstance(sub, int) else None,
                      str(error.get("message", ""))[:500])


#: The Graph API version crmbot is written against.
VERSION = "v21.0"
_VERSIONED = re.compile(r"/v\d+\.\d+$")


def versioned(base_url: str) -> str:
    """The API base with a version: "https://graph.facebook.com" gets /v21.0 appended, a base
    that already ends in one (".../v20.0") is used as it is."""
    base = base_url.rstrip("/")
    return base if _VERSIONED.search(base) else f"{base}/{VERSION}"


class GraphClient:
    """POSTs JSON to the Graph API with the channel's token (one aiohttp session, owned by the
    channel's lifecycle)."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, token: str,
                 timeout: float = 10.0) -> None:
        self._session = session
        self._base = versioned(base_url)
        self._token = token
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def post(self, path: str, body: dict[str, Any]) -> tuple[dict[str, Any] | None,
                                                                  SendResult | None]:
        """The answer's JSON on success, else (None, the outbox outcome)."""
        try:
            async with self._session.post(
                f"{self._base}/{path.lstrip('/')}", json=body, timeout=self._timeout,
                headers={"Authorization": f"Bearer {self._token}"},
            ) as response:
                data = await _json(response)
                if response.status == 200 and isinstance(data, dict):
                    return data, None
                return None, outcome(response.status, parse_error(data))
        except (TimeoutError, aiohttp.ClientError) as exc:
            return None, SendResult.retry(f"Graph API unreachable: {type(exc).__name__}: {exc}")


async def _json(response: aiohttp.ClientResponse) -> Any:
    try:
        return await response.json(content_type=None)
    except (ValueError, aiohttp.ContentTypeError):
        return None
