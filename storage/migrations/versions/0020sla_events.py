"""sla_events: first-response and resolution warnings and breaches, once per ticket and kind

Revision ID: 0020sla
Revises: 0019public
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020sla"
down_revision: str | None = "0019public"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ticket_sla_events",
        sa.Column("ticket_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  sa.ForeignKey("tickets.id"), primary_key=True),
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_ticket_sla_events_created", "ticket_sla_events", ["created_at"])


def downgrade() -> None:
    op.drop_table("ticket_sla_events")
