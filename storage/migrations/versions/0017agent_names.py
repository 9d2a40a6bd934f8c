"""agent_names: staff display names learned from the desk (Slack users.info), cached a day

Revision ID: 0017agents
Revises: 0016replies
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017agents"
down_revision: str | None = "0016replies"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agent_names",
        sa.Column("agent_id", sa.String(200), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("agent_names")
