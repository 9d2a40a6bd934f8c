"""surveys: definitions, runs, answers

Revision ID: 0005surveys
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005surveys"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "survey_definitions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_definitions")),
    )
    op.create_table(
        "survey_runs",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("survey_id", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("campaign", sa.String(length=100), nullable=True),
        sa.Column("conversation_id", BIG_ID, nullable=False),
        sa.Column("customer_id", BIG_ID, nullable=False),
        sa.Column("ticket_id", BIG_ID, nullable=True),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("locale", sa.String(length=12), nullable=False),
        sa.Column("agent", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("question", sa.String(length=64), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("alerted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["conversation_id"], ["conversations.id"],
            name=op.f("fk_survey_runs_conversation_id_conversations"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_survey_runs_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_survey_runs_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_runs")),
        sa.UniqueConstraint("survey_id", "subject", name=op.f("uq_survey_runs_survey_id_subject")),
    )
    op.create_index(
        op.f("ix_survey_runs_customer_id"), "survey_runs", ["customer_id"], unique=False
    )
    op.create_index(
        "ix_survey_runs_pending", "survey_runs", ["conversation_id", "status"], unique=False
    )
    op.create_index(
        "ix_survey_runs_survey", "survey_runs", ["survey_id", "created_at"], unique=False
    )
    op.create_table(
        "survey_answers",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("run_id", BIG_ID, nullable=False),
        sa.Column("survey_id", sa.String(length=64), nullable=False),
        sa.Column("question", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["survey_runs.id"], name=op.f("fk_survey_answers_run_id_survey_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_answers")),
        sa.UniqueConstraint("run_id", "question", name=op.f("uq_survey_answers_run_id_question")),
    )
    op.create_index(
        "ix_survey_answers_survey", "survey_answers", ["survey_id", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_survey_answers_survey", table_name="survey_answers")
    op.drop_table("survey_answers")
    op.drop_index("ix_survey_runs_survey", table_name="survey_runs")
    op.drop_index("ix_survey_runs_pending", table_name="survey_runs")
    op.drop_index(op.f("ix_survey_runs_customer_id"), table_name="survey_runs")
    op.drop_table("survey_runs")
    op.drop_table("survey_definitions")
