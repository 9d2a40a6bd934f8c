"""The ``email`` channel adapter: outbox items delivered through an SMTP relay (aiosmtplib).

Outcomes for the outbox (the adapter never retries itself): a 4xx reply or any connection
problem -> retry later; a 5xx reply -> failed for good (a refused recipient also marks the
customer unreachable on this channel). Each sent mail is recorded in ``email_messages`` so the
next one threads under it and a numbered answer can be mapped back to its button.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from urllib.parse import urlencode

import aiosmtplib
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.email.compose import Composed, Thread, compose
from bot.config import Settings
from bot.i18n import Translator
from bot.messages import OutboundMessage
from bot.ports import RateLimit, SendResult
from storage.models_email import EmailRecord

log = logging.getLogger("crmbot.email")
NAME = "email"


class EmailAdapter:
    name = NAME

    def __init__(self, settings: Settings, sessions: async_sessionmaker[AsyncSession],
                 translator: Translator) -> None:
        self._settings = settings
        self._sessions = sessions
        self._translator = translator
        self._sender = settings.email_from or ""
        self.domain = (settings.email_message_id_domain
                        or self._sender.rpartition("@")[2] or "crmbot.invalid")

    @property
    def limits(self) -> tuple[RateLimit, ...]:
        return (RateLimit("global", 20, 1), RateLimit("chat", 5, 60))

    def is_group(self, chat_id: str) -> bool:
        return False

    async def send(self, message: OutboundMessage) -> SendResult:
        async with self._sessions() as session:
            thread = await latest_thread(session, message.chat_id)
        composed = compose(
            message, sender=self._sender, domain=self.domain, thread=thread,
            translator=self._translator, unsubscribe_url=self._unsubscribe_url(message),
        )
        # Recorded before the relay has it: a customer (or a test) may answer "2" as soon as the
        # mail arrives, and that answer is read against this record's numbered options.
        record_id = await self._record(message, composed)
        result = await self._deliver(composed)
        await self._settle(record_id, "sent" if result.ok else "failed")
        return result

    async def _deliver(self, composed: Composed) -> SendResult:
        settings = self._settings
        try:
            await aiosmtplib.send(
                composed.mail, hostname=settings.smtp_host, port=settings.smtp_port,
                username=settings.smtp_username, password=settings.smtp_password,
                use_tls=settings.smtp_security == "tls",
                start_tls=settings.smtp_security == "starttls",
                timeout=settings.smtp_timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            if codes and all(400 <= c < 500 for c in codes):
                return SendResult.retry(f"recipient deferred: {exc}")
            return SendResult.failed(f"recipient refused: {exc}", unreachable=True)
        except aiosmtplib.SMTPResponseException as exc:
            if 400 <= exc.code < 500:
                return SendResult.retry(f"SMTP {exc.code}: {exc.message}")
            return SendResult.failed(f"SMTP {exc.code}: {exc.message}")
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            return SendResult.retry(f"SMTP relay unreachable: {type(exc).__name__}: {exc}",
                                    scope="global")
        return SendResult.sent(composed.message_id)

    async def _record(self, message: OutboundMessage, composed: Composed) -> int:
        async with self._sessions.begin() as session:
            record = EmailRecord(
                message_id=composed.message_id[:255], direction="out", chat_id=message.chat_id,
                sender=self._sender, subject=composed.subject, refs=" ".join(composed.references),
                status="sending", reason="", buttons=list(composed.options) or None, raw=None,
            )
            session.add(record)
            await session.flush()
            return record.id

    async def _settle(self, record_id: int, status: str) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(EmailRecord).where(EmailRecord.id == record_id).values(status=status))

    def _unsubscribe_url(self, message: OutboundMessage) -> str | None:
        flags = ("broadcast", "announcement", "unsubscribe")
        if not any(message.meta.get(flag) for flag in flags):
            return None
        base = self._settings.public_url.rstrip("/")
        query = urlencode({"a": message.chat_id, "t": unsubscribe_token(self._settings,
                                                                         message.chat_id),
                           "l": message.locale})  # the page's language; not signed
        return f"{base}/email/unsubscribe?{query}"


def unsubscribe_token(settings: Settings, address: str) -> str:
    """HMAC of the address: an unsubscribe link works for that address only."""
    key = (settings.email_unsubscribe_secret or settings.email_inbound_token
           or settings.smtp_password or settings.email_from or "").encode()
    return hmac.new(key, address.lower().encode(), hashlib.sha256).hexdigest()[:32]


async def latest_thread(session: AsyncSession, chat_id: str) -> Thread | None:
    """The latest mail of the chat (in or out): the next mail answers it."""
    row = await session.scalar(
        select(EmailRecord)
        .where(EmailRecord.chat_id == chat_id, EmailRecord.status.in_(("accepted", "sent")))
        .order_by(EmailRecord.id.desc()).limit(1))
    if row is None:
        return None
    return Thread(row.message_id, tuple(row.refs.split()), row.subject)
