"""Exams (考核): sessions, registrations (报名), results (成绩), issued certificates (证书编号)
and the public look-ups that the verification rate limit counts."""

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

import sqlalchemy as sa
from pydantic import BaseModel, StringConstraints, field_validator, model_validator
from sqlmodel import Field, SQLModel

from app.core.i18n import N_, _
from app.core.labels import enum_labels
from app.core.listing import IdFilter, UpdatedSince
from app.core.models import PatchModel, Schema, Timestamped, Versioned, enum_type
from app.core.types import Money, MoneyFen, UTCDateTime, unsigned_zero
from app.reference.models import Level, RefId
from app.trainings.models import SchoolDate

MAX_CAPACITY = 100_000
MAX_FEE = Decimal("99999.99")
SCORE_PLACE = Decimal("0.1")

Site = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Capacity = Annotated[int, Field(ge=1, le=MAX_CAPACITY, description="Seats (> 0)")]
Fee = Annotated[
    Money, Field(ge=0, le=MAX_FEE, description="Fee per candidate, paid to the organisation")
]
Score = Annotated[
    Decimal, Field(ge=0, le=100, max_digits=4, decimal_places=1, description="0–100, one decimal")
]
FilterDate = Annotated[date | None, Field(ge=date(2000, 1, 1), le=date(2100, 12, 31))]
CertificateNumber = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_./-]+$"
    ),
]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]


class SessionStatus(StrEnum):
    """Where a session is, by today's date in the school's time zone."""

    upcoming = "upcoming"
    open = "open"
    closed = "closed"
    held = "held"


SESSION_STATUS_LABELS = enum_labels(
    SessionStatus,
    {
        SessionStatus.upcoming: N_("Not yet open"),
        SessionStatus.open: N_("Registration open"),
        SessionStatus.closed: N_("Registration closed"),
        SessionStatus.held: N_("Held"),
    },
)


class RegistrationStatus(StrEnum):
    registered = "registered"
    cancelled = "cancelled"
    absent = "absent"
    sat = "sat"


REGISTRATION_STATUS_LABELS = enum_labels(
    RegistrationStatus,
    {
        RegistrationStatus.registered: N_("Registered"),
        RegistrationStatus.cancelled: N_("Cancelled"),
        RegistrationStatus.absent: N_("Absent"),
        RegistrationStatus.sat: N_("Sat the exam"),
    },
)


class CertificateStatus(StrEnum):
    valid = "valid"
    revoked = "revoked"


CERTIFICATE_STATUS_LABELS = enum_labels(
    CertificateStatus,
    {
        CertificateStatus.valid: N_("Valid"),
        CertificateStatus.revoked: N_("Revoked"),
    },
)

# --- tables ----------------------------------------------------------------------------------


class ExamSession(Versioned, table=True):
    """One exam of a certificate at a level, for the students of an approved pilot."""

    __tablename__ = "exam_sessions"
    __table_args__ = (
        sa.CheckConstraint("capacity > 0", name="capacity_positive"),
        sa.CheckConstraint("fee >= 0", name="fee_not_negative"),
        sa.CheckConstraint(
            "registration_opens <= registration_closes AND registration_closes <= exam_date",
            name="window_before_exam",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    application_id: int = Field(foreign_key="pilot_applications.id", index=True)
    certificate_id: int = Field(foreign_key="certificates.id", index=True)
    level: Level = Field(sa_type=enum_type(Level))
    evaluation_org_id: int = Field(foreign_key="evaluation_orgs.id", index=True)
    exam_date: date = Field(index=True)
    site: str = Field(max_length=200)
    base_id: int | None = Field(default=None, foreign_key="training_bases.id", index=True)
    capacity: int
    registration_opens: date
    registration_closes: date
    fee: Decimal = Field(sa_type=MoneyFen)


class ExamRegistration(Versioned, table=True):
    """A student's place in a session. ``live`` is true unless cancelled (NULL then), so the
    unique constraint allows one live registration per student and session on every
    database."""

    __tablename__ = "exam_registrations"
    __table_args__ = (
        sa.Index("ix_exam_registrations_session_id_id", "session_id", "id"),
        sa.UniqueConstraint("session_id", "student_id", "live"),
        sa.CheckConstraint("(status = 'cancelled') = (live IS NULL)", name="live_unless_cancelled"),
        sa.CheckConstraint("live IS NULL OR live", name="live_true_or_null"),
    )

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="exam_sessions.id", index=True)
    student_id: int = Field(foreign_key="students.id", index=True)
    application_id: int = Field(foreign_key="pilot_applications.id", index=True)
    status: RegistrationStatus = Field(
        default=RegistrationStatus.registered, sa_type=enum_type(RegistrationStatus), index=True
    )
    live: bool | None = Field(default=None, description="True unless cancelled (then NULL)")


class ExamResult(Versioned, table=True):
    """The result of one registration."""

    __tablename__ = "exam_results"
    __table_args__ = (
        sa.CheckConstraint("theory_score BETWEEN 0 AND 100", name="theory_score_range"),
        sa.CheckConstraint("practical_score BETWEEN 0 AND 100", name="practical_score_range"),
    )

    id: int | None = Field(default=None, primary_key=True)
    registration_id: int = Field(foreign_key="exam_registrations.id", unique=True)
    theory_score: Decimal | None = Field(default=None, sa_type=sa.Numeric(4, 1))
    practical_score: Decimal | None = Field(default=None, sa_type=sa.Numeric(4, 1))
    passed: bool


class IssuedCertificate(Versioned, table=True):
    """A certificate number issued for a passed result; publicly verifiable."""

    __tablename__ = "issued_certificates"
    __table_args__ = (sa.Index("ix_issued_certificates_issue_date_id", "issue_date", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=64, unique=True)
    result_id: int = Field(foreign_key="exam_results.id", unique=True)
    student_id: int = Field(foreign_key="students.id", index=True)
    session_id: int = Field(foreign_key="exam_sessions.id", index=True)
    issue_date: date
    status: CertificateStatus = Field(
        default=CertificateStatus.valid, sa_type=enum_type(CertificateStatus)
    )
    revoke_reason: str | None = Field(default=None, max_length=1000)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class PilotCandidate(SQLModel, table=True):
    """A candidate (a student in a pilot) as the funnel counts them, kept by the database:
    triggers on registrations, results, issued certificates, training enrolments and batches
    (migration 0022) add and take away each row's part in the writing transaction, so a report
    counts these rows instead of joining a year of registrations with their results and
    certificates. Each count is of rows, and a candidate counts as registered (sat, passed,
    certified, trained) when it is above 0:

    - ``registered``: live registrations in the pilot's sessions;
    - ``sat``: of them, those whose status is ``sat``;
    - ``passed``: of them, those with a passed result;
    - ``certified``: of them, those whose result has a valid certificate;
    - ``trained``: enrolments in the pilot's training batches.

    A row whose counts are all 0 is deleted. Derived data, so no foreign keys: a row exists
    only while the rows it counts (which reference the pilot and the student) do."""

    __tablename__ = "pilot_candidates"

    application_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    student_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    registered: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    sat: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    passed: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    certified: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    trained: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class PublicLookup(Timestamped, table=True):
    """One public verification request, kept a minute so the limit holds across workers."""

    __tablename__ = "public_lookups"
    __table_args__ = (sa.Index("ix_public_lookups_client_created", "client", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    client: str = Field(max_length=64)


# --- schemas ---------------------------------------------------------------------------------


class _Window(Schema):
    @model_validator(mode="after")
    def _ordered(self) -> "_Window":
        opens = getattr(self, "registration_opens", None)
        closes = getattr(self, "registration_closes", None)
        exam = getattr(self, "exam_date", None)
        if opens and closes and opens > closes:
            raise ValueError(_("registration_opens must be on or before registration_closes"))
        if closes and exam and closes > exam:
            raise ValueError(_("registration_closes must be on or before exam_date"))
        return self


class ExamSessionCreate(_Window):
    application_id: RefId = Field(description="The approved pilot whose students sit this exam")
    exam_date: SchoolDate
    site: Site = Field(description="考点")
    base_id: RefId | None = Field(
        default=None,
        description="The training base (实训基地) it is held at: a registered exam site whose "
        "stations are at least the capacity",
    )
    capacity: Capacity
    registration_opens: SchoolDate
    registration_closes: SchoolDate = Field(
        description="Registrations accepted to the end of this day"
    )
    fee: Fee


class ExamSessionUpdate(PatchModel, _Window):
    NULLABLE = frozenset({"base_id"})

    exam_date: SchoolDate | None = None
    site: Site | None = None
    base_id: RefId | None = Field(default=None, description="null: held at no training base")
    capacity: Capacity | None = None
    registration_opens: SchoolDate | None = None
    registration_closes: SchoolDate | None = None
    fee: Fee | None = None


class ExamSessionPublic(Schema):
    id: int
    application_id: int
    certificate_id: int
    certificate_name: str
    level: Level
    evaluation_org_id: int
    evaluation_org_name: str
    exam_date: date
    site: str
    base_id: int | None = Field(description="The training base it is held at")
    capacity: int
    registered: int = Field(description="Live registrations (not cancelled)")
    registration_opens: date
    registration_closes: date
    fee: Money
    status: SessionStatus
    version: int
    created_at: datetime
    updated_at: datetime


class RegistrationCreate(Schema):
    student_id: RefId | None = Field(
        default=None, description="The student; a student registering themself may leave it out"
    )


class ResultPut(Schema):
    theory_score: Score | None = None
    practical_score: Score | None = None
    passed: bool

    @field_validator("theory_score", "practical_score", mode="after")
    @classmethod
    def _one_place(cls, value: Decimal | None) -> Decimal | None:
        return None if value is None else unsigned_zero(value.quantize(SCORE_PLACE))


class ResultPublic(Schema):
    theory_score: Decimal | None
    practical_score: Decimal | None
    passed: bool
    version: int
    updated_at: datetime


class RegistrationPublic(Schema):
    id: int
    session_id: int
    exam_date: date
    certificate_id: int
    level: Level
    student_id: int
    student_no: str
    student_name: str
    major_id: int
    college_id: int
    cohort: int
    application_id: int
    status: RegistrationStatus
    result: ResultPublic | None
    allowed_actions: list[str]
    version: int
    created_at: datetime
    updated_at: datetime


class RegistrationRow(RegistrationPublic):
    """A registration as its export row: the result's scores and pass as cells of their own."""

    theory_score: Decimal | None = None
    practical_score: Decimal | None = None
    passed: bool | None = None


class RevokeBody(Schema):
    reason: Reason


class IssuedCertificatePublic(Schema):
    id: int
    number: str
    student_id: int
    student_no: str
    student_name: str
    session_id: int
    certificate_id: int
    certificate_name: str
    level: Level
    evaluation_org_id: int
    evaluation_org_name: str
    issue_date: date
    status: CertificateStatus
    revoke_reason: str | None
    revoked_at: datetime | None
    version: int
    created_at: datetime


class PublicCertificate(Schema):
    """What anyone may learn from a certificate number, and nothing else."""

    number: str
    holder: str = Field(description="The holder's masked name, e.g. 张*三")
    certificate: str
    level: Level
    evaluation_org: str
    issue_date: date
    status: CertificateStatus


# --- list filters ------------------------------------------------------------------------------


class ExamSessionFilters(BaseModel):
    """Filters of the exam sessions list."""

    certificate_id: IdFilter = Field(None, description="Sessions of this certificate")
    level: Level | None = Field(None, description="Sessions of this level")
    application_id: IdFilter = Field(None, description="Sessions of this pilot application")
    base_id: IdFilter = Field(None, description="Sessions held at this training base")
    date_from: FilterDate = Field(None, description="Exam on or after")
    date_to: FilterDate = Field(None, description="Exam on or before")
    status: SessionStatus | None = Field(
        None, description="upcoming (window not open), open, closed (window closed), held"
    )


class RegistrationFilters(UpdatedSince):
    """Filters of the registrations list."""

    session_id: IdFilter = Field(None, description="Registrations in this exam session")
    student_id: IdFilter = Field(None, description="Registrations of this student")
    application_id: IdFilter = Field(None, description="Registrations for this pilot")
    college_id: IdFilter = Field(None, description="Registrations of this college's students")
    status: RegistrationStatus | None = Field(None, description="Registrations in this state")


class IssuedCertificateFilters(UpdatedSince):
    """Filters of the issued certificates list."""

    student_id: IdFilter = Field(None, description="Certificates of this student")
    session_id: IdFilter = Field(None, description="Certificates from this exam session")
    certificate_id: IdFilter = Field(None, description="Certificates of this kind")
    status: CertificateStatus | None = Field(None, description="valid or revoked")
    number: str | None = Field(None, max_length=64, description="The certificate number, exactly")


# --- the funnel --------------------------------------------------------------------------------


class FunnelGroupBy(StrEnum):
    application = "application"
    certificate = "certificate"
    major = "major"
    cohort = "cohort"
    college = "college"


FUNNEL_GROUP_BY_LABELS = enum_labels(
    FunnelGroupBy,
    {
        FunnelGroupBy.application: N_("Pilot"),
        FunnelGroupBy.certificate: N_("Certificate"),
        FunnelGroupBy.major: N_("Major"),
        FunnelGroupBy.cohort: N_("Cohort"),
        FunnelGroupBy.college: N_("College"),
    },
)


class FunnelRow(Schema):
    key: str = Field(
        description="The group's id (application, certificate, major, college) or cohort"
    )
    label: str
    headcount: int = Field(
        description="Declared headcount of the pilots in the group (a pilot with majors or "
        "cohorts in several groups counts in each)"
    )
    trained: int = Field(description="Candidates enrolled in a training batch of the pilot")
    registered: int = Field(description="Candidates (student × pilot) with a live registration")
    sat: int = Field(description="Candidates with a result (a registration that is `sat`)")
    passed: int = Field(description="Candidates with a passed result")
    certified: int = Field(description="Candidates holding a valid issued certificate")
    pass_rate: float | None = Field(description="passed ÷ sat; null when nobody sat")


class FunnelReport(Schema):
    year: int | None
    group_by: FunnelGroupBy
    rows: list[FunnelRow]
    total: FunnelRow = Field(description="Overall, each pilot and candidate counted once")
