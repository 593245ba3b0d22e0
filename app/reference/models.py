"""Reference data: colleges, majors, courses, teachers, students, evaluation orgs, certificates."""

import re
import unicodedata
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Annotated

import sqlalchemy as sa
from pydantic import (
    AfterValidator,
    BaseModel,
    PlainValidator,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from sqlmodel import Field, SQLModel

from app.core.i18n import N_, _, translate
from app.core.labels import enum_labels
from app.core.listing import IdFilter, TextFilter, UpdatedSince
from app.core.models import PatchModel, Schema, Versioned, enum_type
from app.reference.rules import certificate_name_problem, dual_period_problem

MIN_COHORT = 2000
MAX_COHORT = 2100
MAX_CREDITS = Decimal("99.9")

Code = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=20, pattern=r"^[0-9A-Za-z_.-]+$"
    ),
]
NO_NUL = r"^[^\x00]*$"
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=NO_NUL)
]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100, pattern=NO_NUL)]
RefId = Annotated[int, Field(ge=1, le=2**31 - 1)]
Cohort = Annotated[int, Field(ge=MIN_COHORT, le=MAX_COHORT, description="Entry year, e.g. 2020")]
DualDate = Annotated[
    date, Field(ge=date(1950, 1, 1), le=date(2100, 12, 31), description="A calendar date")
]
CREDITS_PATTERN = r"^(\d|[1-9]\d)(\.\d)?$"


def _credits(value: object) -> Decimal:
    """Credits from 0 to 99.9: a string with at most one decimal place, or a number rounded
    to one place."""
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, str) and re.match(CREDITS_PATTERN, value.strip()):
        number = Decimal(value.strip())
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number = Decimal(str(value))
    else:
        raise ValueError(_("credits are a number from 0 to 99.9 with at most one decimal place"))
    if not number.is_finite() or not Decimal(0) <= number <= MAX_CREDITS:
        raise ValueError(_("credits are a number from 0 to 99.9"))
    return number.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


Credits = Annotated[
    Decimal,
    PlainValidator(_credits),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0, "maximum": float(MAX_CREDITS)},
                {"type": "string", "pattern": CREDITS_PATTERN},
            ],
            "examples": ["3.5"],
        }
    ),
]


class Level(StrEnum):
    """Certificate levels, in rising order."""

    junior = "初级"
    intermediate = "中级"
    senior = "高级"

    @property
    def rank(self) -> int:
        return LEVEL_ORDER.index(self)

    def at_or_above(self, other: "Level") -> bool:
        """True when this level is ``other`` or higher (a 中级 certificate covers 初级)."""
        return self.rank >= other.rank


LEVEL_LABELS = enum_labels(
    Level,
    {
        Level.junior: N_("Junior"),
        Level.intermediate: N_("Intermediate"),
        Level.senior: N_("Senior"),
    },
)

LEVEL_ORDER: list[Level] = [Level.junior, Level.intermediate, Level.senior]


def sort_levels(levels: list[Level]) -> list[Level]:
    return sorted(set(levels), key=lambda level: level.rank)


_LEADING_1X = re.compile(r"^1\+x", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")


def normalise_certificate_name(name: str) -> str:
    """The form certificate names are matched in: NFKC (full-width → half-width brackets and
    letters), no spaces, no leading ``1+X``, no trailing ``证书``, case-folded."""
    text = unicodedata.normalize("NFKC", name)
    text = _WHITESPACE.sub("", text)
    text = text.replace("〔", "(").replace("〕", ")").replace("【", "(").replace("】", ")")
    text = _LEADING_1X.sub("", text)
    text = text.removesuffix("证书")
    return text.casefold()


# --- colleges --------------------------------------------------------------------------------


class College(Versioned, table=True):
    __tablename__ = "colleges"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    code: str | None = Field(default=None, max_length=20, unique=True)


class CollegeCreate(Schema):
    name: Name
    code: Code | None = None


class CollegeUpdate(PatchModel):
    NULLABLE = frozenset({"code"})

    name: Name | None = None
    code: Code | None = None


class CollegePublic(Schema):
    id: int
    name: str
    code: str | None
    version: int
    created_at: datetime
    updated_at: datetime


# --- majors ----------------------------------------------------------------------------------


class Major(Versioned, table=True):
    __tablename__ = "majors"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=20, unique=True)
    name: str = Field(max_length=100)
    college_id: int = Field(foreign_key="colleges.id", index=True)


class MajorCreate(Schema):
    code: Code
    name: Name
    college_id: RefId


class MajorUpdate(PatchModel):
    code: Code | None = None
    name: Name | None = None
    college_id: RefId | None = None


class MajorFilters(BaseModel):
    """Filters of the majors list."""

    college_id: IdFilter = None
    q: TextFilter = None


class MajorPublic(Schema):
    id: int
    code: str
    name: str
    college_id: int
    college_name: str
    version: int
    created_at: datetime
    updated_at: datetime


# --- courses ---------------------------------------------------------------------------------


class CourseMajor(SQLModel, table=True):
    """Which majors teach a course."""

    __tablename__ = "course_majors"

    course_id: int = Field(foreign_key="courses.id", primary_key=True, ondelete="CASCADE")
    major_id: int = Field(foreign_key="majors.id", primary_key=True, index=True)


class Course(Versioned, table=True):
    __tablename__ = "courses"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=20, unique=True)
    name: str = Field(max_length=100)
    credits: Decimal = Field(sa_type=sa.Numeric(4, 1), default=Decimal("0"))
    college_id: int = Field(foreign_key="colleges.id", index=True)


class CourseCreate(Schema):
    code: Code
    name: Name
    credits: Credits = Decimal("0")
    college_id: RefId = Field(description="The college that offers the course")
    major_ids: list[RefId] = Field(default_factory=list, max_length=200)


class CourseUpdate(PatchModel):
    code: Code | None = None
    name: Name | None = None
    credits: Credits | None = None
    college_id: RefId | None = None
    major_ids: list[RefId] | None = Field(default=None, max_length=200)


class CourseFilters(BaseModel):
    """Filters of the courses list."""

    college_id: IdFilter = None
    major_id: IdFilter = None
    q: TextFilter = None


class CourseMajorRef(Schema):
    id: int
    code: str
    name: str


class CoursePublic(Schema):
    id: int
    code: str
    name: str
    credits: Decimal
    college_id: int
    college_name: str
    majors: list[CourseMajorRef]
    version: int
    created_at: datetime
    updated_at: datetime


class CourseItem(CoursePublic):
    """A course as the list's mapper makes it: the public fields, and the codes of its majors
    for the export's 专业 cell (the JSON answer, a ``CoursePublic``, leaves them out)."""

    major_codes: list[str]


# --- teachers --------------------------------------------------------------------------------


class DualBasis(StrEnum):
    """What a teacher's 双师型 recognition rests on."""

    enterprise_experience = "enterprise_experience"
    professional_qualification = "professional_qualification"
    vocational_certificate = "vocational_certificate"


DUAL_BASIS_LABELS = enum_labels(
    DualBasis,
    {
        DualBasis.enterprise_experience: N_("Enterprise experience"),
        DualBasis.professional_qualification: N_("Professional qualification"),
        DualBasis.vocational_certificate: N_("Vocational skill certificate"),
    },
)
DUAL_BASIS_NAMES = {basis: translate(text, "zh-CN") for basis, text in DUAL_BASIS_LABELS.items()}
"""The Chinese names an upload accepts for each basis (beside the codes)."""


class Teacher(Versioned, table=True):
    """A teacher; ``dual_*`` is their 双师型 recognition (set by the academic office): its
    basis, the day it was recognised and, where it lapses, the last day it holds."""

    __tablename__ = "teachers"
    __table_args__ = (
        sa.CheckConstraint(
            "(dual_basis IS NULL) = (dual_recognised_on IS NULL)", name="dual_basis_and_date"
        ),
        sa.CheckConstraint(
            "dual_valid_until IS NULL OR dual_valid_until >= dual_recognised_on",
            name="dual_dates_ordered",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    staff_no: str = Field(max_length=20, unique=True)
    name: str = Field(max_length=100)
    college_id: int = Field(foreign_key="colleges.id", index=True)
    title: str | None = Field(default=None, max_length=100)
    dual_basis: DualBasis | None = Field(default=None, sa_type=enum_type(DualBasis))
    dual_recognised_on: date | None = None
    dual_valid_until: date | None = None


class TeacherCreate(Schema):
    staff_no: Code
    name: Name
    college_id: RefId
    title: ShortText | None = None


class TeacherUpdate(PatchModel):
    NULLABLE = frozenset({"title"})

    staff_no: Code | None = None
    name: Name | None = None
    college_id: RefId | None = None
    title: ShortText | None = None


class TeacherFilters(UpdatedSince):
    """Filters of the teachers list."""

    college_id: IdFilter = None
    q: TextFilter = None
    dual_basis: DualBasis | None = Field(
        None, description="Only teachers recognised as 双师型 on this basis"
    )


class DualQualificationPut(Schema):
    """A teacher's 双师型 recognition, as the academic office sets it."""

    basis: DualBasis = Field(
        description="enterprise_experience (企业实践经历), professional_qualification (专业技术"
        "资格) or vocational_certificate (职业技能等级证书)"
    )
    recognised_on: DualDate = Field(description="The day it was recognised (认定日期)")
    valid_until: DualDate | None = Field(
        default=None, description="The last day it holds, where it lapses; null: no end"
    )

    @model_validator(mode="after")
    def _ordered(self) -> "DualQualificationPut":
        problem = dual_period_problem(self.recognised_on, self.valid_until)
        if problem:
            raise ValueError(problem)
        return self


class DualQualification(Schema):
    basis: DualBasis
    basis_name: str
    recognised_on: date
    valid_until: date | None


class TeacherPublic(Schema):
    id: int
    staff_no: str
    name: str
    college_id: int
    college_name: str
    title: str | None
    dual_qualification: DualQualification | None = Field(
        default=None, description="The 双师型 recognition (null: not recognised)"
    )
    version: int
    created_at: datetime
    updated_at: datetime


class TeacherListed(TeacherPublic):
    """A teacher as the list's mapper makes it, with the 双师型 cells of its export (left out of
    the JSON)."""

    dual_basis_name: str | None = Field(default=None, exclude=True)
    dual_recognised_on: date | None = Field(default=None, exclude=True)
    dual_valid_until: date | None = Field(default=None, exclude=True)


# --- students --------------------------------------------------------------------------------


class Student(Versioned, table=True):
    __tablename__ = "students"
    __table_args__ = (
        sa.Index("ix_students_student_no_id", "student_no", "id"),
        sa.CheckConstraint(f"cohort BETWEEN {MIN_COHORT} AND {MAX_COHORT}", name="cohort_range"),
    )

    id: int | None = Field(default=None, primary_key=True)
    student_no: str = Field(max_length=20, unique=True)
    name: str = Field(max_length=100)
    major_id: int = Field(foreign_key="majors.id", index=True)
    cohort: int
    class_name: str | None = Field(default=None, max_length=100)


class StudentCreate(Schema):
    student_no: Code
    name: Name
    major_id: RefId
    cohort: Cohort
    class_name: ShortText | None = None


class StudentUpdate(PatchModel):
    NULLABLE = frozenset({"class_name"})

    student_no: Code | None = None
    name: Name | None = None
    major_id: RefId | None = None
    cohort: Cohort | None = None
    class_name: ShortText | None = None


class CollegeFilters(BaseModel):
    """Filters of the colleges list."""

    q: TextFilter = None


class StudentFilters(UpdatedSince):
    """Filters of the students list."""

    college_id: IdFilter = None
    major_id: IdFilter = None
    cohort: int | None = Field(None, ge=MIN_COHORT, le=MAX_COHORT, description="Entry year")
    class_name: str | None = Field(None, max_length=100, description="The class, exactly")
    q: TextFilter = None


class StudentPublic(Schema):
    id: int
    student_no: str
    name: str
    major_id: int
    major_code: str
    major_name: str
    college_id: int
    college_name: str
    cohort: int
    class_name: str | None
    version: int
    created_at: datetime
    updated_at: datetime


# --- evaluation organisations ----------------------------------------------------------------


class EvaluationOrg(Versioned, table=True):
    __tablename__ = "evaluation_orgs"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    contact: str | None = Field(default=None, max_length=100)


class EvaluationOrgCreate(Schema):
    name: Name
    contact: ShortText | None = None


class EvaluationOrgUpdate(PatchModel):
    NULLABLE = frozenset({"contact"})

    name: Name | None = None
    contact: ShortText | None = None


class EvaluationOrgFilters(BaseModel):
    """Filters of the evaluation organisations list."""

    q: TextFilter = None


class EvaluationOrgPublic(Schema):
    id: int
    name: str
    contact: str | None
    version: int
    created_at: datetime
    updated_at: datetime


# --- certificates ----------------------------------------------------------------------------


class Certificate(Versioned, table=True):
    __tablename__ = "certificates"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    normalized_name: str = Field(max_length=100, unique=True)
    evaluation_org_id: int = Field(foreign_key="evaluation_orgs.id", index=True)
    levels: str = Field(
        max_length=20, description="Levels offered, in rank order, comma-separated: 初级,中级"
    )

    @property
    def level_list(self) -> list[Level]:
        return levels_from_text(self.levels)


def levels_to_text(levels: list[Level]) -> str:
    return ",".join(level.value for level in sort_levels(levels))


def levels_from_text(text: str) -> list[Level]:
    return [Level(part) for part in text.split(",") if part]


def _names_a_certificate(name: str) -> str:
    problem = certificate_name_problem(normalise_certificate_name(name))
    if problem:
        raise ValueError(problem)
    return name


CertificateName = Annotated[Name, AfterValidator(_names_a_certificate)]
"""A certificate's name, refused when nothing is left of it normalised (``1+X证书``)."""


class CertificateCreate(Schema):
    name: CertificateName
    evaluation_org_id: RefId
    levels: list[Level] = Field(min_length=1, max_length=3, description="Levels offered")

    @field_validator("levels", mode="after")
    @classmethod
    def _ordered(cls, value: list[Level]) -> list[Level]:
        return sort_levels(value)


class CertificateUpdate(PatchModel):
    name: CertificateName | None = None
    evaluation_org_id: RefId | None = None
    levels: list[Level] | None = Field(default=None, min_length=1, max_length=3)

    @field_validator("levels", mode="after")
    @classmethod
    def _ordered(cls, value: list[Level] | None) -> list[Level] | None:
        return None if value is None else sort_levels(value)


class CertificateFilters(BaseModel):
    """Filters of the certificates list."""

    evaluation_org_id: IdFilter = None
    level: Level | None = Field(None, description="Only certificates offering this level")
    q: TextFilter = None


class CertificatePublic(Schema):
    id: int
    name: str
    normalized_name: str
    evaluation_org_id: int
    evaluation_org_name: str
    levels: list[Level]
    version: int
    created_at: datetime
    updated_at: datetime
