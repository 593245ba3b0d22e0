"""Teacher trainings (师资培训) with their trainer certificates, student training batches
(学生培训) with their enrolments, and the teacher-coverage report."""

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

import sqlalchemy as sa
from pydantic import BaseModel, StringConstraints, model_validator
from sqlmodel import Field, SQLModel

from app.applications.models import MAX_YEAR, MIN_YEAR, ApplicationPublic
from app.core.i18n import N_
from app.core.labels import enum_labels
from app.core.listing import IdFilter, UpdatedSince
from app.core.models import PatchModel, Schema, Versioned, enum_type
from app.reference.models import NO_NUL, Level, RefId
from app.trainings.rules import dates_problem, validity_problem

MAX_HOURS = 5000
MAX_INSTRUCTORS = 20

Hours = Annotated[int, Field(ge=1, le=MAX_HOURS, description="Hours (学时), more than 0")]
AttendedHours = Annotated[
    int, Field(ge=0, le=MAX_HOURS, description="Hours attended, at most the batch's hours")
]
CertificateNo = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=50, pattern=r"^[^\s\x00]+$"),
]
Provider = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100, pattern=NO_NUL)]
Title = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NO_NUL)
]
Notes = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000, pattern=NO_NUL)]
SchoolDate = Annotated[
    date, Field(ge=date(2000, 1, 1), le=date(2100, 12, 31), description="A calendar date")
]


class TrainingStatus(StrEnum):
    planned = "planned"
    in_progress = "in_progress"
    certified = "certified"
    failed = "failed"


TRAINING_STATUS_LABELS = enum_labels(
    TrainingStatus,
    {
        TrainingStatus.planned: N_("Planned"),
        TrainingStatus.in_progress: N_("In training"),
        TrainingStatus.certified: N_("Certified"),
        TrainingStatus.failed: N_("Not passed"),
    },
)


# --- tables ----------------------------------------------------------------------------------


class TeacherTraining(Versioned, table=True):
    """A teacher's trainer training for a certificate at a level; ``certified`` carries the
    trainer certificate number (unique across the service)."""

    __tablename__ = "teacher_trainings"
    __table_args__ = (
        sa.CheckConstraint("end_date >= start_date", name="dates_ordered"),
        sa.CheckConstraint("hours > 0", name="hours_positive"),
        sa.CheckConstraint(
            "status <> 'certified' OR trainer_certificate_no IS NOT NULL",
            name="certified_has_number",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    teacher_id: int = Field(foreign_key="teachers.id", index=True)
    certificate_id: int = Field(foreign_key="certificates.id", index=True)
    level: Level = Field(sa_type=enum_type(Level))
    provider: str | None = Field(default=None, max_length=100)
    start_date: date
    end_date: date
    hours: int
    status: TrainingStatus = Field(
        default=TrainingStatus.planned, sa_type=enum_type(TrainingStatus), index=True
    )
    trainer_certificate_no: str | None = Field(default=None, max_length=50, unique=True)
    evaluator_qualification_no: str | None = Field(default=None, max_length=50)
    certified_on: date | None = None
    valid_until: date | None = None
    notes: str | None = Field(default=None, max_length=2000)


class EvaluatorQualification(Versioned, table=True):
    """A teacher's 考评员 (evaluator) qualification for a certificate at a level: its own
    number (unique across the service), the organisation that issued it, the day it was issued
    and, where it lapses, the last day it is valid."""

    __tablename__ = "evaluator_qualifications"
    __table_args__ = (
        sa.CheckConstraint("valid_until IS NULL OR valid_until >= issued_on", name="dates_ordered"),
    )

    id: int | None = Field(default=None, primary_key=True)
    teacher_id: int = Field(foreign_key="teachers.id", index=True)
    certificate_id: int = Field(foreign_key="certificates.id", index=True)
    level: Level = Field(sa_type=enum_type(Level))
    qualification_no: str = Field(max_length=50, unique=True)
    issuer: str = Field(max_length=100)
    issued_on: date
    valid_until: date | None = None
    notes: str | None = Field(default=None, max_length=2000)


class TrainingBatch(Versioned, table=True):
    """A student training batch for an approved pilot application."""

    __tablename__ = "training_batches"
    __table_args__ = (
        sa.CheckConstraint("end_date >= start_date", name="dates_ordered"),
        sa.CheckConstraint("hours > 0", name="hours_positive"),
    )

    id: int | None = Field(default=None, primary_key=True)
    application_id: int = Field(foreign_key="pilot_applications.id", index=True)
    title: str = Field(max_length=200)
    hours: int
    start_date: date
    end_date: date
    notes: str | None = Field(default=None, max_length=2000)


class TrainingBatchInstructor(SQLModel, table=True):
    __tablename__ = "training_batch_instructors"

    batch_id: int = Field(foreign_key="training_batches.id", primary_key=True, ondelete="CASCADE")
    teacher_id: int = Field(foreign_key="teachers.id", primary_key=True, index=True)


class TrainingEnrollment(Versioned, table=True):
    """A student in a training batch: hours attended (≤ the batch's hours) and completion."""

    __tablename__ = "training_enrollments"
    __table_args__ = (
        sa.UniqueConstraint("batch_id", "student_id"),
        sa.CheckConstraint("attended_hours >= 0", name="attended_not_negative"),
    )

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="training_batches.id", ondelete="CASCADE")
    student_id: int = Field(foreign_key="students.id", index=True)
    attended_hours: int = 0
    completed: bool = False


# --- teacher training schemas ----------------------------------------------------------------


class TrainingCreate(Schema):
    teacher_id: RefId = Field(description="The teacher trained (GET /api/v1/teachers)")
    certificate_id: RefId = Field(description="The 1+X certificate the training is for")
    level: Level = Field(description="The level trained for; one the certificate offers")
    provider: Provider | None = Field(
        default=None, description="Who trains, usually the evaluation organisation"
    )
    start_date: SchoolDate
    end_date: SchoolDate = Field(description="On or after start_date")
    hours: Hours
    notes: Notes | None = Field(default=None, description="Free text")

    @model_validator(mode="after")
    def _ordered(self) -> "TrainingCreate":
        problem = dates_problem(self.start_date, self.end_date)
        if problem:
            raise ValueError(problem)
        return self


class TrainingUpdate(PatchModel):
    """Planned or in-progress trainings change every field; a certified one only its
    certificate fields and notes; a failed one only its notes."""

    NULLABLE = frozenset({"provider", "notes", "evaluator_qualification_no", "valid_until"})

    teacher_id: RefId | None = Field(default=None, description="Planned or in progress only")
    certificate_id: RefId | None = Field(default=None, description="Planned or in progress only")
    level: Level | None = Field(default=None, description="Planned or in progress only")
    provider: Provider | None = Field(
        default=None, description="Planned or in progress; null clears"
    )
    start_date: SchoolDate | None = None
    end_date: SchoolDate | None = None
    hours: Hours | None = None
    notes: Notes | None = Field(default=None, description="Any state; null clears")
    trainer_certificate_no: CertificateNo | None = Field(
        default=None, description="Certified only; unique; office or college manager only"
    )
    evaluator_qualification_no: CertificateNo | None = Field(
        default=None, description="Certified only; null clears; office or college manager only"
    )
    valid_until: SchoolDate | None = Field(
        default=None,
        description="Certified only; not before certified_on; null: no expiry; office or "
        "college manager only",
    )


class CertifyBody(Schema):
    trainer_certificate_no: CertificateNo = Field(
        description="The trainer certificate's number (师资培训证书编号); unique across the service"
    )
    evaluator_qualification_no: CertificateNo | None = Field(
        default=None, description="考评员 qualification number, where earned"
    )
    certified_on: SchoolDate | None = Field(
        default=None,
        description="Issue date, from the training's start_date to today; today in the "
        "school's time zone when left out",
    )
    valid_until: SchoolDate | None = Field(
        default=None, description="Last day the certificate is valid; none: no expiry"
    )


class TrainingPublic(Schema):
    id: int
    teacher_id: int
    staff_no: str
    teacher_name: str
    college_id: int
    certificate_id: int
    certificate_name: str
    level: Level
    provider: str | None
    start_date: date
    end_date: date
    hours: int
    status: TrainingStatus
    trainer_certificate_no: str | None
    evaluator_qualification_no: str | None
    certified_on: date | None
    valid_until: date | None
    valid_today: bool = Field(
        description="Certified and not expired (valid_until empty or today or later)"
    )
    notes: str | None
    allowed_actions: list[str] = Field(
        description="What the training's state allows: update, delete, start, certify, fail"
    )
    version: int
    created_at: datetime
    updated_at: datetime


class TrainingFilters(BaseModel):
    """Filters of the teacher trainings list."""

    teacher_id: IdFilter = Field(None, description="Trainings of this teacher")
    certificate_id: IdFilter = Field(None, description="Trainings for this certificate")
    college_id: IdFilter = Field(None, description="Trainings of this college's teachers")
    level: Level | None = Field(None, description="Only this level")
    status: TrainingStatus | None = Field(None, description="Only trainings in this state")


class TrainingSelection(TrainingFilters):
    """What the trainings list reads: its filters, and the day ``valid_today`` is judged on
    (the school's today, not a query parameter)."""

    today: date


# --- evaluator qualifications -----------------------------------------------------------------

Issuer = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=NO_NUL)
]


class QualificationCreate(Schema):
    teacher_id: RefId = Field(description="The qualified teacher (GET /api/v1/teachers)")
    certificate_id: RefId = Field(description="The 1+X certificate they may evaluate")
    level: Level = Field(description="The level they may evaluate; one the certificate offers")
    qualification_no: CertificateNo = Field(description="考评员证书编号, unique across the service")
    issuer: Issuer = Field(description="The organisation that issued it (发证机构)")
    issued_on: SchoolDate = Field(description="Issue date")
    valid_until: SchoolDate | None = Field(
        default=None, description="Last day it is valid; null: no expiry"
    )
    notes: Notes | None = Field(default=None, description="Free text")

    @model_validator(mode="after")
    def _ordered(self) -> "QualificationCreate":
        problem = validity_problem(self.issued_on, self.valid_until)
        if problem:
            raise ValueError(problem)
        return self


class QualificationUpdate(PatchModel):
    NULLABLE = frozenset({"valid_until", "notes"})

    certificate_id: RefId | None = None
    level: Level | None = None
    qualification_no: CertificateNo | None = None
    issuer: Issuer | None = None
    issued_on: SchoolDate | None = None
    valid_until: SchoolDate | None = Field(default=None, description="null: no expiry")
    notes: Notes | None = Field(default=None, description="null clears")


class QualificationPublic(Schema):
    id: int
    teacher_id: int
    staff_no: str
    teacher_name: str
    college_id: int
    certificate_id: int
    certificate_name: str
    level: Level
    qualification_no: str
    issuer: str
    issued_on: date
    valid_until: date | None
    notes: str | None
    version: int
    created_at: datetime
    updated_at: datetime


class QualificationFilters(UpdatedSince):
    """Filters of the evaluator qualifications list."""

    teacher_id: IdFilter = Field(None, description="Qualifications of this teacher")
    certificate_id: IdFilter = Field(None, description="Qualifications for this certificate")
    college_id: IdFilter = Field(None, description="Qualifications of this college's teachers")
    level: Level | None = Field(None, description="Only this level")
    valid_on: SchoolDate | None = Field(
        None, description="Only those issued by and still valid on this day"
    )


# --- batches ---------------------------------------------------------------------------------


class BatchCreate(Schema):
    application_id: RefId = Field(description="The approved pilot application trained for")
    title: Title = Field(description="The batch's name, e.g. 集中培训（第一期）")
    hours: Hours
    start_date: SchoolDate
    end_date: SchoolDate
    instructor_ids: list[RefId] = Field(
        default_factory=list, max_length=MAX_INSTRUCTORS, description="Teachers who teach it"
    )
    notes: Notes | None = Field(default=None, description="Free text")

    @model_validator(mode="after")
    def _ordered(self) -> "BatchCreate":
        problem = dates_problem(self.start_date, self.end_date)
        if problem:
            raise ValueError(problem)
        self.instructor_ids = sorted(set(self.instructor_ids))
        return self


class BatchUpdate(PatchModel):
    NULLABLE = frozenset({"notes"})

    title: Title | None = Field(default=None, description="The batch's name")
    hours: Hours | None = None
    start_date: SchoolDate | None = None
    end_date: SchoolDate | None = None
    instructor_ids: list[RefId] | None = Field(
        default=None,
        max_length=MAX_INSTRUCTORS,
        description="Replaces the instructors (teacher ids; [] removes them all)",
    )
    notes: Notes | None = Field(default=None, description="Free text; null clears")


class InstructorPublic(Schema):
    id: int
    staff_no: str
    name: str


class BatchPublic(Schema):
    id: int
    application_id: int
    certificate_name: str
    level: Level
    year: int
    title: str
    hours: int
    start_date: date
    end_date: date
    instructors: list[InstructorPublic]
    enrolled: int = Field(description="Students enrolled")
    completed: int = Field(description="Enrolled students who completed the batch")
    notes: str | None
    version: int
    created_at: datetime
    updated_at: datetime


class BatchListed(BatchPublic):
    """A batch as its list answers it, with the instructors' names for its CSV/XLSX export
    (left out of the JSON)."""

    instructor_names: list[str] = Field(exclude=True)


class BatchFilters(BaseModel):
    """Filters of the training batches list."""

    application_id: IdFilter = Field(None, description="Batches of this application")
    year: int | None = Field(None, ge=MIN_YEAR, le=MAX_YEAR, description="Pilot year")
    certificate_id: IdFilter = Field(None, description="Batches for this certificate")
    instructor_id: IdFilter = Field(None, description="Batches this teacher teaches")


class EnrollmentFilters(UpdatedSince):
    """Filters of a batch's enrolments list."""

    completed: bool | None = Field(None, description="Only students who completed (or not)")


class EnrollmentSelection(EnrollmentFilters):
    """What a batch's enrolment list reads: its filters and the batch the path names."""

    batch_id: int


class EnrollmentCreate(Schema):
    student_id: RefId = Field(description="A student of the pilot's majors and cohorts")
    attended_hours: AttendedHours = 0
    completed: bool = Field(default=False, description="Completed the batch (结业)")


class EnrollmentUpdate(PatchModel):
    attended_hours: AttendedHours | None = None
    completed: bool | None = Field(default=None, description="Completed the batch (结业)")


class EnrollmentPublic(Schema):
    id: int
    batch_id: int
    student_id: int
    student_no: str
    student_name: str
    major_id: int
    cohort: int
    attended_hours: int
    completed: bool
    version: int
    created_at: datetime
    updated_at: datetime


# --- coverage --------------------------------------------------------------------------------


class EvaluatorFigure(Schema):
    """Evaluators (考评员) assigned to a pilot and those holding a qualification for it."""

    assigned: int = Field(description="Teachers assigned to the pilot as evaluators")
    qualified: int = Field(
        description="Assigned evaluators holding a 考评员 qualification for the pilot's "
        "certificate at or above its level, issued by and still valid on the day"
    )
    coverage_percent: float | None = Field(
        description="qualified ÷ assigned × 100, one decimal; null when no evaluator is assigned"
    )
    below_target: bool = Field(description="Below 100 % (or no evaluator assigned)")
    missing: list[str] | None = Field(
        description="The assigned evaluators without one: 姓名 (工号); null for a student"
    )


class CoverageFigure(Schema):
    """Teachers assigned to a pilot and those holding a valid trainer certificate for it."""

    assigned: int = Field(description="Teachers assigned to the pilot")
    certified: int = Field(
        description="Assigned teachers holding a certified, still valid training for the "
        "pilot's certificate at or above its level"
    )
    coverage_percent: float | None = Field(
        description="certified ÷ assigned × 100, one decimal; null when nobody is assigned"
    )
    below_target: bool = Field(description="Below the seed's 100 % target (or nobody assigned)")
    missing: list[str] | None = Field(
        description="The assigned teachers without one: 姓名 (工号); null for a student reading "
        "their pilot (staff names are not shown to students)"
    )


class CoveragePilot(CoverageFigure):
    evaluators: EvaluatorFigure = Field(description="The pilot's evaluator (考评员) coverage")
    application_id: int
    year: int
    certificate_id: int
    certificate_name: str
    level: Level
    tier: str
    status: str


class CoverageCollege(Schema):
    college_id: int
    college_name: str
    assigned: int = Field(description="Assignments of this college's teachers to pilots")
    certified: int
    coverage_percent: float | None
    evaluators_assigned: int = Field(
        default=0, description="Assignments of this college's teachers as evaluators"
    )
    evaluators_qualified: int = 0
    evaluator_coverage_percent: float | None = None


class CoverageTotals(Schema):
    pilots: int
    pilots_below_target: int
    assigned: int
    certified: int
    coverage_percent: float | None
    evaluators_assigned: int = Field(default=0, description="Evaluator assignments")
    evaluators_qualified: int = Field(
        default=0, description="Evaluator assignments holding a valid 考评员 qualification"
    )
    evaluator_coverage_percent: float | None = None
    pilots_below_evaluator_target: int = Field(
        default=0, description="Pilots whose evaluator coverage is below 100 % (or none)"
    )


class TeacherCoverageReport(Schema):
    year: int | None
    as_of: date = Field(description="The day validity is judged on (school time zone)")
    pilots: list[CoveragePilot]
    colleges: list[CoverageCollege]
    overall: CoverageTotals


class ApplicationDetail(ApplicationPublic):
    """One application with its teacher coverage and trained-student count."""

    teacher_coverage: CoverageFigure
    evaluator_coverage: EvaluatorFigure
    trained_students: int = Field(
        description="Distinct students who completed a training batch of this pilot"
    )


# --- 双师型 share ----------------------------------------------------------------------------


class DualFigure(Schema):
    """Teachers and those recognised as 双师型 on the day."""

    teachers: int
    dual_qualified: int = Field(
        description="Teachers recognised as 双师型 on the day (recognised by then, not lapsed)"
    )
    share_percent: float | None = Field(
        description="dual_qualified ÷ teachers × 100, one decimal; null when there are none"
    )


class DualPilot(DualFigure):
    """A pilot's assigned teachers (trainers and evaluators) and the 双师型 among them."""

    application_id: int
    year: int
    certificate_name: str
    level: Level
    majors: list[str] = Field(description="The pilot's majors")


class DualCollege(DualFigure):
    """All of a college's teachers and the 双师型 among them."""

    college_id: int
    college_name: str


class DualReport(Schema):
    year: int | None
    as_of: date = Field(description="The day recognition is judged on")
    pilots: list[DualPilot]
    colleges: list[DualCollege]
    overall: DualFigure = Field(description="Every teacher the reader sees")
    pilot_teachers: DualFigure = Field(
        description="The distinct teachers assigned to the pilots listed"
    )
