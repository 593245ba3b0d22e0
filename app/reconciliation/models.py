"""Reconciliation (对账) with the national 1+X platform: a list downloaded from the platform,
compared row by row with the registrations, results and certificates recorded here."""

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, model_validator
from sqlmodel import JSON, Field, SQLModel

from app.core.i18n import N_, Message
from app.core.models import Schema, Timestamped, enum_type
from app.core.types import UTCDateTime
from app.imports.models import RowError
from app.reference.models import Level


class Group(StrEnum):
    """Where a row of the comparison falls."""

    same = "same"
    different = "different"
    platform_only = "platform_only"
    local_only = "local_only"


GROUP_LABELS = {
    Group.same: N_("Same"),
    Group.different: N_("Different"),
    Group.platform_only: N_("Only on the platform"),
    Group.local_only: N_("Only here"),
}
"""The groups' names as the export's sheets show them (translated when written)."""


class Outcome(StrEnum):
    applied = "applied"
    unchanged = "unchanged"
    refused = "refused"


class Difference(StrEnum):
    """A field compared: the platform's value differs from the one here."""

    result = "result"
    score = "score"
    certificate_number = "certificate_number"
    issue_date = "issue_date"
    national_id = "national_id"


# --- tables ----------------------------------------------------------------------------------


class Reconciliation(Timestamped, table=True):
    """One comparison of a national list with the records here, for one year's pilots."""

    __tablename__ = "reconciliations"

    id: int | None = Field(default=None, primary_key=True)
    year: int = Field(index=True)
    file_name: str = Field(max_length=255)
    sha256: str = Field(max_length=64)
    rows: int
    used_columns: dict[str, str] = Field(sa_type=JSON)
    ignored_columns: list[str] = Field(sa_type=JSON)
    errors: list[dict[str, Any]] = Field(sa_type=JSON)
    same: int
    different: int
    platform_only: int
    local_only: int
    ambiguous: int
    actor: str = Field(max_length=100)
    actor_user_id: int | None = Field(default=None)
    actor_api_key_id: int | None = Field(default=None)
    college_id: int | None = Field(default=None, index=True)
    evaluation_org_id: int | None = Field(default=None, index=True)


class ReconciliationRow(SQLModel, table=True):
    """One row of a comparison: the platform's row (when there is one), the registration here
    it matched (when one did), the fields that differ and what applying it did."""

    __tablename__ = "reconciliation_rows"
    __table_args__ = (
        sa.Index("ix_reconciliation_rows_reconciliation_group", "reconciliation_id", "group"),
    )

    id: int | None = Field(default=None, primary_key=True)
    reconciliation_id: int = Field(foreign_key="reconciliations.id")
    group: Group = Field(sa_type=enum_type(Group))
    line: int | None = Field(default=None, description="The platform file's row number")
    matched_by: str | None = Field(default=None, max_length=30)
    ambiguous: bool = False
    candidates: list[int] | None = Field(default=None, sa_type=JSON)
    # Why nothing or several matched; a message (M_), shown in each reader's language.
    note: Message | None = Field(default=None, sa_type=JSON)
    differences: list[str] = Field(sa_type=JSON)
    # the platform's row
    name: str | None = Field(default=None, max_length=100)
    national_id_hash: str | None = Field(default=None, max_length=64)
    national_id_masked: str | None = Field(default=None, max_length=30)
    student_no: str | None = Field(default=None, max_length=20)
    certificate_name: str | None = Field(default=None, max_length=100)
    level: Level | None = Field(default=None, sa_type=enum_type(Level))
    passed: bool | None = None
    theory_score: Decimal | None = Field(default=None, sa_type=sa.Numeric(4, 1))
    practical_score: Decimal | None = Field(default=None, sa_type=sa.Numeric(4, 1))
    certificate_number: str | None = Field(default=None, max_length=64)
    issue_date: date | None = None
    evaluation_org_name: str | None = Field(default=None, max_length=200)
    # the records here it matched
    registration_id: int | None = Field(default=None)
    result_id: int | None = Field(default=None)
    issued_certificate_id: int | None = Field(default=None)
    student_id: int | None = Field(default=None)
    local_student_no: str | None = Field(default=None, max_length=20)
    local_name: str | None = Field(default=None, max_length=100)
    local_certificate_name: str | None = Field(default=None, max_length=100)
    local_level: Level | None = Field(default=None, sa_type=enum_type(Level))
    local_passed: bool | None = None
    local_theory_score: Decimal | None = Field(default=None, sa_type=sa.Numeric(4, 1))
    local_practical_score: Decimal | None = Field(default=None, sa_type=sa.Numeric(4, 1))
    local_certificate_number: str | None = Field(default=None, max_length=64)
    local_issue_date: date | None = None
    # applying it
    outcome: Outcome | None = Field(default=None, sa_type=enum_type(Outcome))
    # Why applying it was refused, or what it did; a message, as the note.
    outcome_reason: Message | None = Field(default=None, sa_type=JSON)
    outcome_code: str | None = Field(default=None, max_length=50)
    applied_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class NationalIdentity(Timestamped, table=True):
    """The keyed hash (HMAC-SHA256 with the service's secret) of the national id number the
    platform gave for a student here; the number itself is never stored."""

    __tablename__ = "national_identities"

    id: int | None = Field(default=None, primary_key=True)
    student_id: int = Field(foreign_key="students.id", unique=True)
    national_id_hash: str = Field(max_length=64, index=True)
    reconciliation_id: int = Field(foreign_key="reconciliations.id")


# --- schemas ---------------------------------------------------------------------------------


class RowPublic(Schema):
    id: int
    group: Group
    line: int | None = Field(description="The platform file's row number (null: only here)")
    matched_by: str | None = Field(
        description="certificate_number, student_no, national_id or name (name + certificate "
        "+ level); null when nothing here matched"
    )
    ambiguous: bool = Field(description="Several registrations here fit; none was chosen")
    candidates: list[int] | None = Field(description="The registrations that fit, when ambiguous")
    note: str | None = Field(
        description="Why nothing here matched, or several did; in the reader's language"
    )
    differences: list[Difference]
    name: str | None
    national_id: str | None = Field(description="Masked, e.g. 3101**********1234")
    student_no: str | None
    certificate_name: str | None
    level: Level | None
    passed: bool | None
    theory_score: Decimal | None
    practical_score: Decimal | None
    certificate_number: str | None
    issue_date: date | None
    evaluation_org_name: str | None
    registration_id: int | None
    result_id: int | None
    issued_certificate_id: int | None
    student_id: int | None
    local_student_no: str | None
    local_name: str | None
    local_certificate_name: str | None
    local_level: Level | None
    local_passed: bool | None
    local_theory_score: Decimal | None
    local_practical_score: Decimal | None
    local_certificate_number: str | None
    local_issue_date: date | None
    outcome: Outcome | None
    outcome_reason: str | None = Field(
        description="Why applying the row was refused, or what it did; in the reader's language"
    )
    outcome_code: str | None = Field(
        description="The refusal's machine code, as `code` in the apply report (null unless "
        "refused)"
    )
    applied_at: datetime | None


class Counts(Schema):
    same: int
    different: int
    platform_only: int
    local_only: int
    ambiguous: int = Field(description="Platform rows with several candidates (in platform_only)")


class ReconciliationSummary(Schema):
    id: int
    year: int
    file_name: str
    sha256: str
    rows: int = Field(description="Data rows read from the platform's file")
    used_columns: dict[str, str] = Field(
        description="Field → the file's header it was read from, e.g. certificate_number → 证书编号"
    )
    ignored_columns: list[str]
    counts: Counts
    actor: str
    created_at: datetime


class ReconciliationPublic(ReconciliationSummary):
    errors: list[RowError] = Field(description="Cells that could not be read (left out)")
    same: list[RowPublic]
    different: list[RowPublic]
    platform_only: list[RowPublic]
    local_only: list[RowPublic]


class ApplyBody(BaseModel):
    row_ids: list[int] | None = Field(
        default=None, max_length=10_000, description="The rows to apply (of this reconciliation)"
    )
    group: Group | None = Field(default=None, description="Or every row of one group")

    @model_validator(mode="after")
    def _one_of(self) -> "ApplyBody":
        if (self.row_ids is None) == (self.group is None):
            raise ValueError("give either row_ids or group")
        return self


class RowOutcome(Schema):
    row_id: int
    outcome: Outcome
    reason: str | None = Field(description="Why a row was refused, or what applying it did")
    code: str | None = Field(default=None, description="The refusal's machine code")


class ApplyReport(Schema):
    reconciliation_id: int
    applied: int
    unchanged: int
    refused: int
    rows: list[RowOutcome]


class ReconciliationFilters(BaseModel):
    """Filters of the reconciliations list."""

    year: int | None = Field(None, ge=2000, le=2100, description="Reconciliations of this year")
