"""unanswered_picked: which suggestion the customer picked for an unanswered question

Revision ID: 0023picked
Revises: 0006admin

The admin's *Add as a phrasing of* is pre-filled with this entry when the customer chose one of
the bot's suggestions (the customer's own choice, rather than the bot's closest guess).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023picked"
down_revision: str | None = "0006admin"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("unanswered_questions") as batch:
        batch.add_column(sa.Column("picked_entry_id", sa.String(100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("unanswered_questions") as batch:
        batch.drop_column("picked_entry_id")
