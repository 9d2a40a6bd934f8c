"""Delivering desk posts to Slack: root messages, thread posts, root updates, reactions.

Outbox items for Slack carry ``meta["slack_op"]``:

``root``       the ticket's first message; its ``ts`` becomes the ticket's thread
               (stored right here, in one short write, before the outbox marks the item sent;
               a re-claimed root item finds the thread and is not posted twice). With
               ``meta["again"]`` (the customer asked for a person again) a ticket that has a
               thread gets that line in it and its root rewritten instead
``thread``     a message in the ticket's thread (the thread is looked up at send time);
               ``meta["optional"]``: skipped when the ticket has no thread (it never reached
               Slack), ``meta["or_channel"]``: posted in the channel instead
``update_root`` rewrite the root message (status, buttons) with ``chat.update`` (``optional``
               as for ``thread``)
``react``      ``reactions.add`` on ``meta["ts"]`` (confirms a relayed staff reply)
``ephemeral``  ``chat.postEphemeral`` to ``meta["user"]`` in the ticket's thread

Errors map onto the outbox's outcomes: 429/``ratelimited`` pauses all Slack sends for
``Retry-After``; a wrong channel, missing access or bad token fails for good (dead letter);
5xx and connection problems are retried with backoff. The client never retries by itself.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.messages import OutboundMessage
from bot.ports import RateLimit, SendResult
from storage import slack_threads as threads

log = logging.getLogger("crmbot.slack")

NAME = "slack"
RETRYABLE_ERRORS = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"}
)
ALREADY_DONE = frozenset({"already_reacted"})
DEFAULT_RETRY_AFTER = 1.0


class SlackAdapter:
    """The outbox's view of Slack (channel name ``slack``)."""

    name = NAME

    def __init__(
        self, client: AsyncWebClient, sessions: async_sessionmaker[AsyncSession],
        limits: tuple[RateLimit, ...] = (RateLimit("chat", 20, 20),),
    ) -> None:
        self._client = client
        self._sessions = sessions
        self._limits = limits

    @property
    def limits(self) -> tuple[RateLimit, ...]:
        """About one message per second per channel with short bursts (Slack's guidance)."""
        return self._limits

    def is_group(self, chat_id: str) -> bool:
        return False

    async def send(self, message: OutboundMessage) -> SendResult:
        op = str(message.meta.get("slack_op", "thread"))
        try:
            if op == "root":
                return await self._root(message)
            if op == "thread":
                return await self._thread(message)
            if op == "update_root":
                return await self._update_root(message)
            if op == "react":
                return await self._react(message)
            if op == "ephemeral":
                return await self._ephemeral(message)
            if op == "post":  # a plain channel post (the weekly report, bot/reports)
                return await self._post(message)
        except SlackApiError as exc:
            return map_api_error(exc)
        except (SlackClientError, aiohttp.ClientError, TimeoutError, ConnectionError) as exc:
            return SendResult.retry(f"slack unreachable: {type(exc).__name__}: {exc}")
        return SendResult.failed(f"unknown slack_op {op!r}")

    async def _root(self, message: OutboundMessage) -> SendResult:
        ticket_id = int(message.meta["thread_ticket"])
        existing = await self._thread_of(ticket_id)
        if existing is not None and message.meta.get("again"):
            await self._in_thread(existing, str(message.meta["again"]), None)
            return await self._update_root(message)
        if existing is not None:  # posted before a crash/lease expiry: never post twice
            return SendResult.sent(existing[1])
        response = await self._client.chat_postMessage(
            channel=message.chat_id, text=message.text, blocks=_blocks(message),
            unfurl_links=False,
        )
        ts = str(response["ts"])
        async with self._sessions.begin() as session:
            await threads.record_thread(session, ticket_id, str(response["channel"]), ts)
        return SendResult.sent(ts)

    async def _thread(self, message: OutboundMessage) -> SendResult:
        thread = await self._thread_of(int(message.meta["thread_ticket"]))
        if thread is None and message.meta.get("optional"):
            return SendResult.sent(None)
        if thread is None and message.meta.get("or_channel"):
            return await self._post(message)
        if thread is None:
            return SendResult.failed("the ticket has no Slack thread (its first post failed)")
        return SendResult.sent(await self._in_thread(thread, message.text, _blocks(message)))

    async def _in_thread(self, thread: tuple[str, str], text: str,
                         blocks: list[dict[str, Any]] | None) -> str:
        response = await self._client.chat_postMessage(
            channel=thread[0], thread_ts=thread[1], text=text, blocks=blocks,
            unfurl_links=False,
        )
        return str(response["ts"])

    async def _update_root(self, message: OutboundMessage) -> SendResult:
        thread = await self._thread_of(int(message.meta["thread_ticket"]))
        if thread is None and message.meta.get("optional"):
            return SendResult.sent(None)
        if thread is None:
            return SendResult.failed("the ticket has no Slack thread to update")
        await self._client.chat_update(
            channel=thread[0], ts=thread[1], text=message.text, blocks=_blocks(message) or []
        )
        return SendResult.sent(thread[1])

    async def _react(self, message: OutboundMessage) -> SendResult:
        ts = str(message.meta["ts"])
        try:
            await self._client.reactions_add(
                channel=message.chat_id, name=str(message.meta.get("name", "white_check_mark")),
                timestamp=ts,
            )
        except SlackApiError as exc:
            if _error_code(exc) not in ALREADY_DONE:
                raise
        return SendResult.sent(ts)

    async def _ephemeral(self, message: OutboundMessage) -> SendResult:
        thread = await self._thread_of(int(message.meta["thread_ticket"]))
        response = await self._client.chat_postEphemeral(
            channel=message.chat_id, user=str(message.meta["user"]), text=message.text,
            thread_ts=thread[1] if thread else None,
        )
        return SendResult.sent(str(response.get("message_ts", "")) or None)

    async def _post(self, message: OutboundMessage) -> SendResult:
        response = await self._client.chat_postMessage(
            channel=message.chat_id, text=message.text, blocks=_blocks(message),
            unfurl_links=False,
        )
        return SendResult.sent(str(response["ts"]))

    async def _thread_of(self, ticket_id: int) -> tuple[str, str] | None:
        async with self._sessions() as session:
            return await threads.thread_of(session, ticket_id)


def _blocks(message: OutboundMessage) -> list[dict[str, Any]] | None:
    blocks = message.meta.get("blocks")
    return list(blocks) if blocks else None


def _error_code(exc: SlackApiError) -> str:
    try:
        return str(exc.response.get("error") or "")
    except Exception:  # a non-JSON body
        return ""


def map_api_error(exc: SlackApiError) -> SendResult:
    """Slack's answer -> the outbox's decision (see the module docstring)."""
    status = int(getattr(exc.response, "status_code", 0) or 0)
    code = _error_code(exc)
    if status == 429 or code == "ratelimited":
        return SendResult.retry(
            f"slack rate limited ({code or status})", after=_retry_after(exc), scope="global"
        )
    if status >= 500 or code in RETRYABLE_ERRORS:
        return SendResult.retry(f"slack error {status} {code}".strip())
    return SendResult.failed(f"slack refused: {code or status}")


def _retry_after(exc: SlackApiError) -> float:
    headers = getattr(exc.response, "headers", None) or {}
    value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else DEFAULT_RETRY_AFTER
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER
