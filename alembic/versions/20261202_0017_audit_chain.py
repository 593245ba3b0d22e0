"""the tamper-evident audit trail: each event's content hash (written with the event), the
chain's seals (one per sealed event) and its checkpoint

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 14:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.core.types

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("content_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )

    op.create_table(
        "audit_seals",
        sa.Column("event_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("chain_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_audit_seals")),
        sa.UniqueConstraint("seq", name=op.f("uq_audit_seals_seq")),
    )

    audit_chain = op.create_table(
        "audit_chain",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_event_id", sa.Integer(), nullable=True),
        sa.Column("last_xact_id", sa.BigInteger(), nullable=True),
        sa.Column("last_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("sealed_below", sa.BigInteger(), nullable=False),
        sa.Column("legacy_max_id", sa.Integer(), nullable=False),
        sa.Column("key_check", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("checkpoint_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("sealed_at", app.core.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain")),
    )
    # The events already written have no content hash: the checkpoint remembers how far they
    # go, so the first seal hashes them as they are and any later event without one is refused.
    legacy_max_id = op.get_bind().execute(sa.text("SELECT MAX(id) FROM audit_events")).scalar()
    op.bulk_insert(
        audit_chain,
        [{"id": 1, "last_seq": 0, "sealed_below": 0, "legacy_max_id": legacy_max_id or 0}],
    )


def downgrade() -> None:
    op.drop_table("audit_chain")
    op.drop_table("audit_seals")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_column("content_hash")
