"""Survey runs waiting for an answer: what every processing batch asks (bot/batchreads.py).

Plain queries on storage/models_surveys.py, kept here so the runtime's batch reads need no
import of the surveys feature (handlers/surveys/store.py re-exports them).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models_surveys import SurveyRun

ACTIVE = "active"


async def pending_run(
    session: AsyncSession, conversation_id: int, now: datetime
) -> SurveyRun | None:
    """The newest active run of this conversation whose first question is already due."""
    return (await pending_runs(session, [conversation_id], now)).get(conversation_id)


async def pending_runs(
    session: AsyncSession, conversation_ids: list[int], now: datetime
) -> dict[int, SurveyRun]:
    """:func:`pending_run` for many conversations in one statement (a processing batch);
    conversations without one are absent."""
    rows = await session.scalars(
        select(SurveyRun)
        .where(
            SurveyRun.conversation_id.in_(conversation_ids),
            SurveyRun.status == ACTIVE,
            SurveyRun.due_at <= now,
        )
        .order_by(SurveyRun.id)
    )
    return {run.conversation_id: run for run in rows}  # the newest wins
