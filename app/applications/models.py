"""Pilot applications (试点申报), the teachers assigned to them and the majors' work plans
(试点工作方案)."""

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

import sqlalchemy as sa
from pydantic import BaseModel, StringConstraints, field_validator
from sqlmodel import Field, SQLModel

from app.core.i18n import N_, _
from app.core.labels import enum_labels
from app.core.listing import IdFilter, UpdatedSince
from app.core.models import PatchModel, Schema, Versioned, enum_type
from app.core.types import Money, MoneyFen, UTCDateTime
from app.reference.models import MAX_COHORT, MIN_COHORT, NO_NUL, Level, RefId

MIN_YEAR = 2000
MAX_YEAR = 2100
MAX_HEADCOUNT = 100_000
COHORT_YEARS_BEFORE = 5
COHORT_YEARS_AFTER = 1
MIN_CORE_COURSES = 3
MAX_CORE_COURSES = 5
MAX_LISTED = 50

Year = Annotated[int, Field(ge=MIN_YEAR, le=MAX_YEAR, description="The pilot year, e.g. 2022")]
Cohort = Annotated[
    int,
    Field(
        ge=MIN_COHORT,
        le=MAX_COHORT,
        description=f"Entry year (年级), at most {COHORT_YEARS_BEFORE} years before and "
        f"{COHORT_YEARS_AFTER} after the application year",
    ),
]
Headcount = Annotated[int, Field(ge=1, le=MAX_HEADCOUNT, description="Applied headcount (quota)")]
Contact = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=100, pattern=NO_NUL),
    Field(description="联系人: who answers questions about the application"),
]
Notes = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=2000, pattern=NO_NUL),
    Field(description="备注"),
]
Reason = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000, pattern=NO_NUL)
]
Budget = Annotated[
    Money,
    Field(
        ge=0,
        le=Decimal("999999999999.99"),
        description='经费预算 in yuan, as a string with at most 2 decimals, e.g. "20000.00"',
    ),
]
Section = Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000, pattern=NO_NUL)]


class Tier(StrEnum):
    """本科 / 高职 / 中职."""

    undergraduate = "本科"
    higher_vocational = "高职"
    secondary_vocational = "中职"


TIER_LABELS = enum_labels(
    Tier,
    {
        Tier.undergraduate: N_("Undergraduate"),
        Tier.higher_vocational: N_("Higher vocational"),
        Tier.secondary_vocational: N_("Secondary vocational"),
    },
)


class ApplicationStatus(StrEnum):
    draft = "draft"
    submitted = "submitted"
    approved = "approved"
    rejected = "rejected"
    closed = "closed"


APPLICATION_STATUS_LABELS = enum_labels(
    ApplicationStatus,
    {
        ApplicationStatus.draft: N_("Draft"),
        ApplicationStatus.submitted: N_("Submitted"),
        ApplicationStatus.approved: N_("Approved"),
        ApplicationStatus.rejected: N_("Rejected"),
        ApplicationStatus.closed: N_("Closed"),
    },
)


class PlanStatus(StrEnum):
    draft = "draft"
    filed = "filed"
    acknowledged = "acknowledged"
    returned = "returned"


PLAN_STATUS_LABELS = enum_labels(
    PlanStatus,
    {
        PlanStatus.draft: N_("Draft"),
        PlanStatus.filed: N_("Filed"),
        PlanStatus.acknowledged: N_("Acknowledged"),
        PlanStatus.returned: N_("Returned"),
    },
)


class TeacherRole(StrEnum):
    trainer = "trainer"
    evaluator = "evaluator"


TEACHER_ROLE_LABELS = enum_labels(
    TeacherRole,
    {
        TeacherRole.trainer: N_("Trainer"),
        TeacherRole.evaluator: N_("Assessor"),
    },
)


def cohort_problem(year: int, cohort: int) -> str | None:
    """Why ``cohort`` is not a plausible entry year for a pilot in ``year``, or None."""
    low, high = year - COHORT_YEARS_BEFORE, year + COHORT_YEARS_AFTER
    if not low <= cohort <= high:
        return _(
            "cohort {cohort} is not plausible for {year}: use an entry year from {low} to {high}",
            cohort=cohort,
            year=year,
            low=low,
            high=high,
        )
    return None


# --- tables ----------------------------------------------------------------------------------


class PilotApplication(Versioned, table=True):
    """One row of the 一览表: a certificate at a level piloted by some majors for some cohorts."""

    __tablename__ = "pilot_applications"
    __table_args__ = (
        sa.UniqueConstraint("year", "certificate_id", "level", "tier"),
        sa.CheckConstraint("headcount > 0", name="headcount_positive"),
        sa.CheckConstraint(f"year BETWEEN {MIN_YEAR} AND {MAX_YEAR}", name="year_range"),
    )

    id: int | None = Field(default=None, primary_key=True)
    year: int = Field(index=True)
    tier: Tier = Field(sa_type=enum_type(Tier))
    certificate_id: int = Field(foreign_key="certificates.id", index=True)
    level: Level = Field(sa_type=enum_type(Level))
    headcount: int
    contact: str | None = Field(default=None, max_length=100)
    notes: str | None = Field(default=None, max_length=2000)
    status: ApplicationStatus = Field(
        default=ApplicationStatus.draft, sa_type=enum_type(ApplicationStatus), index=True
    )
    rejection_reason: str | None = Field(default=None, max_length=1000)


class ApplicationMajor(SQLModel, table=True):
    __tablename__ = "pilot_application_majors"

    application_id: int = Field(
        foreign_key="pilot_applications.id", primary_key=True, ondelete="CASCADE"
    )
    major_id: int = Field(foreign_key="majors.id", primary_key=True, index=True)


class ApplicationCohort(SQLModel, table=True):
    __tablename__ = "pilot_application_cohorts"
    __table_args__ = (
        sa.CheckConstraint(f"cohort BETWEEN {MIN_COHORT} AND {MAX_COHORT}", name="cohort_range"),
    )

    application_id: int = Field(
        foreign_key="pilot_applications.id", primary_key=True, ondelete="CASCADE"
    )
    cohort: int = Field(primary_key=True)


class PilotTeacher(Versioned, table=True):
    """A teacher assigned to a pilot, as trainer, evaluator or both."""

    __tablename__ = "pilot_teachers"
    __table_args__ = (
        sa.UniqueConstraint("application_id", "teacher_id"),
        sa.CheckConstraint("trainer OR evaluator", name="has_role"),
    )

    id: int | None = Field(default=None, primary_key=True)
    application_id: int = Field(foreign_key="pilot_applications.id", ondelete="CASCADE")
    teacher_id: int = Field(foreign_key="teachers.id", index=True)
    trainer: bool = False
    evaluator: bool = False


class PilotPlan(Versioned, table=True):
    """One major's work plan for an approved application, filed with the academic office."""

    __tablename__ = "pilot_plans"
    __table_args__ = (
        sa.UniqueConstraint("application_id", "major_id"),
        sa.CheckConstraint("budget_amount >= 0", name="budget_not_negative"),
    )

    id: int | None = Field(default=None, primary_key=True)
    application_id: int = Field(foreign_key="pilot_applications.id")
    major_id: int = Field(foreign_key="majors.id", index=True)
    status: PlanStatus = Field(default=PlanStatus.draft, sa_type=enum_type(PlanStatus), index=True)
    programme_revision: str | None = Field(default=None, max_length=4000)
    teacher_training: str | None = Field(default=None, max_length=4000)
    student_training: str | None = Field(default=None, max_length=4000)
    exam_arrangements: str | None = Field(default=None, max_length=4000)
    training_resources: str | None = Field(default=None, max_length=4000)
    course_resources: str | None = Field(default=None, max_length=4000)
    budget_amount: Decimal | None = Field(default=None, sa_type=MoneyFen)
    budget_text: str | None = Field(default=None, max_length=4000)
    return_reason: str | None = Field(default=None, max_length=1000)
    filed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class PlanCourse(SQLModel, table=True):
    """The plan's certificate-integrated core courses (书证融通核心课程)."""

    __tablename__ = "pilot_plan_courses"

    plan_id: int = Field(foreign_key="pilot_plans.id", primary_key=True, ondelete="CASCADE")
    course_id: int = Field(foreign_key="courses.id", primary_key=True, index=True)


# --- application schemas ---------------------------------------------------------------------


def _distinct(values: list[int]) -> list[int]:
    return sorted(set(values))


TIER_TEXT = "本科, 高职 or 中职"
CERTIFICATE_TEXT = "The 1+X certificate piloted"
LEVEL_TEXT = "初级, 中级 or 高级; one the certificate offers"
MAJORS_TEXT = "The participating majors (1 or more; repeats count once)"
COHORTS_TEXT = "The entry years (年级) taking part (1 or more; repeats count once)"


class ApplicationCreate(Schema):
    year: Year
    tier: Tier = Field(description=TIER_TEXT)
    certificate_id: RefId = Field(description=CERTIFICATE_TEXT)
    level: Level = Field(description=LEVEL_TEXT)
    major_ids: list[RefId] = Field(min_length=1, max_length=MAX_LISTED, description=MAJORS_TEXT)
    cohorts: list[Cohort] = Field(min_length=1, max_length=10, description=COHORTS_TEXT)
    headcount: Headcount
    contact: Contact | None = None
    notes: Notes | None = None

    @field_validator("major_ids", "cohorts", mode="after")
    @classmethod
    def _sorted(cls, value: list[int]) -> list[int]:
        return _distinct(value)


class ApplicationUpdate(PatchModel):
    NULLABLE = frozenset({"contact", "notes"})

    year: Year | None = None
    tier: Tier | None = Field(default=None, description=TIER_TEXT)
    certificate_id: RefId | None = Field(default=None, description=CERTIFICATE_TEXT)
    level: Level | None = Field(default=None, description=LEVEL_TEXT)
    major_ids: list[RefId] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_LISTED,
        description=MAJORS_TEXT + "; replaces the list",
    )
    cohorts: list[Cohort] | None = Field(
        default=None, min_length=1, max_length=10, description=COHORTS_TEXT + "; replaces the list"
    )
    headcount: Headcount | None = None
    contact: Contact | None = None
    notes: Notes | None = None

    @field_validator("major_ids", "cohorts", mode="after")
    @classmethod
    def _sorted(cls, value: list[int] | None) -> list[int] | None:
        return None if value is None else _distinct(value)


class ApplicationRejectBody(Schema):
    reason: Reason = Field(description="Why the application is rejected; the college sees it")


class ApplicationMajorPublic(Schema):
    id: int
    code: str
    name: str
    college_id: int
    college_name: str
    plan_id: int | None = Field(description="This major's work plan, if one was started")
    plan_status: PlanStatus | None = Field(description="None: no plan yet")


class ApplicationPublic(Schema):
    id: int
    year: int
    tier: Tier
    certificate_id: int
    certificate_name: str
    level: Level
    majors: list[ApplicationMajorPublic] = Field(
        description="Participating majors with their college and work plan"
    )
    cohorts: list[int] = Field(description="Entry years (年级) taking part")
    headcount: int = Field(description="Applied headcount (申报人数)")
    contact: str | None
    notes: str | None
    status: ApplicationStatus = Field(description="draft, submitted, approved, rejected or closed")
    rejection_reason: str | None = Field(description="Why the office rejected it")
    allowed_actions: list[str] = Field(description="Workflow actions the current state allows")
    version: int
    created_at: datetime
    updated_at: datetime


class ApplicationListed(ApplicationPublic):
    """An application as its list answers it: the JSON fields, and the cells only its CSV/XLSX
    export has (left out of the JSON)."""

    major_names: list[str] = Field(exclude=True)
    cohort_labels: list[str] = Field(exclude=True)
    plans_filed: str = Field(exclude=True, description="Majors with a filed plan / majors")


class ApplicationFilters(UpdatedSince):
    """Filters of the applications list."""

    year: int | None = Field(None, ge=MIN_YEAR, le=MAX_YEAR, description="Pilot year")
    status: ApplicationStatus | None = Field(None, description="Only applications in this state")
    certificate_id: IdFilter = Field(None, description="Applications for this certificate")
    college_id: IdFilter = Field(None, description="Applications with a major of it")
    major_id: IdFilter = Field(None, description="Applications with this major")
    level: Level | None = Field(None, description="Only this level")
    tier: Tier | None = Field(None, description="Only this tier")
    cohort: int | None = Field(
        None, ge=MIN_COHORT, le=MAX_COHORT, description="Applications with this entry year (年级)"
    )


# --- teachers --------------------------------------------------------------------------------


class PilotTeacherSelection(BaseModel):
    """What a pilot's teacher list reads: the pilot named by the path (the list takes no query
    filters)."""

    application_id: int


class PilotTeacherCreate(Schema):
    teacher_id: RefId = Field(description="The teacher assigned")
    roles: list[TeacherRole] = Field(
        min_length=1, max_length=2, description="`trainer`, `evaluator` or both"
    )


class PilotTeacherPublic(Schema):
    id: int
    application_id: int
    teacher_id: int
    staff_no: str
    name: str
    college_id: int
    roles: list[TeacherRole]
    created_at: datetime


# --- plan schemas ----------------------------------------------------------------------------


class PlanSections(Schema):
    programme_revision: Section | None = Field(
        default=None, description="人才培养方案修订 talent-training programme revision"
    )
    teacher_training: Section | None = Field(default=None, description="师资培训")
    student_training: Section | None = Field(default=None, description="学生培训")
    exam_arrangements: Section | None = Field(default=None, description="考核安排")
    training_resources: Section | None = Field(default=None, description="实训资源建设")
    course_resources: Section | None = Field(default=None, description="课程资源建设")
    budget_amount: Budget | None = None
    budget_text: Section | None = Field(default=None, description="经费预算说明")


class PlanCreate(PlanSections):
    application_id: RefId = Field(description="The approved application the plan is for")
    major_id: RefId = Field(description="One of the application's majors; one plan each")
    core_course_ids: list[RefId] = Field(
        default_factory=list,
        max_length=10,
        description=f"书证融通核心课程: {MIN_CORE_COURSES}–{MAX_CORE_COURSES} courses of the "
        "major, checked when the plan is filed",
    )

    @field_validator("core_course_ids", mode="after")
    @classmethod
    def _sorted(cls, value: list[int]) -> list[int]:
        return _distinct(value)


class PlanUpdate(PatchModel, PlanSections):
    NULLABLE = frozenset(PlanSections.model_fields)

    core_course_ids: list[RefId] | None = Field(
        default=None, max_length=10, description="Replaces the core courses (书证融通核心课程)"
    )

    @field_validator("core_course_ids", mode="after")
    @classmethod
    def _sorted(cls, value: list[int] | None) -> list[int] | None:
        return None if value is None else _distinct(value)


class ReturnBody(Schema):
    reason: Reason = Field(description="What the college must change before filing again")


class PlanFilters(BaseModel):
    """Filters of the work plans list."""

    application_id: IdFilter = Field(None, description="Plans of this application")
    major_id: IdFilter = Field(None, description="Plans of this major")
    college_id: IdFilter = Field(None, description="Plans of this college's majors")
    status: PlanStatus | None = Field(None, description="Only plans in this state")
    year: int | None = Field(None, ge=MIN_YEAR, le=MAX_YEAR, description="Pilot year")


class PlanCoursePublic(Schema):
    id: int
    code: str
    name: str


class PlanPublic(Schema):
    id: int
    application_id: int
    major_id: int
    major_name: str
    college_id: int = Field(description="The major's college, which files the plan")
    status: PlanStatus = Field(description="draft, filed, acknowledged or returned")
    programme_revision: str | None
    teacher_training: str | None
    student_training: str | None
    exam_arrangements: str | None
    training_resources: str | None
    course_resources: str | None
    budget_amount: Money | None
    budget_text: str | None
    core_courses: list[PlanCoursePublic] = Field(description="书证融通核心课程")
    return_reason: str | None = Field(description="Why the office last returned it")
    filed_at: datetime | None = Field(description="When it was last filed")
    allowed_actions: list[str] = Field(description="Actions the current state allows")
    version: int
    created_at: datetime
    updated_at: datetime


class PlanListed(PlanPublic):
    """A plan as its list answers it, with the core courses' names for its CSV/XLSX export
    (left out of the JSON)."""

    core_course_names: list[str] = Field(exclude=True)


# --- report ----------------------------------------------------------------------------------


class ReportGroupBy(StrEnum):
    certificate = "certificate"
    college = "college"
    major = "major"
    level = "level"
    tier = "tier"


REPORT_GROUP_BY_LABELS = enum_labels(
    ReportGroupBy,
    {
        ReportGroupBy.certificate: N_("Certificate"),
        ReportGroupBy.college: N_("College"),
        ReportGroupBy.major: N_("Major"),
        ReportGroupBy.level: N_("Level"),
        ReportGroupBy.tier: N_("Tier"),
    },
)


class ReportRow(Schema):
    key: str = Field(description="The group's id (certificate, college, major) or value")
    label: str = Field(description="The group's name as people read it")
    applications: int = Field(description="Applications in the group")
    headcount: int = Field(description="Σ headcount of those applications")


class ApplicationsReport(Schema):
    year: int | None = Field(description="The year summarised; null: every year")
    group_by: ReportGroupBy
    rows: list[ReportRow] = Field(description="One row per group, by name")
    total_applications: int = Field(description="Distinct applications (each counted once)")
    total_headcount: int = Field(description="Σ headcount of distinct applications")
