"""Reads every event needs, taken once per processing batch instead of once per event.

Why: nearly every message asks two questions that are almost always "no": is a survey
question pending in this conversation (handlers/surveys/router.py), and does a person handle this
customer's case on another channel (handlers/identity/ ``follows_open_ticket``). Asked per
event they were two of the five statements per message, and each SELECT also forced a flush of
the previous event's rows, so a batch could not write its replies in one multi-row INSERT
(docs/benchmarks.md, "Load"). Here they are two statements per batch.

Consistency: the answers are as of the start of the batch. A batch holds one event per
conversation, so only a handler of the same event could change its own conversation's answer
before the read, and none does (runs are launched by a resolve, which the tickets router ends
on, or by campaigns outside processing). What another conversation's event in the same batch
changes (a linked channel's case going to human mode) is seen as if that event came after this
one, an order two messages a few milliseconds apart may have anyway. A customer merged during
the event has another id, which this snapshot does not cover: that read goes to the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from storage import survey_runs as store
from storage import tickets
from storage.models import Conversation
from storage.models_surveys import SurveyRun


@dataclass
class BatchReads:
    """The snapshot; the empty one (a context built outside the processor) always asks."""

    conversations: frozenset[int] = frozenset()
    customers: frozenset[int] = frozenset()
    runs: dict[int, SurveyRun] = field(default_factory=dict)
    cases: dict[int, set[int]] = field(default_factory=dict)

    @classmethod
    async def load(
        cls, session: AsyncSession, conversations: list[Conversation], now: datetime
    ) -> BatchReads:
        cids = [c.id for c in conversations]
        customers = sorted({c.customer_id for c in conversations if c.mode != "human"})
        return cls(
            conversations=frozenset(cids),
            customers=frozenset(customers),
            runs=await store.pending_runs(session, cids, now),
            cases=await tickets.human_cases(session, customers) if customers else {},
        )

    async def pending_run(
        self, session: AsyncSession, conversation_id: int, now: datetime
    ) -> SurveyRun | None:
        """The conversation's due active survey run (see :func:`store.pending_run`)."""
        if conversation_id in self.conversations:
            return self.runs.get(conversation_id)
        return await store.pending_run(session, conversation_id, now)

    async def human_elsewhere(
        self, session: AsyncSession, customer_id: int, conversation_id: int
    ) -> bool:
        """Whether a person handles this customer's case in another conversation."""
        if customer_id in self.customers:
            cases = self.cases.get(customer_id, set())
        else:
            cases = (await tickets.human_cases(session, [customer_id])).get(customer_id, set())
        return bool(cases - {conversation_id})
