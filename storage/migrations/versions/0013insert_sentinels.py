"""messages, outbox, customers: an insert-sentinel column for multi-row inserts on SQLite

Revision ID: 0013sentinels
Revises: 0012reports

``_sentinel`` (nullable integer, storage/models.py ``Message._sentinel``): SQLAlchemy fills it
with the row's position in a multi-row INSERT … RETURNING and sorts the returned ids by it. SQLite
cannot otherwise tie new ROWIDs to the parameter sets, so the processor's replies went in one
INSERT per row, and the inbox created each new chat's customer on its own. Nothing reads the
column; existing rows keep NULL. Adding a nullable column without a default rewrites nothing
(instant on both databases, whatever the table's size).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013sentinels"
down_revision: str | None = "0012reports"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("messages", "outbox", "customers")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("_sentinel", sa.Integer(), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite >= 3.35): a batch rebuild of ``messages`` would drop the
    # roll-up triggers that migration 0012reports put on it.
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} DROP COLUMN _sentinel")
