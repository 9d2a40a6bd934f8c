"""Dead letters: an event that fails every attempt is closed, told about, and kept for a retry.

An event can fail for reasons the handlers never see: its payload does not decode, the
database refuses a value while writing, a bug raises on every try. Retried forever, such an
event blocks its conversation (order per conversation means nothing behind it runs) and fills
the log with one traceback a second. So every failure, wherever it happens, is recorded on the
event: the attempt is counted, the error stored, and the event backs off (``retry_at``) with a
growing delay. After :attr:`RetryPolicy.attempts` failures it becomes a dead letter:
``processed_at`` and ``dead_at`` are set, so the conversation's later events go on in order;
the customer gets the apology (when it was their message), staff are told through the desk,
and a metric counts it. ``crmbot events dead`` lists dead letters; ``crmbot events retry ID``
reopens one after a fix (docs/operations.md).

Only the first failure of an event logs its traceback; later ones log one line each.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot import desk_notify, metrics
from bot.context import Context
from storage import tickets
from storage.clean import clean_text
from storage.models import InboundEvent

log = logging.getLogger("crmbot.processor")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a failing event is tried (defaults: 2 s, 8 s, 32 s)."""

    attempts: int = 4
    first_delay: float = 2.0
    factor: float = 4.0

    def delay(self, failed: int) -> timedelta:
        """The pause after the ``failed``-th failed attempt."""
        return timedelta(seconds=self.first_delay * self.factor ** max(failed - 1, 0))


def describe(exc: BaseException) -> str:
    """The error as storable text: an exception's message may quote the very characters
    (a lone surrogate, a NUL) that made the write fail."""
    return clean_text(f"{type(exc).__name__}: {exc}")[:2000]


def record_failure(
    event: InboundEvent, exc: BaseException, policy: RetryPolicy, now: datetime
) -> bool:
    """Count a failed attempt on the event; True when that made it a dead letter."""
    event.attempts = (event.attempts or 0) + 1
    event.error = describe(exc)
    if event.attempts == 1:
        log.error("event %s (%s) failed; will retry", event.id, event.channel, exc_info=exc)
    if event.attempts >= policy.attempts:
        event.processed_at = now
        event.dead_at = now
        event.retry_at = None
        metrics.DEAD_LETTERS.labels(event.channel).inc()
        metrics.PROCESSED.labels("dead").inc()
        log.error("event %s (%s) is a dead letter after %d attempts: %s",
                  event.id, event.channel, event.attempts, event.error)
        return True
    event.retry_at = now + policy.delay(event.attempts)
    if event.attempts > 1:
        log.warning("event %s (%s) failed again (attempt %d of %d): %s",
                    event.id, event.channel, event.attempts, policy.attempts, event.error)
    return False


async def tell(ctx: Context, event: InboundEvent) -> None:
    """The customer gets the apology for their own message; staff are told either way (a
    failed staff action is reported in the ticket's thread, so the agent knows it did not
    reach the customer)."""
    if ctx.inbound.channel == ctx.conversation.channel:
        ctx.reply(ctx.t("internal_error"))
    ticket = await tickets.latest_of_conversation(ctx.session, ctx.conversation.id)
    await desk_notify.tell(ctx, "dead_letter", ticket, event_id=event.id)
