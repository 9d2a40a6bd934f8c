"""kb_public: entries shown in the public help center (default true) and the help center's
feedback (votes, searches without a good match)

Revision ID: 0019public
Revises: 0018receipts
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019public"
down_revision: str | None = "0018receipts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("kb_entries") as batch:
        batch.add_column(sa.Column("public", sa.Boolean(), nullable=False,
                                   server_default=sa.true()))
    op.create_table(
        "help_article_stats",
        sa.Column("entry_id", sa.String(100), primary_key=True),
        sa.Column("locale", sa.String(12), primary_key=True),
        sa.Column("views", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("helpful", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("unhelpful", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_table(
        "help_votes",
        sa.Column("id", _big_id(), primary_key=True, autoincrement=True),
        sa.Column("entry_id", sa.String(100), nullable=False),
        sa.Column("locale", sa.String(12), nullable=False),
        sa.Column("helpful", sa.Boolean(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_help_votes_entry", "help_votes", ["entry_id", "locale"])
    op.create_table(
        "help_searches",
        sa.Column("id", _big_id(), primary_key=True, autoincrement=True),
        sa.Column("locale", sa.String(12), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("best_entry_id", sa.String(100), nullable=True),
        sa.Column("best_score", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_help_searches_created", "help_searches", ["created_at"])


def _big_id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def downgrade() -> None:
    for table in ("help_searches", "help_votes", "help_article_stats"):
        op.drop_table(table)
    with op.batch_alter_table("kb_entries") as batch:
        batch.drop_column("public")
