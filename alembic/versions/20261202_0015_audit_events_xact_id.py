"""audit events record their writing transaction (xact_id), the change feed's order and
watermark, instead of one lock serialising every audited write

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

XACT_ID_DEFAULT_POSTGRESQL = "(pg_current_xact_id()::text)::bigint"


def upgrade() -> None:
    # Existing events get 0 (they come first in the feed, in id order, so old cursors still
    # work); on PostgreSQL new ones then default to the writing transaction's id.
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("xact_id", sa.BigInteger(), server_default=sa.text("0"), nullable=False)
        )
        batch_op.create_index(
            batch_op.f("ix_audit_events_xact_id_id"), ["xact_id", "id"], unique=False
        )
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "audit_events", "xact_id", server_default=sa.text(XACT_ID_DEFAULT_POSTGRESQL)
        )


def downgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_xact_id_id"))
        batch_op.drop_column("xact_id")
