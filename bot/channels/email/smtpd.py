"""The SMTP listener built into ``crmbot run`` (aiosmtpd), on CRMBOT_SMTP_LISTEN_HOST/PORT.

aiosmtpd refuses a mail over CRMBOT_EMAIL_MAX_BYTES with 552 before it reaches us. Replies,
so a sending server always knows what happened: 250 once the mail is stored (answered,
ignored as automatic, or kept for staff as malformed), 451 when the sender is over its rate
limit (the server retries later: nothing is lost), 552 oversize. An unexpected error is
logged and answered 451, and the listener keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from bot.channels.email.inbound import MailIntake

log = logging.getLogger("crmbot.email")

REPLIES = {
    "accepted": "250 2.0.0 OK: queued",
    "duplicate": "250 2.0.0 OK: already received",
    "own": "250 2.0.0 OK: ignored (our own address)",
    "ignored": "250 2.0.0 OK: automatic message ignored",
    "malformed": "250 2.0.0 OK: malformed, kept for staff",
    "oversize": "552 5.3.4 Message too big",
    "rate_limited": "451 4.7.1 Too many messages from this sender, try again later",
}


class IntakeHandler:
    """aiosmtpd handler: every DATA becomes one :meth:`MailIntake.receive`."""

    def __init__(self, intake: MailIntake) -> None:
        self._intake = intake

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        try:
            result = await self._intake.receive(bytes(raw), envelope.mail_from or "")
        except Exception:
            log.exception("e-mail intake failed; the sender will retry")
            return "451 4.3.0 Temporary failure, try again later"
        return REPLIES[result.outcome]


async def start_listener(intake: MailIntake, host: str, port: int, max_bytes: int,
                         hostname: str) -> asyncio.Server:
    """Listen on host:port (0 = any free port: read it from the returned server)."""
    handler = IntakeHandler(intake)
    loop = asyncio.get_running_loop()

    def factory() -> Any:
        return SMTP(handler, data_size_limit=max_bytes, enable_SMTPUTF8=True,
                    decode_data=False, hostname=hostname, ident="crmbot")

    return await loop.create_server(factory, host=host, port=port)
