"""identity: link codes, link attempts, customer merges

Revision ID: 0007identity
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007identity"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "link_codes",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("customer_id", BIG_ID, nullable=False),
        sa.Column("identity_id", BIG_ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_by_identity_id", BIG_ID, nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                name=op.f("fk_link_codes_customer_id_customers")),
        sa.ForeignKeyConstraint(["identity_id"], ["channel_identities.id"],
                                name=op.f("fk_link_codes_identity_id_channel_identities")),
        sa.ForeignKeyConstraint(
            ["used_by_identity_id"], ["channel_identities.id"],
            name=op.f("fk_link_codes_used_by_identity_id_channel_identities")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_codes")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_link_codes_code_hash")),
    )
    op.create_index(op.f("ix_link_codes_customer_id"), "link_codes", ["customer_id"])
    op.create_table(
        "link_attempts",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("identity_id", BIG_ID, nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["identity_id"], ["channel_identities.id"],
                                name=op.f("fk_link_attempts_identity_id_channel_identities")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_attempts")),
    )
    op.create_index("ix_link_attempts_identity", "link_attempts", ["identity_id", "created_at"])
    op.create_table(
        "customer_merges",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("target_id", BIG_ID, nullable=False),
        sa.Column("source_id", BIG_ID, nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("moved", sa.JSON(), nullable=False),
        sa.Column("filled", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("undone_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("undone_by", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["source_id"], ["customers.id"],
                                name=op.f("fk_customer_merges_source_id_customers")),
        sa.ForeignKeyConstraint(["target_id"], ["customers.id"],
                                name=op.f("fk_customer_merges_target_id_customers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_merges")),
    )
    op.create_index(op.f("ix_customer_merges_source_id"), "customer_merges", ["source_id"])
    op.create_index(op.f("ix_customer_merges_target_id"), "customer_merges", ["target_id"])


def downgrade() -> None:
    op.drop_table("customer_merges")
    op.drop_table("link_attempts")
    op.drop_table("link_codes")
