"""``/crmbot customer N``: the whole customer in Slack, answered to the caller only.

The same view as the admin UI's customer page (storage/customer_view.py), shortened for a
Slack message, with a link to that page.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.slack.text import escape
from bot.i18n import Translator
from storage.customer_view import customer_view
from storage.ticket_states import OPEN_STATUSES

LAST_MESSAGES = 5


async def customer_summary(
    sessions: async_sessionmaker[AsyncSession], translator: Translator, locale: str,
    public_url: str, customer_id: int,
) -> str:
    def t(key: str, **values: object) -> str:
        return translator.t(key, locale, **values)

    async with sessions() as session:
        view = await customer_view(session, customer_id, limit=LAST_MESSAGES)
    if view is None:
        return t("desk_customer_unknown", customer=customer_id)
    c = view.customer
    channels = sorted({i.channel for i in view.identities}) or ["—"]
    open_tickets = [f"#{x.id}" for x in view.tickets if x.status in OPEN_STATUSES] or ["—"]
    lines = [
        t("desk_customer_head", name=escape(c.display_name or f"#{c.id}"), customer=c.id,
          language=c.locale or "—", zone=c.timezone or "—"),
        t("desk_customer_channels", channels=", ".join(channels)),
        t("desk_customer_tickets", tickets=", ".join(open_tickets)),
        t("desk_customer_last"),
        *(f"> [{h.channel}] {h.sender}: {escape(h.text[:200])}" for h in view.timeline),
        f"<{public_url.rstrip('/')}/admin/customers/{c.id}|{t('desk_customer_link')}>",
    ]
    return "\n".join(lines)
