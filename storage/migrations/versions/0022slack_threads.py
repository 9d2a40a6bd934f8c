"""slack_threads: a ticket's Slack thread moves off ``tickets`` into the desk's own table

Revision ID: 0022threads
Revises: 0003slack

``tickets.slack_channel`` and ``tickets.slack_thread_ts`` become ``slack_threads`` (ticket id,
channel, thread ts), copied for every ticket whose root post was delivered (a thread ts is
known). A ticket whose root post is still in the outbox gets its row when it is delivered.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022threads"
down_revision: str | None = "0003slack"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "slack_threads",
        sa.Column("ticket_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("thread_ts", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"],
                                name=op.f("fk_slack_threads_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_slack_threads")),
    )
    op.create_index("ix_slack_threads_thread", "slack_threads", ["channel", "thread_ts"],
                    unique=True)
    op.execute(
        "INSERT INTO slack_threads (ticket_id, channel, thread_ts) "
        "SELECT id, slack_channel, slack_thread_ts FROM tickets "
        "WHERE slack_channel IS NOT NULL AND slack_thread_ts IS NOT NULL"
    )
    op.drop_index("ix_tickets_slack_thread_ts", table_name="tickets")
    # plain ALTER TABLE … DROP COLUMN on both (SQLite >= 3.35): no copy of ``tickets``, which
    # other tables reference with foreign keys
    op.execute("ALTER TABLE tickets DROP COLUMN slack_thread_ts")
    op.execute("ALTER TABLE tickets DROP COLUMN slack_channel")


def downgrade() -> None:
    op.execute("ALTER TABLE tickets ADD COLUMN slack_channel VARCHAR(64)")
    op.execute("ALTER TABLE tickets ADD COLUMN slack_thread_ts VARCHAR(32)")
    op.create_index("ix_tickets_slack_thread_ts", "tickets", ["slack_thread_ts"])
    op.execute(
        "UPDATE tickets SET slack_channel = (SELECT s.channel FROM slack_threads s "
        "WHERE s.ticket_id = tickets.id), slack_thread_ts = (SELECT s.thread_ts "
        "FROM slack_threads s WHERE s.ticket_id = tickets.id)"
    )
    op.drop_index("ix_slack_threads_thread", table_name="slack_threads")
    op.drop_table("slack_threads")
