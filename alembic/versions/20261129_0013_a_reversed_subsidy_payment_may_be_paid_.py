"""a reversed subsidy payment may be paid again: a result has at most one subsidy payment
that is not reversed (enforced by the run, which locks the exam session's row), no longer
one payment ever

Revision ID: 0013
Revises: 0011
Create Date: 2026-11-29 20:01:25.632283
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("expenditures", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_expenditures_exam_result_id"), type_="unique")
        batch_op.create_index(
            batch_op.f("ix_expenditures_exam_result_id"), ["exam_result_id"], unique=False
        )


def downgrade() -> None:
    # Fails if a result was paid again after a reversal (the data no longer fits the old rule).
    with op.batch_alter_table("expenditures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_expenditures_exam_result_id"))
        batch_op.create_unique_constraint(
            batch_op.f("uq_expenditures_exam_result_id"), ["exam_result_id"]
        )
