"""Queries on reviews, posts and ratings (storage/models_feedback.py) shared by the ticket
handlers and the Slack desk."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models_feedback import Feedback


async def of_ticket(session: AsyncSession, ticket_id: int) -> Feedback | None:
    """The review or post a ticket was opened for (the newest, should there be several)."""
    return await session.scalar(select(Feedback).where(Feedback.ticket_id == ticket_id)
                                .order_by(Feedback.id.desc()).limit(1))
