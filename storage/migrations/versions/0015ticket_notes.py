"""ticket_notes: internal notes on a ticket, written in Slack threads, the admin UI or the API

Revision ID: 0015notes
Revises: 0014dead

Staff notes are stored (never sent to the customer): a thread message without ``!reply``, or a
``note`` action through the REST API. ``source`` is the desk the note came from (slack, api).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015notes"
down_revision: str | None = "0014dead"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ticket_notes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("ticket_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  sa.ForeignKey("tickets.id"), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_ticket_notes_ticket", "ticket_notes", ["ticket_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_ticket_notes_ticket", table_name="ticket_notes")
    op.drop_table("ticket_notes")
