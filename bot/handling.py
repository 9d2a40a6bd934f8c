"""Running the routers over one stored event inside the caller's transaction.

The processor (bot/processor.py) decides which events run in which transaction; this module
is what happens to one event there: build the handler's :class:`Context`, dispatch, and mark
the event processed (or record a failed attempt). Nothing here commits.
"""

from __future__ import annotations

import logging

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import deadletter, language, metrics
from bot.context import Context, Services
from bot.deadletter import RetryPolicy
from bot.dispatcher import Dispatcher
from bot.i18n import normalise_locale
from bot.messages import InboundMessage
from storage.models import ChannelIdentity, Conversation, Customer, InboundEvent, utcnow

log = logging.getLogger("crmbot.processor")

class HandlerFailed(Exception):
    """A handler raised outside a savepoint: the caller must roll back its transaction."""


class EventRunner:
    """Dispatches one event to the routers and records the outcome on the event row."""

    def __init__(self, services: Services, dispatcher: Dispatcher) -> None:
        self._services = services
        self._dispatcher = dispatcher

    async def refresh_kb(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        """Pick up knowledge-base edits before a batch, in a session of its own: a rebuild
        can take seconds after a big edit and must not hold the batch's transaction and its
        conversations' locks; a longer one goes on in the background (bot/kb.py)."""
        await self._services.kb.refresh_soon(sessions)

    async def run_unguarded(self, ctx: Context, event: InboundEvent) -> None:
        """The common case: no savepoint. A handler error is re-raised as HandlerFailed, and
        the transaction (with every other event in it) must be rolled back."""
        try:
            routed = await self._dispatcher.dispatch(ctx)
        except Exception as exc:
            raise HandlerFailed from exc
        self._done(ctx, event, routed)

    async def run_guarded(
        self, session: AsyncSession, ctx: Context, event: InboundEvent, policy: RetryPolicy
    ) -> bool:
        """Run the handlers in a savepoint; on an error record the attempt instead. False when
        the event stays pending for another attempt (a dead letter counts as handled)."""
        try:
            async with session.begin_nested():
                routed = await self._dispatcher.dispatch(ctx)
        except Exception as exc:
            await _reload(session, ctx, event)
            ctx.sent.clear()
            return await self.failed(session, ctx, event, exc, policy)
        self._done(ctx, event, routed)
        return True

    @staticmethod
    def _done(ctx: Context, event: InboundEvent, routed: str | None) -> None:
        """Marking the event processed is left to :func:`mark_processed`, once for all the
        events of the transaction."""
        metrics.PROCESSED.labels(routed or "unrouted").inc()

    async def failed(
        self, session: AsyncSession, ctx: Context | None, event: InboundEvent,
        exc: BaseException, policy: RetryPolicy,
    ) -> bool:
        """Record a failed attempt; on the last one close the event as a dead letter and tell
        the customer and staff (in a savepoint: a failure to tell must not keep the event
        alive). ``ctx`` is None when not even the context could be built."""
        if not deadletter.record_failure(event, exc, policy, utcnow()):
            return False
        if ctx is not None:
            try:
                async with session.begin_nested():
                    await deadletter.tell(ctx, event)
            except Exception:
                log.exception("could not tell anyone about dead letter %s", event.id)
        return True

    def context(
        self,
        session: AsyncSession,
        event: InboundEvent,
        conversation: Conversation,
        customer: Customer,
        identity: ChannelIdentity,
    ) -> Context:
        inbound = InboundMessage.from_json(event.payload)
        return Context(
            session=session,
            services=self._services,
            inbound=inbound,
            conversation=conversation,
            customer=customer,
            identity=identity,
            locale=self._locale(customer, inbound),
        )

    def _locale(self, customer: Customer, inbound: InboundMessage) -> str:
        """The customer's chosen language wins; else what they write in; else remembered.

        A command is no evidence of a language: its argument is a link code, a zone or a
        locale name ("/link JCKL-XNZY" reads as Swedish to the detector), and channels such as
        e-mail deliver commands as plain text."""
        if _is_prose(inbound) and not chose_language(customer):
            adopt_detected(customer, language.detect(inbound.text))
        chosen = normalise_locale(customer.locale) or normalise_locale(inbound.locale_hint)
        if chosen and not customer.locale:
            set_locale(customer, chosen, "platform")
        return chosen or self._services.settings.default_locale


def _is_prose(inbound: InboundMessage) -> bool:
    return inbound.kind in ("text", "edited") and not inbound.text.lstrip().startswith("/")


def chose_language(customer: Customer) -> bool:
    """They chose with /lang: nothing they write changes it until they choose again."""
    return (customer.attributes or {}).get("locale_source") == "explicit"


def adopt_detected(customer: Customer, detected: str | None) -> bool:
    """A language seen in what the customer wrote replaces the remembered one, unless they
    chose theirs; True when it did."""
    if detected is None or detected == customer.locale or chose_language(customer):
        return False
    set_locale(customer, detected, "detected")
    return True


def set_locale(customer: Customer, locale: str, source: str) -> None:
    """Remember the customer's language and where it came from (explicit beats detected)."""
    customer.locale = locale
    customer.attributes = {**(customer.attributes or {}), "locale_source": source}


async def _reload(session: AsyncSession, ctx: Context, event: InboundEvent) -> None:
    """After a rolled-back savepoint the ORM objects are expired; load them again explicitly."""
    for obj in (event, ctx.conversation, ctx.customer, ctx.identity):
        await session.refresh(obj)


async def mark_processed(
    session: AsyncSession, handled: list[tuple[InboundEvent, Customer]]
) -> None:
    """Mark these events processed and their customers contacted now: two
    UPDATEs for the whole transaction. Set on the ORM objects instead, each event's changes
    would be flushed on its own (the next event's first query autoflushes them), two
    statements per event."""
    if not handled:
        return
    now = utcnow()
    events = sorted({event.id for event, _ in handled})
    customers = sorted({customer.id for _, customer in handled})
    unsynced = {"synchronize_session": False}
    await session.execute(
        update(InboundEvent).where(InboundEvent.id.in_(events)).values(processed_at=now),
        execution_options=unsynced,
    )
    await session.execute(
        update(Customer).where(Customer.id.in_(customers)).values(last_contact_at=now),
        execution_options=unsynced,
    )
