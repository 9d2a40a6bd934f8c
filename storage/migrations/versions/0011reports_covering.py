"""reports: covering and partial indexes for fast management reports

Revision ID: 0011reports
Revises: 0009reports
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011reports"
down_revision: str | None = "0009reports"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# name, table, columns, partial WHERE (storage/models_reports.py says why each exists)
INDEXES: tuple[tuple[str, str, list[str], str | None], ...] = (
    ("ix_messages_report_conv", "messages",
     ["conversation_id", "created_at", "direction", "sender", "kind", "kb_entry_id"], None),
    ("ix_messages_feedback", "messages", ["created_at", "conversation_id", "text"],
     "kind = 'feedback'"),
    ("ix_tickets_backlog", "tickets", ["created_at", "resolved_at"], None),
)


def upgrade() -> None:
    for name, table, columns, where in INDEXES:
        if where is None:
            op.create_index(name, table, columns)
        else:
            op.create_index(name, table, columns, sqlite_where=sa.text(where),
                            postgresql_where=sa.text(where))


def downgrade() -> None:
    for name, table, _, _ in INDEXES:
        op.drop_index(name, table_name=table)
