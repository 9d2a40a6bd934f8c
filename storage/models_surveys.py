"""Tables of the surveys feature (issue #6): definitions, runs and answers.

A survey is data (``survey_definitions``: the validated definition as JSON, see
handlers/surveys/definitions.py). Each time a survey is put to one customer there is exactly one
``survey_runs`` row, made unique by ``(survey_id, subject)`` where ``subject`` says why it was
sent (``ticket:<id>`` for CSAT, ``campaign:<name>:<customer id>`` for a campaign): creating it
with INSERT … ON CONFLICT DO NOTHING makes sending idempotent and campaigns resumable.
``survey_answers`` is unique per ``(run_id, question)``: two taps on a button count once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, BigId, utcnow


class SurveyDefinitionRow(Base):
    """An admin-defined survey (a built-in one of the same id is overridden by it)."""

    __tablename__ = "survey_definitions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[dict[str, Any]]
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(200))


class SurveyRun(Base):
    """One survey put to one customer; ``question`` is the one awaiting an answer."""

    __tablename__ = "survey_runs"
    __table_args__ = (
        UniqueConstraint("survey_id", "subject"),
        Index("ix_survey_runs_pending", "conversation_id", "status"),
        Index("ix_survey_runs_survey", "survey_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    survey_id: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(200))
    campaign: Mapped[str | None] = mapped_column(String(100))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    channel: Mapped[str] = mapped_column(String(32))
    locale: Mapped[str] = mapped_column(String(12))
    agent: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="active")
    question: Mapped[str | None] = mapped_column(String(64))
    due_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    alerted_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]


class SurveyAnswer(Base):
    """One answer to one question of one run: a number (scale), an option id or free text."""

    __tablename__ = "survey_answers"
    __table_args__ = (
        UniqueConstraint("run_id", "question"),
        Index("ix_survey_answers_survey", "survey_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("survey_runs.id"))
    survey_id: Mapped[str] = mapped_column(String(64))
    question: Mapped[str] = mapped_column(String(64))
    value: Mapped[int | None]
    text: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
