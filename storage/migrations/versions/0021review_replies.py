"""review_replies: the public reply staff sent back to a review's site, and who sent it

Revision ID: 0021replies
Revises: 0020sla, 0004web
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021replies"
down_revision: str | tuple[str, ...] | None = ("0020sla", "0004web")  # + the feedback table
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("feedback") as batch:
        batch.add_column(sa.Column("reply_text", sa.Text(), nullable=True))
        batch.add_column(sa.Column("replied_by", sa.String(200), nullable=True))
        batch.add_column(sa.Column("replied_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feedback") as batch:
        batch.drop_column("replied_at")
        batch.drop_column("replied_by")
        batch.drop_column("reply_text")
