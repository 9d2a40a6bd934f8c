"""delivery_receipts: what a platform reported about a sent message (delivered, read, failed)

Revision ID: 0018receipts
Revises: 0017agents
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018receipts"
down_revision: str | None = "0017agents"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("receipt", sa.String(16), nullable=True))
        batch.add_column(sa.Column("receipt_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_outbox_channel_external_id", "outbox", ["channel", "external_id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_channel_external_id", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("receipt_at")
        batch.drop_column("receipt")
