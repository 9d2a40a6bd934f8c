"""web widget transcript, feedback intake, generated secrets

Revision ID: 0004web
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004web"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "web_chat_messages",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("chat_id", sa.String(length=200), nullable=False),
        sa.Column("client_id", sa.String(length=100), nullable=True),
        sa.Column("sender", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("buttons", sa.JSON(), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_chat_messages")),
        sa.UniqueConstraint(
            "chat_id", "client_id", name=op.f("uq_web_chat_messages_chat_id_client_id")
        ),
    )
    op.create_index(
        "ix_web_chat_messages_chat", "web_chat_messages", ["chat_id", "id"], unique=False
    )
    op.create_table(
        "feedback",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=True),
        sa.Column("url", sa.String(length=2000), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("language", sa.String(length=12), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("sentiment", sa.String(length=16), nullable=False),
        sa.Column("suggested_reply", sa.Text(), nullable=True),
        sa.Column("suggested_entry_id", sa.String(length=100), nullable=True),
        sa.Column("conversation_id", BIG_ID, nullable=True),
        sa.Column("ticket_id", BIG_ID, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"], ["conversations.id"],
            name=op.f("fk_feedback_conversation_id_conversations"),
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_feedback_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback")),
        sa.UniqueConstraint("source", "external_id", name=op.f("uq_feedback_source_external_id")),
    )
    op.create_index(op.f("ix_feedback_ticket_id"), "feedback", ["ticket_id"], unique=False)
    op.create_table(
        "web_secrets",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_web_secrets")),
    )


def downgrade() -> None:
    op.drop_table("web_secrets")
    op.drop_index(op.f("ix_feedback_ticket_id"), table_name="feedback")
    op.drop_table("feedback")
    op.drop_index("ix_web_chat_messages_chat", table_name="web_chat_messages")
    op.drop_table("web_chat_messages")
