"""Survey repository: definitions (database over built-ins), runs and answers.

These are the functions the admin API and the CLI call: :func:`save_definition`,
:func:`get_definition`, :func:`list_definitions`. Run and answer inserts are
INSERT … ON CONFLICT DO NOTHING, so a repeated trigger, a re-run campaign or a second tap on a
button changes nothing, on SQLite and PostgreSQL alike, even across processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.surveys.definitions import Survey, builtins, parse, to_data
from storage.models import utcnow
from storage.models_surveys import SurveyAnswer, SurveyDefinitionRow, SurveyRun
from storage.sql import insert_ignore
from storage.survey_runs import ACTIVE, pending_run, pending_runs

__all__ = ["ACTIVE", "pending_run", "pending_runs"]

CLOSED = ("completed", "skipped", "expired")


@dataclass(frozen=True, slots=True)
class StoredSurvey:
    survey: Survey
    source: str  # "builtin" or "database"
    version: int
    updated_at: datetime | None


async def save_definition(session: AsyncSession, survey: Survey, actor: str | None = None) -> int:
    """Store (or replace) a validated definition; returns its new version number."""
    row = await session.get(SurveyDefinitionRow, survey.id)
    if row is None:
        session.add(SurveyDefinitionRow(
            id=survey.id, data=to_data(survey), version=1, updated_at=utcnow(), updated_by=actor
        ))
        await session.flush()
        return 1
    row.data = to_data(survey)
    row.version += 1
    row.updated_at = utcnow()
    row.updated_by = actor
    return row.version


async def get_definition(session: AsyncSession, survey_id: str) -> Survey | None:
    """The stored definition, else the built-in one of that id, else None."""
    row = await session.get(SurveyDefinitionRow, survey_id)
    if row is not None:
        return parse(row.data, f"survey_definitions[{survey_id}]")
    return builtins().get(survey_id)


async def list_definitions(session: AsyncSession) -> list[StoredSurvey]:
    """Every usable survey: stored ones, plus built-ins that were not overridden."""
    found: dict[str, StoredSurvey] = {
        sid: StoredSurvey(s, "builtin", 0, None) for sid, s in builtins().items()
    }
    for row in (await session.scalars(select(SurveyDefinitionRow))).all():
        found[row.id] = StoredSurvey(parse(row.data, row.id), "database", row.version,
                                     row.updated_at)
    return [found[k] for k in sorted(found)]


async def create_run(session: AsyncSession, values: dict[str, Any]) -> SurveyRun | None:
    """Insert a run unless one exists for (survey_id, subject); None when it already did."""
    values = {"status": ACTIVE, "created_at": utcnow(), **values}
    run_id = await insert_ignore(
        session, SurveyRun.__table__, values, ["survey_id", "subject"]  # type: ignore[arg-type]
    )
    if run_id is None:
        return None
    return await session.get_one(SurveyRun, run_id)


async def record_answer(
    session: AsyncSession, run: SurveyRun, question: str, value: int | None, text: str | None,
    now: datetime,
) -> bool:
    """Store the answer; False when this question of this run was already answered."""
    new_id = await insert_ignore(
        session,
        SurveyAnswer.__table__,  # type: ignore[arg-type]
        {"run_id": run.id, "survey_id": run.survey_id, "question": question, "value": value,
         "text": text, "created_at": now},
        ["run_id", "question"],
    )
    return new_id is not None


async def answers_of(
    session: AsyncSession, run_id: int
) -> dict[str, tuple[int | None, str | None]]:
    rows = await session.execute(
        select(SurveyAnswer.question, SurveyAnswer.value, SurveyAnswer.text)
        .where(SurveyAnswer.run_id == run_id)
    )
    return {str(q): (v, t) for q, v, t in rows.all()}


async def close_run(session: AsyncSession, run: SurveyRun, status: str, now: datetime) -> None:
    run.status = status
    run.question = None
    run.completed_at = now


async def expire_overdue(session: AsyncSession, now: datetime) -> int:
    """Close every active run past its expiry (housekeeping; the router also does it lazily)."""
    result = await session.execute(
        update(SurveyRun)
        .where(SurveyRun.status == ACTIVE, SurveyRun.expires_at <= now)
        .values(status="expired", question=None, completed_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
