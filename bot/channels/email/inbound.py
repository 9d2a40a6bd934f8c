"""One inbound mail, from whatever door it came in (SMTP listener or POST /email/inbound).

Order of the checks, and why: size first (nothing is parsed past CRMBOT_EMAIL_MAX_BYTES); then
parsing (a malformed mail is stored for staff, answered nowhere); then machine-written mail
(auto-replies, bounces, lists: stored, never answered, so two bots never loop); then the
per-sender rate limit; only then is the mail recorded and handed to ``core.ingest``. The
mail's record is written before ingest and is idempotent on Message-ID, so a crash between the
two is healed by the sender's redelivery (the inbox drops the repeat event itself).

Threading: a conversation's ``chat_id`` is the customer's lower-cased address (one
conversation per address, like a private chat). A mail whose In-Reply-To / References names a
mail we know joins that mail's conversation even from another address (a colleague replying
in the thread); the sender still gets their own channel identity.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.email.parse import MalformedMail, ParsedMail, fallback_message_id, parse_mail
from bot.channels.web.abuse import AbuseLimiter
from bot.messages import InboundMessage
from storage.models_email import EmailAttachment, EmailRecord
from storage.sql import insert_ignore

if TYPE_CHECKING:
    from bot.core import Core

log = logging.getLogger("crmbot.email")
NAME = "email"
Outcome = Literal["accepted", "duplicate", "ignored", "malformed", "oversize", "rate_limited",
                  "own"]
EMAIL_TABLE: Table = EmailRecord.__table__  # type: ignore[assignment]
NUMBER_ANSWER = re.compile(r"^\s*(\d{1,2})\s*[.)]?\s*$")


@dataclass(frozen=True)
class IntakeResult:
    outcome: Outcome
    detail: str = ""
    conversation_id: int | None = None


def event_id(message_id: str) -> str:
    """The inbox key: the Message-ID, or a hash of it when longer than the column (200)."""
    if len(message_id) <= 200:
        return message_id
    return "sha256:" + hashlib.sha256(message_id.encode()).hexdigest()


class MailIntake:
    """Checks, records and ingests inbound mail (shared by both inbound doors)."""

    def __init__(self, core: Core, limiter: AbuseLimiter | None = None) -> None:
        self._core = core
        self._settings = core.settings
        self._limiter = limiter or AbuseLimiter(core.settings.redis_url)
        self._own = (core.settings.email_from or "").lower()

    async def receive(self, raw: bytes, envelope_from: str | None = None) -> IntakeResult:
        if len(raw) > self._settings.email_max_bytes:
            log.warning("e-mail of %d bytes refused (limit %d)", len(raw),
                        self._settings.email_max_bytes)
            return IntakeResult("oversize", f"over {self._settings.email_max_bytes} bytes")
        try:
            mail = parse_mail(raw, envelope_from)
        except MalformedMail as exc:
            await self._keep(fallback_message_id(raw), None, "malformed", str(exc), raw)
            log.warning("malformed e-mail stored for staff: %s", exc)
            return IntakeResult("malformed", str(exc))
        return await self._checked(mail, raw)

    async def _checked(self, mail: ParsedMail, raw: bytes) -> IntakeResult:
        if mail.sender == self._own:
            await self._keep(mail.message_id, mail, "ignored", "from our own address", raw)
            return IntakeResult("own")
        if mail.auto_reason:
            await self._keep(mail.message_id, mail, "ignored", mail.auto_reason, raw)
            log.info("automatic e-mail from %s ignored: %s", mail.sender, mail.auto_reason)
            return IntakeResult("ignored", mail.auto_reason)
        wait = await self._limiter.hit(self._settings.email_rate_limit, "email", mail.sender)
        if wait:  # not stored: the sender is told to retry later (SMTP 451 / HTTP 429)
            log.warning("e-mail from %s rate limited (retry in %ss)", mail.sender, wait)
            return IntakeResult("rate_limited", f"retry in {wait}s")
        return await self._ingest(mail, raw)

    async def _ingest(self, mail: ParsedMail, raw: bytes) -> IntakeResult:
        async with self._core.sessions.begin() as session:
            chat_id = await self._chat_for(session, mail)
            record_id = await self._record(session, mail, chat_id, "accepted", "", raw)
            attachments = await self._store_attachments(session, record_id, mail)
            kind, data = await self._number_answer(session, chat_id, mail.text)
        result = await self._core.ingest(InboundMessage(
            channel=NAME, event_id=event_id(mail.message_id), user_id=mail.sender, chat_id=chat_id,
            text=mail.text, kind=kind if mail.text or not attachments else "unsupported",
            callback_data=data, display_name=mail.display_name or None,
            locale_hint=mail.language, attachments=tuple(attachments),
            raw={"subject": mail.subject, "message_id": mail.message_id, "from": mail.sender},
        ))
        if result.duplicate:
            return IntakeResult("duplicate", conversation_id=result.conversation_id)
        return IntakeResult("accepted", conversation_id=result.conversation_id)

    async def _chat_for(self, session: AsyncSession, mail: ParsedMail) -> str:
        """The conversation of the thread this mail answers, else the sender's own."""
        ids = list(mail.thread_ids)
        if ids:
            known = await session.scalar(
                select(EmailRecord.chat_id)
                .where(EmailRecord.message_id.in_(ids), EmailRecord.chat_id.is_not(None))
                .order_by(EmailRecord.id.desc()).limit(1))
            if known:
                return str(known)
        return mail.sender

    async def _number_answer(
        self, session: AsyncSession, chat_id: str, text: str
    ) -> tuple[Literal["text", "callback"], str | None]:
        """"2" answering a mail with numbered options presses that option's button."""
        match = NUMBER_ANSWER.match(text)
        if match is None:
            return "text", None
        buttons = await session.scalar(
            select(EmailRecord.buttons)
            .where(EmailRecord.chat_id == chat_id, EmailRecord.direction == "out",
                   EmailRecord.status != "failed")
            .order_by(EmailRecord.id.desc()).limit(1))
        index = int(match.group(1)) - 1
        if isinstance(buttons, list) and 0 <= index < len(buttons):
            return "callback", str(buttons[index])
        return "text", None

    async def _record(self, session: AsyncSession, mail: ParsedMail | None, chat_id: str | None,
                      status: str, reason: str, raw: bytes, message_id: str = "") -> int | None:
        values: dict[str, Any] = {
            "message_id": (mail.message_id if mail else message_id)[:255], "direction": "in",
            "chat_id": chat_id, "sender": mail.sender if mail else None,
            "subject": mail.subject if mail else "",
            "refs": " ".join(dict.fromkeys(mail.references + mail.in_reply_to)) if mail else "",
            "status": status, "reason": reason[:2000], "raw": raw,
        }
        return await insert_ignore(session, EMAIL_TABLE, values, ["message_id"])

    async def _keep(self, message_id: str, mail: ParsedMail | None, status: str, reason: str,
                    raw: bytes) -> None:
        """Store a mail that will not be answered, for staff to look at."""
        async with self._core.sessions.begin() as session:
            await self._record(session, mail, None, status, reason, raw, message_id)

    async def _store_attachments(
        self, session: AsyncSession, record_id: int | None, mail: ParsedMail
    ) -> list[dict[str, Any]]:
        if record_id is None:  # a redelivery: the first delivery stored them
            return [{"type": "email", "filename": a.filename} for a in mail.attachments]
        limit, size_limit = (self._settings.email_max_attachments,
                             self._settings.email_max_attachment_bytes)
        found = []
        for number, item in enumerate(mail.attachments):
            kept = number < limit and len(item.data) <= size_limit
            row = EmailAttachment(email_id=record_id, filename=item.filename,
                                  content_type=item.content_type, size=len(item.data),
                                  data=item.data if kept else None)
            session.add(row)
            await session.flush()
            found.append({"type": "email", "id": row.id, "filename": item.filename,
                          "content_type": item.content_type, "size": len(item.data),
                          "stored": kept})
        return found
