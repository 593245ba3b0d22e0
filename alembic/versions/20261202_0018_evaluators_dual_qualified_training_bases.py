"""evaluator (考评员) qualifications, teachers' 双师型 recognition, training bases (实训基地) with
their partners, certificates and pilots; exam sessions and expenditures may name a base

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02 19:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.core.types

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "training_bases",
        sa.Column("created_at", app.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("college_id", sa.Integer(), nullable=True),
        sa.Column("on_campus", sa.Boolean(), nullable=False),
        sa.Column("stations", sa.Integer(), nullable=False),
        sa.Column("exam_site", sa.Boolean(), nullable=False),
        sa.Column("notes", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.CheckConstraint("stations > 0", name=op.f("ck_training_bases_stations_positive")),
        sa.ForeignKeyConstraint(
            ["college_id"], ["colleges.id"], name=op.f("fk_training_bases_college_id_colleges")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_bases")),
        sa.UniqueConstraint("name", name=op.f("uq_training_bases_name")),
    )
    with op.batch_alter_table("training_bases", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_training_bases_college_id"), ["college_id"], unique=False
        )

    op.create_table(
        "evaluator_qualifications",
        sa.Column("created_at", app.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("teacher_id", sa.Integer(), nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column(
            "level",
            sa.Enum("初级", "中级", "高级", name="level", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("qualification_no", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column("issuer", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("notes", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.CheckConstraint(
            "valid_until IS NULL OR valid_until >= issued_on",
            name=op.f("ck_evaluator_qualifications_dates_ordered"),
        ),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["certificates.id"],
            name=op.f("fk_evaluator_qualifications_certificate_id_certificates"),
        ),
        sa.ForeignKeyConstraint(
            ["teacher_id"],
            ["teachers.id"],
            name=op.f("fk_evaluator_qualifications_teacher_id_teachers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluator_qualifications")),
        sa.UniqueConstraint(
            "qualification_no", name=op.f("uq_evaluator_qualifications_qualification_no")
        ),
    )
    with op.batch_alter_table("evaluator_qualifications", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_evaluator_qualifications_certificate_id"),
            ["certificate_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_evaluator_qualifications_teacher_id"), ["teacher_id"], unique=False
        )

    op.create_table(
        "training_base_certificates",
        sa.Column("base_id", sa.Integer(), nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["base_id"],
            ["training_bases.id"],
            name=op.f("fk_training_base_certificates_base_id_training_bases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["certificates.id"],
            name=op.f("fk_training_base_certificates_certificate_id_certificates"),
        ),
        sa.PrimaryKeyConstraint(
            "base_id", "certificate_id", name=op.f("pk_training_base_certificates")
        ),
    )
    with op.batch_alter_table("training_base_certificates", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_training_base_certificates_certificate_id"),
            ["certificate_id"],
            unique=False,
        )

    op.create_table(
        "training_base_partners",
        sa.Column("base_id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["base_id"],
            ["training_bases.id"],
            name=op.f("fk_training_base_partners_base_id_training_bases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("base_id", "name", name=op.f("pk_training_base_partners")),
    )
    op.create_table(
        "training_base_applications",
        sa.Column("base_id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["pilot_applications.id"],
            name=op.f("fk_training_base_applications_application_id_pilot_applications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["base_id"],
            ["training_bases.id"],
            name=op.f("fk_training_base_applications_base_id_training_bases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "base_id", "application_id", name=op.f("pk_training_base_applications")
        ),
    )
    with op.batch_alter_table("training_base_applications", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_training_base_applications_application_id"),
            ["application_id"],
            unique=False,
        )

    with op.batch_alter_table("exam_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("base_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_exam_sessions_base_id"), ["base_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_exam_sessions_base_id_training_bases"),
            "training_bases",
            ["base_id"],
            ["id"],
        )

    with op.batch_alter_table("expenditures", schema=None) as batch_op:
        batch_op.add_column(sa.Column("base_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_expenditures_base_id"), ["base_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_expenditures_base_id_training_bases"),
            "training_bases",
            ["base_id"],
            ["id"],
        )

    with op.batch_alter_table("teachers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "dual_basis",
                sa.Enum(
                    "enterprise_experience",
                    "professional_qualification",
                    "vocational_certificate",
                    name="dualbasis",
                    native_enum=False,
                    length=32,
                ),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("dual_recognised_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("dual_valid_until", sa.Date(), nullable=True))
        batch_op.create_check_constraint(
            op.f("ck_teachers_dual_basis_and_date"),
            "(dual_basis IS NULL) = (dual_recognised_on IS NULL)",
        )
        batch_op.create_check_constraint(
            op.f("ck_teachers_dual_dates_ordered"),
            "dual_valid_until IS NULL OR dual_valid_until >= dual_recognised_on",
        )


def downgrade() -> None:
    with op.batch_alter_table("teachers", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_teachers_dual_dates_ordered"), type_="check")
        batch_op.drop_constraint(op.f("ck_teachers_dual_basis_and_date"), type_="check")
        batch_op.drop_column("dual_valid_until")
        batch_op.drop_column("dual_recognised_on")
        batch_op.drop_column("dual_basis")

    with op.batch_alter_table("expenditures", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_expenditures_base_id_training_bases"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_expenditures_base_id"))
        batch_op.drop_column("base_id")

    with op.batch_alter_table("exam_sessions", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_exam_sessions_base_id_training_bases"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_exam_sessions_base_id"))
        batch_op.drop_column("base_id")

    with op.batch_alter_table("training_base_applications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_training_base_applications_application_id"))

    op.drop_table("training_base_applications")
    op.drop_table("training_base_partners")
    with op.batch_alter_table("training_base_certificates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_training_base_certificates_certificate_id"))

    op.drop_table("training_base_certificates")
    with op.batch_alter_table("evaluator_qualifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evaluator_qualifications_teacher_id"))
        batch_op.drop_index(batch_op.f("ix_evaluator_qualifications_certificate_id"))

    op.drop_table("evaluator_qualifications")
    with op.batch_alter_table("training_bases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_training_bases_college_id"))

    op.drop_table("training_bases")
