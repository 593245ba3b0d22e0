"""indexes for the long lists' default orders (students, registrations, issued certificates,
expenditures, conversion requests, credit records), so a page — by offset or by cursor — reads
an index range instead of sorting the table

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 11:44:53.961816
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("conversion_requests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_conversion_requests_created_at_id", ["created_at", "id"], unique=False
        )

    with op.batch_alter_table("credit_records", schema=None) as batch_op:
        batch_op.create_index(
            "ix_credit_records_recorded_on_id", ["recorded_on", "id"], unique=False
        )

    with op.batch_alter_table("exam_registrations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_exam_registrations_session_id_id", ["session_id", "id"], unique=False
        )

    with op.batch_alter_table("expenditures", schema=None) as batch_op:
        batch_op.create_index("ix_expenditures_spent_on_id", ["spent_on", "id"], unique=False)

    with op.batch_alter_table("issued_certificates", schema=None) as batch_op:
        batch_op.create_index(
            "ix_issued_certificates_issue_date_id", ["issue_date", "id"], unique=False
        )

    with op.batch_alter_table("students", schema=None) as batch_op:
        batch_op.create_index("ix_students_student_no_id", ["student_no", "id"], unique=False)



def downgrade() -> None:
    with op.batch_alter_table("students", schema=None) as batch_op:
        batch_op.drop_index("ix_students_student_no_id")

    with op.batch_alter_table("issued_certificates", schema=None) as batch_op:
        batch_op.drop_index("ix_issued_certificates_issue_date_id")

    with op.batch_alter_table("expenditures", schema=None) as batch_op:
        batch_op.drop_index("ix_expenditures_spent_on_id")

    with op.batch_alter_table("exam_registrations", schema=None) as batch_op:
        batch_op.drop_index("ix_exam_registrations_session_id_id")

    with op.batch_alter_table("credit_records", schema=None) as batch_op:
        batch_op.drop_index("ix_credit_records_recorded_on_id")

    with op.batch_alter_table("conversion_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_conversion_requests_created_at_id")

