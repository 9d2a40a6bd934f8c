"""inbound_events: retry_at and dead_at, so a failing event backs off and ends as a dead letter

Revision ID: 0014dead
Revises: 0013sentinels

``retry_at`` (nullable): a failed event is not tried again before it; the processor skips a
conversation whose oldest pending event is backing off (order per conversation is kept).
``dead_at`` (nullable): the event failed every attempt and was closed without its effects
(``processed_at`` is set too, so later events of the conversation go on). ``crmbot events dead``
lists these rows and ``crmbot events retry ID`` reopens one. Both columns are nullable without a
default: adding them rewrites nothing on either database.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014dead"
down_revision: str | None = "0013sentinels"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for column in ("retry_at", "dead_at"):
        op.add_column("inbound_events", sa.Column(column, sa.DateTime(timezone=True)))
    op.create_index("ix_inbound_dead", "inbound_events", ["dead_at"])


def downgrade() -> None:
    op.drop_index("ix_inbound_dead", table_name="inbound_events")
    op.execute("ALTER TABLE inbound_events DROP COLUMN dead_at")
    op.execute("ALTER TABLE inbound_events DROP COLUMN retry_at")
