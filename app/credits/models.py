"""The credit bank (学分银行): conversion rules (certificate → course), students' conversion
requests with their review, and the append-only credit ledger."""

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Annotated

import sqlalchemy as sa
from pydantic import BaseModel, PlainValidator, StringConstraints, WithJsonSchema, model_validator
from sqlmodel import Field, SQLModel

from app.core.i18n import N_, _
from app.core.labels import enum_labels
from app.core.listing import IdFilter, UpdatedSince
from app.core.models import PatchModel, Schema, Timestamped, Versioned, enum_type
from app.core.params import MAX_DB_ID
from app.core.types import UTCDateTime
from app.credits.checks import period_problem
from app.exams.models import CertificateStatus
from app.reference.models import MAX_CREDITS, Level, RefId

CREDITS_PATTERN = r"^(\d|[1-9]\d)(\.\d)?$"
MAX_IDS = 500
ZERO = Decimal("0.0")
RULE_ENTITY = "conversion_rule"
REQUEST_ENTITY = "conversion_request"
CREDIT_ENTITY = "credit_record"
"""The audit trail's names of the three tables."""


def _positive_credits(value: object) -> Decimal:
    """Credits above 0 up to 99.9 with at most one decimal place (a string or a number)."""
    if isinstance(value, bool):
        raise ValueError(_("credits are a number above 0 and at most 99.9"))
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int | float):
        number = Decimal(str(value))
    elif isinstance(value, str) and len(value) <= 10:
        try:
            number = Decimal(value.strip())
        except ArithmeticError as exc:
            raise ValueError(_("credits are a number above 0 and at most 99.9")) from exc
    else:
        raise ValueError(_("credits are a number above 0 and at most 99.9"))
    if not number.is_finite() or not Decimal(0) < number <= MAX_CREDITS:
        raise ValueError(_("credits are a number above 0 and at most 99.9"))
    if number.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP) != number:
        raise ValueError(_("credits have at most one decimal place"))
    return number.quantize(Decimal("0.1"))


PositiveCredits = Annotated[
    Decimal,
    PlainValidator(_positive_credits),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "exclusiveMinimum": 0, "maximum": float(MAX_CREDITS)},
                {"type": "string", "pattern": CREDITS_PATTERN},
            ],
            "examples": ["4"],
            "description": "Credits granted: above 0, at most 99.9, one decimal place",
        }
    ),
]
Reason = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=1000, pattern=r"^[^\x00]*$"),
]
Note = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=1000, pattern=r"^[^\x00]*$")
]
RuleDate = Annotated[date, Field(ge=date(2000, 1, 1), le=date(2100, 12, 31))]


class ConversionMode(StrEnum):
    """How a certificate stands in for a course."""

    exemption = "免修"
    substitution = "替换"


CONVERSION_MODE_LABELS = enum_labels(
    ConversionMode,
    {
        ConversionMode.exemption: N_("Exemption"),
        ConversionMode.substitution: N_("Substitution"),
    },
)


class RequestStatus(StrEnum):
    submitted = "submitted"
    approved = "approved"
    rejected = "rejected"
    withdrawn = "withdrawn"
    reversed = "reversed"


REQUEST_STATUS_LABELS = enum_labels(
    RequestStatus,
    {
        RequestStatus.submitted: N_("Submitted"),
        RequestStatus.approved: N_("Approved"),
        RequestStatus.rejected: N_("Rejected"),
        RequestStatus.withdrawn: N_("Withdrawn"),
        RequestStatus.reversed: N_("Reversed"),
    },
)


class CreditKind(StrEnum):
    credit = "credit"
    reversal = "reversal"


CREDIT_KIND_LABELS = enum_labels(
    CreditKind,
    {
        CreditKind.credit: N_("Credit granted"),
        CreditKind.reversal: N_("Reversal"),
    },
)

LIVE_STATUSES = (RequestStatus.submitted, RequestStatus.approved)


# --- tables ----------------------------------------------------------------------------------


class ConversionRuleMajor(SQLModel, table=True):
    """The majors a rule applies to."""

    __tablename__ = "conversion_rule_majors"

    rule_id: int = Field(foreign_key="conversion_rules.id", primary_key=True, ondelete="CASCADE")
    major_id: int = Field(foreign_key="majors.id", primary_key=True, index=True)


class ConversionRule(Versioned, table=True):
    """A certificate at or above a level replaces (or exempts from) a course for some majors,
    for a period. Once a request used it, a change closes it and opens a new version."""

    __tablename__ = "conversion_rules"
    __table_args__ = (
        sa.CheckConstraint("credits > 0", name="credits_positive"),
        sa.CheckConstraint(
            "effective_from IS NULL OR effective_to IS NULL OR effective_from <= effective_to",
            name="period_ordered",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    certificate_id: int = Field(foreign_key="certificates.id", index=True)
    min_level: Level = Field(sa_type=enum_type(Level))
    course_id: int = Field(foreign_key="courses.id", index=True)
    credits: Decimal = Field(sa_type=sa.Numeric(4, 1))
    mode: ConversionMode = Field(sa_type=enum_type(ConversionMode))
    effective_from: date | None = Field(default=None)
    effective_to: date | None = Field(default=None)
    replaces_id: int | None = Field(
        default=None, foreign_key="conversion_rules.id", unique=True, nullable=True
    )
    notes: str | None = Field(default=None, max_length=1000)


class ConversionRequest(Versioned, table=True):
    """A student's request to turn an issued certificate into a course's credits by a rule.
    ``live`` is true while submitted or approved (NULL otherwise), so the unique constraint
    allows one live request per student and course on every database."""

    __tablename__ = "conversion_requests"
    __table_args__ = (
        sa.Index("ix_conversion_requests_created_at_id", "created_at", "id"),
        sa.UniqueConstraint("student_id", "course_id", "live"),
        sa.CheckConstraint(
            "(status IN ('submitted', 'approved')) = (live IS NOT NULL)",
            name="live_while_submitted_or_approved",
        ),
        sa.CheckConstraint("live IS NULL OR live", name="live_true_or_null"),
    )

    id: int | None = Field(default=None, primary_key=True)
    student_id: int = Field(foreign_key="students.id", index=True)
    issued_certificate_id: int = Field(foreign_key="issued_certificates.id", index=True)
    rule_id: int = Field(foreign_key="conversion_rules.id", index=True)
    course_id: int = Field(foreign_key="courses.id", index=True)
    status: RequestStatus = Field(
        default=RequestStatus.submitted, sa_type=enum_type(RequestStatus), index=True
    )
    live: bool | None = Field(default=True)
    note: str | None = Field(default=None, max_length=1000)
    reason: str | None = Field(default=None, max_length=1000)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decided_on: date | None = Field(default=None, index=True)
    decided_by: str | None = Field(default=None, max_length=100)


class CreditRecord(Timestamped, table=True):
    """One ledger line. Never updated or deleted: a credit is cancelled by a ``reversal`` line
    with the negative credits that points at it. One credit and at most one reversal per
    request (a unique constraint)."""

    __tablename__ = "credit_records"
    __table_args__ = (
        sa.Index("ix_credit_records_recorded_on_id", "recorded_on", "id"),
        sa.UniqueConstraint("request_id", "kind"),
        sa.CheckConstraint(
            "(kind = 'credit' AND credits > 0 AND reverses_id IS NULL) OR "
            "(kind = 'reversal' AND credits < 0 AND reverses_id IS NOT NULL)",
            name="sign_matches_kind",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    student_id: int = Field(foreign_key="students.id", index=True)
    course_id: int = Field(foreign_key="courses.id", index=True)
    request_id: int = Field(foreign_key="conversion_requests.id", index=True)
    issued_certificate_id: int = Field(foreign_key="issued_certificates.id", index=True)
    rule_id: int = Field(foreign_key="conversion_rules.id", index=True)
    kind: CreditKind = Field(sa_type=enum_type(CreditKind))
    credits: Decimal = Field(sa_type=sa.Numeric(4, 1))
    mode: ConversionMode = Field(sa_type=enum_type(ConversionMode))
    recorded_on: date
    reverses_id: int | None = Field(
        default=None, foreign_key="credit_records.id", unique=True, nullable=True
    )
    reason: str | None = Field(default=None, max_length=1000)
    recorded_by: str = Field(max_length=100)


# --- rule schemas ----------------------------------------------------------------------------


class _Period(Schema):
    @model_validator(mode="after")
    def _ordered(self) -> "_Period":
        start = getattr(self, "effective_from", None)
        end = getattr(self, "effective_to", None)
        problem = period_problem(start, end)
        if problem:
            raise ValueError(problem)
        return self


class RuleCreate(_Period):
    certificate_id: RefId
    min_level: Level = Field(description="The lowest certificate level the rule accepts")
    course_id: RefId
    credits: PositiveCredits
    mode: ConversionMode = Field(description="免修 (exemption) or 替换 (substitution)")
    major_ids: list[RefId] = Field(
        min_length=1, max_length=MAX_IDS, description="The majors the rule applies to"
    )
    effective_from: RuleDate | None = Field(
        default=None, description="First day in force (none: since always)"
    )
    effective_to: RuleDate | None = Field(
        default=None, description="Last day in force (none: open-ended)"
    )
    notes: Note | None = None


class RuleUpdate(PatchModel, _Period):
    NULLABLE = frozenset({"effective_to", "notes"})

    min_level: Level | None = None
    credits: PositiveCredits | None = None
    mode: ConversionMode | None = None
    major_ids: list[RefId] | None = Field(default=None, min_length=1, max_length=MAX_IDS)
    effective_from: RuleDate | None = Field(
        default=None,
        description="For a rule no request used: its first day. For a used rule: the first "
        "day of the new version (default: today in the school's time zone)",
    )
    effective_to: RuleDate | None = None
    notes: Note | None = None


class RuleFilters(BaseModel):
    """Filters of the conversion rules list."""

    certificate_id: IdFilter = None
    course_id: IdFilter = None
    major_id: int | None = Field(
        None, ge=1, le=MAX_DB_ID, description="Rules that apply to this major"
    )
    on: RuleDate | None = Field(
        None, description="Rules in force on this date (both bounds included)"
    )
    mode: ConversionMode | None = Field(None, description="免修 or 替换")


class MajorRef(Schema):
    id: int
    code: str
    name: str


class RulePublic(Schema):
    id: int
    certificate_id: int
    certificate_name: str
    min_level: Level
    course_id: int
    course_code: str
    course_name: str
    credits: Decimal
    mode: ConversionMode
    majors: list[MajorRef]
    effective_from: date | None
    effective_to: date | None
    replaces_id: int | None = Field(description="The earlier version this one replaced")
    superseded_by_id: int | None = Field(description="The later version that replaced this")
    used: bool = Field(description="A conversion request used it: changes open a new version")
    notes: str | None
    version: int
    created_at: datetime
    updated_at: datetime


class RuleRow(RulePublic):
    """A rule as the list's export writes it: its majors' names in one cell."""

    major_names: list[str]


# --- request schemas -------------------------------------------------------------------------


class RequestFilters(BaseModel):
    """Filters of the conversion requests list."""

    student_id: IdFilter = None
    status: RequestStatus | None = Field(None, description="The request's state")
    course_id: IdFilter = None
    certificate_id: IdFilter = None
    rule_id: IdFilter = None
    college_id: IdFilter = None


class RequestCreate(Schema):
    student_id: RefId | None = Field(
        default=None, description="The student; a student asking for themself may leave it out"
    )
    issued_certificate_id: RefId = Field(description="The student's issued certificate")
    rule_id: RefId = Field(description="The conversion rule to apply")
    note: Note | None = None


class ConversionRejectBody(Schema):
    reason: Reason


class CreditReverseBody(Schema):
    reason: Reason


class BulkApproveBody(Schema):
    ids: list[RefId] = Field(min_length=1, max_length=MAX_IDS, description="Request ids")


class BulkOutcome(Schema):
    id: int
    approved: bool
    status: RequestStatus | None = Field(description="The request's status after the attempt")
    code: str | None = Field(description="Why not, as a problem `code` (null when approved)")
    detail: str | None = None


class BulkApproveResult(Schema):
    approved: int
    refused: int
    results: list[BulkOutcome]


class RequestPublic(Schema):
    id: int
    student_id: int
    student_no: str
    student_name: str
    major_id: int
    college_id: int
    issued_certificate_id: int
    certificate_number: str
    certificate_id: int
    certificate_name: str
    level: Level
    rule_id: int
    course_id: int
    course_code: str
    course_name: str
    credits: Decimal
    mode: ConversionMode
    status: RequestStatus
    note: str | None
    reason: str | None
    decided_at: datetime | None
    decided_on: date | None
    decided_by: str | None
    allowed_actions: list[str]
    version: int
    created_at: datetime
    updated_at: datetime


# --- options and ledger ----------------------------------------------------------------------


class OptionChoice(Schema):
    """One way to claim a course: a rule and the certificate that qualifies for it."""

    rule_id: int
    issued_certificate_id: int
    certificate_number: str
    certificate_name: str
    level: Level = Field(description="The level of the issued certificate")
    min_level: Level = Field(description="The lowest level the rule accepts")
    issue_date: date
    credits: Decimal
    mode: ConversionMode


class ConversionOption(OptionChoice):
    """A course the student may still claim, once: the best way to claim it (most credits,
    then 替换 before 免修, then the higher level, then the earlier certificate) and any other
    ways their certificates qualify for it."""

    course_id: int
    course_code: str
    course_name: str
    alternatives: list[OptionChoice] = Field(
        description="Other (rule, certificate) pairs that also qualify for this course, best "
        "first; a course is credited once, so only one of them can be used"
    )


class ConversionOptions(Schema):
    student_id: int
    items: list[ConversionOption] = Field(description="One per course, by course code")


class CreditFilters(UpdatedSince):
    """Filters of the credit records list (and of one student's ledger)."""

    student_id: IdFilter = None
    course_id: IdFilter = None
    issued_certificate_id: IdFilter = None
    certificate_id: int | None = Field(
        None, ge=1, le=MAX_DB_ID, description="Certificate type (not the number)"
    )
    college_id: IdFilter = None
    kind: CreditKind | None = Field(None, description="A credit or a reversal line")
    reversed: bool | None = Field(
        None, description="Credits with (true) or without (false) a reversal line"
    )
    certificate_status: CertificateStatus | None = Field(
        None, description="The issued certificate's status now"
    )
    recorded_from: RuleDate | None = Field(None, description="Recorded on or after this day")
    recorded_to: RuleDate | None = Field(None, description="Recorded on or before this day")


class CreditLine(Schema):
    id: int
    student_id: int
    kind: CreditKind
    course_id: int
    course_code: str
    course_name: str
    credits: Decimal = Field(description="Negative on a reversal")
    mode: ConversionMode
    issued_certificate_id: int
    certificate_number: str
    certificate_name: str
    level: Level
    certificate_status: CertificateStatus = Field(
        description="The issued certificate's status now (a revoked one's credits are reversed)"
    )
    request_id: int
    rule_id: int
    recorded_on: date
    reverses_id: int | None
    reversed_by_id: int | None
    reason: str | None
    recorded_by: str
    created_at: datetime


class CreditRecordPublic(CreditLine):
    """A ledger line with its student, for the office's list across students."""

    student_no: str
    student_name: str
    major_id: int
    college_id: int


class CreditTotals(Schema):
    credits: Decimal = Field(description="Net credits (reversals subtracted)")
    exemption_credits: Decimal = Field(description="Net credits by 免修")
    substitution_credits: Decimal = Field(description="Net credits by 替换")
    courses: int = Field(description="Courses with a credit that is not reversed")


class Ledger(Schema):
    student_id: int
    student_no: str
    student_name: str
    items: list[CreditLine]
    totals: CreditTotals


# --- the report ------------------------------------------------------------------------------


class ConversionReportRow(Schema):
    request_id: int
    student_no: str
    student_name: str
    major_code: str
    major_name: str
    cohort: int
    certificate_name: str
    level: Level
    evaluation_org_name: str
    certificate_number: str
    issue_date: date
    course_code: str
    course_name: str
    credits: Decimal
    mode: ConversionMode
    approved_on: date


class RuleCount(Schema):
    rule_id: int
    certificate_name: str
    course_code: str
    course_name: str
    conversions: int
    credits: Decimal


class CourseCount(Schema):
    course_id: int
    course_code: str
    course_name: str
    conversions: int
    credits: Decimal


class ConversionReport(Schema):
    year: int | None = Field(description="Approval year in the school's time zone")
    rows: list[ConversionReportRow]
    per_rule: list[RuleCount]
    per_course: list[CourseCount]
    conversions: int
    credits: Decimal
