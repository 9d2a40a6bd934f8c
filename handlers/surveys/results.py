"""Survey results: per question, channel, locale, agent and day/week; NPS; CSV export.

Functions for the reports and admin work: :func:`summary` returns a :class:`SurveySummary`
dataclass; :func:`export_csv` one row per answer. The period selects runs by when their first
question was due (``start`` inclusive, ``end`` exclusive, both optional).

Definitions used: NPS = % promoters (9-10) minus % detractors (0-6) over all 0-10 answers, in
-100..100. ``satisfied`` (the usual CSAT figure) = % of answers in the top two values of the
scale (4-5 on 1-5). Groupings use the survey's headline score (its first scale question).
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.surveys import store
from handlers.surveys.definitions import Question, Survey
from storage.models import utcnow
from storage.models_surveys import SurveyAnswer, SurveyRun

CSV_FIELDS = ("run_id", "survey_id", "campaign", "ticket_id", "channel", "locale", "agent",
              "question", "kind", "value", "text", "answered_at")


def nps(scores: Iterable[int]) -> float | None:
    """Net Promoter Score of 0-10 answers; None when there are none."""
    values = list(scores)
    if not values:
        return None
    promoters = sum(1 for v in values if v >= 9)
    detractors = sum(1 for v in values if v <= 6)
    return 100.0 * (promoters - detractors) / len(values)


@dataclass(frozen=True, slots=True)
class ScoreStats:
    count: int
    average: float | None
    distribution: dict[int, int]
    satisfied: float | None  # % in the top two values of the scale
    nps: float | None  # only for 0-10 scales


def score_stats(values: Sequence[int], question: Question) -> ScoreStats:
    if not values:
        return ScoreStats(0, None, {}, None, None)
    top = sum(1 for v in values if v >= question.max - 1)
    return ScoreStats(
        count=len(values),
        average=sum(values) / len(values),
        distribution=dict(sorted(Counter(values).items())),
        satisfied=100.0 * top / len(values),
        nps=nps(values) if (question.min, question.max) == (0, 10) else None,
    )


@dataclass(frozen=True, slots=True)
class QuestionResult:
    question: str
    kind: str
    answered: int
    score: ScoreStats | None = None
    choices: dict[str, int] = field(default_factory=dict)
    comments: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SurveySummary:
    survey_id: str
    start: datetime | None
    end: datetime | None
    sent: int
    responded: int
    completed: int
    skipped: int
    expired: int
    questions: list[QuestionResult]
    by_channel: dict[str, ScoreStats]
    by_locale: dict[str, ScoreStats]
    by_agent: dict[str, ScoreStats]
    by_day: dict[str, ScoreStats]
    by_week: dict[str, ScoreStats]

    @property
    def response_rate(self) -> float | None:
        return None if not self.sent else 100.0 * self.responded / self.sent


Row = tuple[SurveyAnswer, SurveyRun]


async def _runs(session: AsyncSession, survey_id: str, start: datetime | None,
                end: datetime | None) -> list[SurveyRun]:
    stmt = select(SurveyRun).where(SurveyRun.survey_id == survey_id)
    if start is not None:
        stmt = stmt.where(SurveyRun.due_at >= start)
    if end is not None:
        stmt = stmt.where(SurveyRun.due_at < end)
    return list((await session.scalars(stmt.order_by(SurveyRun.id))).all())


async def _answers(session: AsyncSession, survey_id: str, start: datetime | None,
                   end: datetime | None) -> list[Row]:
    stmt = (
        select(SurveyAnswer, SurveyRun)
        .join(SurveyRun, SurveyRun.id == SurveyAnswer.run_id)
        .where(SurveyRun.survey_id == survey_id)
    )
    if start is not None:
        stmt = stmt.where(SurveyRun.due_at >= start)
    if end is not None:
        stmt = stmt.where(SurveyRun.due_at < end)
    result = await session.execute(stmt.order_by(SurveyAnswer.id))
    return [(a, r) for a, r in result.all()]


async def _survey(session: AsyncSession, survey_id: str) -> Survey:
    survey = await store.get_definition(session, survey_id)
    if survey is None:
        raise ValueError(f"unknown survey {survey_id!r}")
    return survey


async def summary(session: AsyncSession, survey_id: str, start: datetime | None = None,
                  end: datetime | None = None, *, now: datetime | None = None) -> SurveySummary:
    survey = await _survey(session, survey_id)
    runs = await _runs(session, survey_id, start, end)
    rows = await _answers(session, survey_id, start, end)
    now = now or utcnow()
    expired = sum(1 for r in runs if r.status == "expired"
                  or (r.status == "active" and r.expires_at <= now))
    head = survey.score_question
    scores = [(a, r) for a, r in rows if head is not None and a.question == head.id
              and a.value is not None]

    def grouped(key: str) -> dict[str, ScoreStats]:
        groups: dict[str, list[int]] = defaultdict(list)
        for a, r in scores:
            groups[_key(key, a, r)].append(int(a.value or 0))
        assert head is not None or not groups
        return {k: score_stats(v, head) for k, v in sorted(groups.items())} if head else {}

    return SurveySummary(
        survey_id=survey_id, start=start, end=end, sent=len(runs),
        responded=len({r.id for _, r in rows}),
        completed=sum(1 for r in runs if r.status == "completed"),
        skipped=sum(1 for r in runs if r.status == "skipped"),
        expired=expired,
        questions=[_question_result(q, rows) for q in survey.questions],
        by_channel=grouped("channel"), by_locale=grouped("locale"), by_agent=grouped("agent"),
        by_day=grouped("day"), by_week=grouped("week"),
    )


def _key(kind: str, answer: SurveyAnswer, run: SurveyRun) -> str:
    if kind == "channel":
        return run.channel
    if kind == "locale":
        return run.locale
    if kind == "agent":
        return run.agent or "(none)"
    if kind == "day":
        return answer.created_at.date().isoformat()
    year, week, _ = answer.created_at.isocalendar()
    return f"{year}-W{week:02d}"


def _question_result(question: Question, rows: list[Row]) -> QuestionResult:
    mine = [a for a, _ in rows if a.question == question.id]
    if question.kind == "scale":
        values = [int(a.value) for a in mine if a.value is not None]
        return QuestionResult(question.id, "scale", len(mine), score=score_stats(values, question))
    if question.kind == "choice":
        counts = Counter(a.text or "" for a in mine)
        return QuestionResult(question.id, "choice", len(mine),
                              choices={o.id: counts.get(o.id, 0) for o in question.options})
    return QuestionResult(question.id, "text", len(mine),
                          comments=[a.text for a in mine if a.text])


async def export_csv(session: AsyncSession, survey_id: str, start: datetime | None = None,
                     end: datetime | None = None) -> str:
    """Every answer of the period as CSV text (header row: CSV_FIELDS)."""
    survey = await _survey(session, survey_id)
    kinds = {q.id: q.kind for q in survey.questions}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for a, r in await _answers(session, survey_id, start, end):
        writer.writerow([
            r.id, r.survey_id, r.campaign or "", r.ticket_id or "", r.channel, r.locale,
            r.agent or "", a.question, kinds.get(a.question, ""),
            "" if a.value is None else a.value, a.text or "", a.created_at.isoformat(),
        ])
    return out.getvalue()
