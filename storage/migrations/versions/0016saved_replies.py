"""saved_replies: canned answers staff send with ``:name`` (per locale, with placeholders)

Revision ID: 0016replies
Revises: 0015notes
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016replies"
down_revision: str | None = "0015notes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "saved_replies",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("locale", sa.String(12), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("name", "locale"),
    )


def downgrade() -> None:
    op.drop_table("saved_replies")
