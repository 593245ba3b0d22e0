"""funding: sources, budget lines, subsidy runs and expenditures

Revision ID: 0008
Revises: 0006
Create Date: 2026-11-29 19:19:45.628117
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.core.types

revision: str = "0008"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "funding_sources",
        sa.Column("created_at", app.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "moe_special",
                "municipal_special",
                "school",
                "other",
                name="fundingkind",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("fiscal_year", sa.Integer(), nullable=False),
        sa.Column("amount", app.core.types.MoneyFen(), nullable=False),
        sa.Column("document_no", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("earmarked", sa.Boolean(), nullable=False),
        sa.Column("notes", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_funding_sources_amount_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_funding_sources")),
        sa.UniqueConstraint(
            "fiscal_year", "name", name=op.f("uq_funding_sources_fiscal_year_name")
        ),
    )
    with op.batch_alter_table("funding_sources", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_funding_sources_fiscal_year"), ["fiscal_year"], unique=False
        )

    op.create_table(
        "budget_lines",
        sa.Column("created_at", app.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column(
            "category",
            sa.Enum(
                "equipment",
                "teacher_training",
                "student_training",
                "exam_fee",
                "exam_subsidy",
                "other",
                name="category",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("amount", app.core.types.MoneyFen(), nullable=False),
        sa.Column("notes", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_budget_lines_amount_not_negative")),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["pilot_applications.id"],
            name=op.f("fk_budget_lines_application_id_pilot_applications"),
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["funding_sources.id"],
            name=op.f("fk_budget_lines_source_id_funding_sources"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_budget_lines")),
        sa.UniqueConstraint(
            "source_id",
            "application_id",
            "category",
            name=op.f("uq_budget_lines_source_id_application_id_category"),
        ),
    )
    with op.batch_alter_table("budget_lines", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_budget_lines_application_id"), ["application_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_budget_lines_source_id"), ["source_id"], unique=False)

    op.create_table(
        "subsidy_runs",
        sa.Column("created_at", app.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("line_id", sa.Integer(), nullable=False),
        sa.Column("amount_per_student", app.core.types.MoneyFen(), nullable=False),
        sa.Column("passed_count", sa.Integer(), nullable=False),
        sa.Column("already_paid_count", sa.Integer(), nullable=False),
        sa.Column("paid_count", sa.Integer(), nullable=False),
        sa.Column("total", app.core.types.MoneyFen(), nullable=False),
        sa.Column("spent_on", sa.Date(), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.CheckConstraint("amount_per_student > 0", name=op.f("ck_subsidy_runs_amount_positive")),
        sa.CheckConstraint("paid_count >= 0", name=op.f("ck_subsidy_runs_paid_count_not_negative")),
        sa.ForeignKeyConstraint(
            ["line_id"], ["budget_lines.id"], name=op.f("fk_subsidy_runs_line_id_budget_lines")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["exam_sessions.id"],
            name=op.f("fk_subsidy_runs_session_id_exam_sessions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subsidy_runs")),
    )
    with op.batch_alter_table("subsidy_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_subsidy_runs_line_id"), ["line_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_subsidy_runs_session_id"), ["session_id"], unique=False
        )

    op.create_table(
        "expenditures",
        sa.Column("created_at", app.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("line_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "payment",
                "subsidy",
                "reversal",
                name="expenditurekind",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("amount", app.core.types.MoneyFen(), nullable=False),
        sa.Column("spent_on", sa.Date(), nullable=False),
        sa.Column("payee", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("voucher_no", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("reverses_id", sa.Integer(), nullable=True),
        sa.Column("subsidy_run_id", sa.Integer(), nullable=True),
        sa.Column("exam_result_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "(kind = 'reversal' AND amount < 0 AND reverses_id IS NOT NULL) OR "
            "(kind <> 'reversal' AND amount > 0 AND reverses_id IS NULL)",
            name=op.f("ck_expenditures_sign_matches_kind"),
        ),
        sa.CheckConstraint(
            "(kind = 'subsidy') = (exam_result_id IS NOT NULL)",
            name=op.f("ck_expenditures_subsidy_has_result"),
        ),
        sa.ForeignKeyConstraint(
            ["exam_result_id"],
            ["exam_results.id"],
            name=op.f("fk_expenditures_exam_result_id_exam_results"),
        ),
        sa.ForeignKeyConstraint(
            ["line_id"], ["budget_lines.id"], name=op.f("fk_expenditures_line_id_budget_lines")
        ),
        sa.ForeignKeyConstraint(
            ["reverses_id"],
            ["expenditures.id"],
            name=op.f("fk_expenditures_reverses_id_expenditures"),
        ),
        sa.ForeignKeyConstraint(
            ["subsidy_run_id"],
            ["subsidy_runs.id"],
            name=op.f("fk_expenditures_subsidy_run_id_subsidy_runs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_expenditures")),
        sa.UniqueConstraint("exam_result_id", name=op.f("uq_expenditures_exam_result_id")),
        sa.UniqueConstraint("reverses_id", name=op.f("uq_expenditures_reverses_id")),
        sa.UniqueConstraint("voucher_no", name=op.f("uq_expenditures_voucher_no")),
    )
    with op.batch_alter_table("expenditures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_expenditures_line_id"), ["line_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_expenditures_spent_on"), ["spent_on"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_expenditures_subsidy_run_id"), ["subsidy_run_id"], unique=False
        )



def downgrade() -> None:
    with op.batch_alter_table("expenditures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_expenditures_subsidy_run_id"))
        batch_op.drop_index(batch_op.f("ix_expenditures_spent_on"))
        batch_op.drop_index(batch_op.f("ix_expenditures_line_id"))

    op.drop_table("expenditures")
    with op.batch_alter_table("subsidy_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subsidy_runs_session_id"))
        batch_op.drop_index(batch_op.f("ix_subsidy_runs_line_id"))

    op.drop_table("subsidy_runs")
    with op.batch_alter_table("budget_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_budget_lines_source_id"))
        batch_op.drop_index(batch_op.f("ix_budget_lines_application_id"))

    op.drop_table("budget_lines")
    with op.batch_alter_table("funding_sources", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_funding_sources_fiscal_year"))

    op.drop_table("funding_sources")
