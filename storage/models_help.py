"""Tables of the public help center (issue 33): what visitors read, voted and did not find.

Visitors are anonymous: nothing here says who read or voted. ``help_article_stats`` counts
views and votes per article (the most-read list and helpfulness in reports); ``help_votes``
keeps each "Was this helpful?" answer with its optional comment for the KB's editors;
``help_searches`` keeps searches that found no good match: knowledge gaps, like the bot's
unanswered questions.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, BigId, utcnow


class HelpArticleStat(Base):
    __tablename__ = "help_article_stats"

    entry_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    locale: Mapped[str] = mapped_column(String(12), primary_key=True)
    views: Mapped[int] = mapped_column(default=0)
    helpful: Mapped[int] = mapped_column(default=0)
    unhelpful: Mapped[int] = mapped_column(default=0)


class HelpVote(Base):
    __tablename__ = "help_votes"
    __table_args__ = (Index("ix_help_votes_entry", "entry_id", "locale"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    entry_id: Mapped[str] = mapped_column(String(100))
    locale: Mapped[str] = mapped_column(String(12))
    helpful: Mapped[bool]
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class HelpSearch(Base):
    """A help-center search without a good match (a knowledge gap)."""

    __tablename__ = "help_searches"
    __table_args__ = (Index("ix_help_searches_created", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    locale: Mapped[str] = mapped_column(String(12))
    query: Mapped[str] = mapped_column(Text)
    best_entry_id: Mapped[str | None] = mapped_column(String(100))
    best_score: Mapped[float | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
