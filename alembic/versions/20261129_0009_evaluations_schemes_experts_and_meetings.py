"""Annual evaluation: schemes and evaluations; the expert committee: experts and meetings

Revision ID: 0009
Revises: 0006
Create Date: 2026-11-29 19:19:54.713353
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.core.types

revision: str = "0009"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "evaluation_schemes",
        sa.Column("created_at", app.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("weights", sa.JSON(), nullable=False),
        sa.Column("committee_weight", sa.Integer(), nullable=False),
        sa.Column("threshold_excellent", sa.Numeric(precision=4, scale=1), nullable=False),
        sa.Column("threshold_good", sa.Numeric(precision=4, scale=1), nullable=False),
        sa.Column("threshold_qualified", sa.Numeric(precision=4, scale=1), nullable=False),
        sa.Column("plan_deadline", sa.Date(), nullable=True),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("finalized_at", app.core.types.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "committee_weight BETWEEN 0 AND 100",
            name=op.f("ck_evaluation_schemes_committee_weight_range"),
        ),
        sa.CheckConstraint(
            "threshold_qualified < threshold_good AND threshold_good < threshold_excellent",
            name=op.f("ck_evaluation_schemes_thresholds_ordered"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluation_schemes")),
        sa.UniqueConstraint("year", name=op.f("uq_evaluation_schemes_year")),
    )
    op.create_table(
        "experts",
        sa.Column("created_at", app.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("organisation", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "evaluation_org",
                "enterprise",
                "school",
                name="expertkind",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("contact", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experts")),
    )
    with op.batch_alter_table("experts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_experts_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_experts_name"), ["name"], unique=False)

    op.create_table(
        "meetings",
        sa.Column("created_at", app.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_date", sa.Date(), nullable=False),
        sa.Column("topic", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("location", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("minutes", sqlmodel.sql.sqltypes.AutoString(length=10000), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meetings")),
    )
    with op.batch_alter_table("meetings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_meetings_meeting_date"), ["meeting_date"], unique=False
        )

    op.create_table(
        "meeting_attendees",
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("expert_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["expert_id"], ["experts.id"], name=op.f("fk_meeting_attendees_expert_id_experts")
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings.id"],
            name=op.f("fk_meeting_attendees_meeting_id_meetings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("meeting_id", "expert_id", name=op.f("pk_meeting_attendees")),
    )
    with op.batch_alter_table("meeting_attendees", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_meeting_attendees_expert_id"), ["expert_id"], unique=False
        )

    op.create_table(
        "meeting_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("text", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("owner", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings.id"],
            name=op.f("fk_meeting_decisions_meeting_id_meetings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting_decisions")),
        sa.UniqueConstraint(
            "meeting_id", "position", name=op.f("uq_meeting_decisions_meeting_id_position")
        ),
    )
    with op.batch_alter_table("meeting_decisions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_meeting_decisions_meeting_id"), ["meeting_id"], unique=False
        )

    op.create_table(
        "evaluations",
        sa.Column("created_at", app.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("indicators", sa.JSON(), nullable=False),
        sa.Column("committee_score", sa.Numeric(precision=4, scale=1), nullable=True),
        sa.Column(
            "committee_comments", sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=True
        ),
        sa.Column("weight_counted", sa.Integer(), nullable=False),
        sa.Column("total", sa.Numeric(precision=4, scale=1), nullable=True),
        sa.Column(
            "rating",
            sa.Enum("优秀", "良好", "合格", "不合格", name="rating", native_enum=False, length=32),
            nullable=True,
        ),
        sa.Column("needs_rectification", sa.Boolean(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=True),
        sa.Column("computed_at", app.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finalized_at", app.core.types.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "committee_score BETWEEN 0 AND 100", name=op.f("ck_evaluations_committee_score_range")
        ),
        sa.CheckConstraint("total BETWEEN 0 AND 100", name=op.f("ck_evaluations_total_range")),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["pilot_applications.id"],
            name=op.f("fk_evaluations_application_id_pilot_applications"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluations")),
        sa.UniqueConstraint("application_id", name=op.f("uq_evaluations_application_id")),
    )
    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_evaluations_year"), ["year"], unique=False)
        batch_op.create_index("ix_evaluations_year_rank", ["year", "rank"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.drop_index("ix_evaluations_year_rank")
        batch_op.drop_index(batch_op.f("ix_evaluations_year"))

    op.drop_table("evaluations")
    with op.batch_alter_table("meeting_decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meeting_decisions_meeting_id"))

    op.drop_table("meeting_decisions")
    with op.batch_alter_table("meeting_attendees", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meeting_attendees_expert_id"))

    op.drop_table("meeting_attendees")
    with op.batch_alter_table("meetings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meetings_meeting_date"))

    op.drop_table("meetings")
    with op.batch_alter_table("experts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_experts_name"))
        batch_op.drop_index(batch_op.f("ix_experts_kind"))

    op.drop_table("experts")
    op.drop_table("evaluation_schemes")
