"""reports: time-range indexes for management reports

Revision ID: 0009reports
Revises: 0001
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009reports"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    ("ix_messages_created", "messages", "created_at"),
    ("ix_tickets_created", "tickets", "created_at"),
    ("ix_tickets_first_response", "tickets", "first_response_at"),
    ("ix_tickets_resolved", "tickets", "resolved_at"),
)


def upgrade() -> None:
    for name, table, column in INDEXES:
        op.create_index(name, table, [column])


def downgrade() -> None:
    for name, table, _ in INDEXES:
        op.drop_index(name, table_name=table)
