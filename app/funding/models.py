"""Funding (经费): funding sources, the budget lines that allocate them to pilots by category,
expenditures (append-only; corrected by reversal entries) and the pass-only exam subsidy
runs (奖励补贴)."""

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

import pydantic
import sqlalchemy as sa
from pydantic import BaseModel, PlainSerializer, StringConstraints
from sqlmodel import Field

from app.core.i18n import N_
from app.core.labels import enum_labels
from app.core.listing import IdFilter, UpdatedSince
from app.core.models import PatchModel, Schema, Versioned, enum_type
from app.core.types import CENT, Money, MoneyFen
from app.reference.models import NO_NUL, RefId

MAX_AMOUNT = Decimal("999999999999.99")
MIN_YEAR = 2000
MAX_YEAR = 2100

Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NO_NUL)
]
DocumentNo = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=100, pattern=NO_NUL)
]
Notes = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000, pattern=NO_NUL)]
Payee = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NO_NUL)
]
VOUCHER_PATTERN = r"^[^\s\x00-\x1f\x7f]+$"
"""One word without spaces or control characters: `PZ-2022-001`, `记-12`, `银付(10)-3`."""
VoucherNo = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=VOUCHER_PATTERN),
]
Reason = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000, pattern=NO_NUL)
]
Amount = Annotated[Money, Field(ge=0, le=MAX_AMOUNT, description="Yuan, two decimals")]
PositiveAmount = Annotated[
    Money, Field(gt=0, le=MAX_AMOUNT, description="Yuan, two decimals, more than 0")
]
MoneySum = Annotated[
    Decimal,
    PlainSerializer(lambda v: f"{v.quantize(CENT):f}", return_type=str, when_used="json"),
    pydantic.Field(examples=["1234.50"]),
]
"""A sum of amounts in yuan, JSON "1234.50" like ``Money``, but without ``Money``'s 14-digit
bound: Σ over many funds (a report's total, every year's funds) may exceed one amount's
largest value, and the answer must still be exact rather than refused."""
FiscalYear = Annotated[int, Field(ge=MIN_YEAR, le=MAX_YEAR, description="Fiscal year, e.g. 2022")]
SpentOn = Annotated[date, Field(ge=date(2000, 1, 1), le=date(2100, 12, 31))]
YearFilter = Annotated[int | None, Field(ge=MIN_YEAR, le=MAX_YEAR, description="Fiscal year")]
DateFilter = Annotated[date | None, Field(ge=date(2000, 1, 1), le=date(2100, 12, 31))]


class FundingKind(StrEnum):
    """教育部专项 / 市教委专项 / 学校建设经费 / 其他."""

    moe_special = "moe_special"
    municipal_special = "municipal_special"
    school = "school"
    other = "other"


FUNDING_KIND_LABELS = enum_labels(
    FundingKind,
    {
        FundingKind.moe_special: N_("Ministry of Education special fund"),
        FundingKind.municipal_special: N_("Municipal education commission special fund"),
        FundingKind.school: N_("School construction fund"),
        FundingKind.other: N_("Other"),
    },
)

EARMARKED_KINDS = frozenset({FundingKind.moe_special, FundingKind.municipal_special})


class Category(StrEnum):
    """设备采购 / 师资培训 / 学生培训 / 考试费用 / 奖励补贴 / 其他."""

    equipment = "equipment"
    teacher_training = "teacher_training"
    student_training = "student_training"
    exam_fee = "exam_fee"
    exam_subsidy = "exam_subsidy"
    other = "other"


CATEGORY_LABELS = enum_labels(
    Category,
    {
        Category.equipment: N_("Equipment purchase"),
        Category.teacher_training: N_("Teacher training"),
        Category.student_training: N_("Student training"),
        Category.exam_fee: N_("Exam fees"),
        Category.exam_subsidy: N_("Pass subsidy"),
        Category.other: N_("Other"),
    },
)

EARMARKED_CATEGORIES = (
    Category.equipment,
    Category.teacher_training,
    Category.student_training,
    Category.exam_fee,
    Category.exam_subsidy,
)
"""What earmarked money (专款专用) may be budgeted to."""

CATEGORY_NAMES = {
    Category.equipment: "设备采购",
    Category.teacher_training: "师资培训",
    Category.student_training: "学生培训",
    Category.exam_fee: "考试费用",
    Category.exam_subsidy: "奖励补贴",
    Category.other: "其他",
}


class ExpenditureKind(StrEnum):
    payment = "payment"
    subsidy = "subsidy"
    reversal = "reversal"


EXPENDITURE_KIND_LABELS = enum_labels(
    ExpenditureKind,
    {
        ExpenditureKind.payment: N_("Payment"),
        ExpenditureKind.subsidy: N_("Subsidy"),
        ExpenditureKind.reversal: N_("Reversal"),
    },
)

# --- tables ----------------------------------------------------------------------------------


class FundingSource(Versioned, table=True):
    """A fund: the ministry's or the city's special fund, the school's construction money."""

    __tablename__ = "funding_sources"
    __table_args__ = (
        sa.UniqueConstraint("fiscal_year", "name"),
        sa.CheckConstraint("amount >= 0", name="amount_not_negative"),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    kind: FundingKind = Field(sa_type=enum_type(FundingKind))
    fiscal_year: int = Field(index=True)
    amount: Decimal = Field(sa_type=MoneyFen)
    document_no: str | None = Field(default=None, max_length=100)
    earmarked: bool
    notes: str | None = Field(default=None, max_length=2000)


class BudgetLine(Versioned, table=True):
    """Part of a source allocated to one pilot for one category."""

    __tablename__ = "budget_lines"
    __table_args__ = (
        sa.UniqueConstraint("source_id", "application_id", "category"),
        sa.CheckConstraint("amount >= 0", name="amount_not_negative"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(foreign_key="funding_sources.id", index=True)
    application_id: int = Field(foreign_key="pilot_applications.id", index=True)
    category: Category = Field(sa_type=enum_type(Category))
    amount: Decimal = Field(sa_type=MoneyFen)
    notes: str | None = Field(default=None, max_length=2000)
    spent: Decimal = Field(
        default=Decimal(0),
        sa_type=MoneyFen,
        sa_column_kwargs={"server_default": "0"},
        description="Σ of its expenditures, reversals netted; kept by the database's triggers on "
        "expenditures (migration 0021), never written by the application",
    )


class SubsidyRun(Versioned, table=True):
    """One pass-subsidy payout over an exam session from an ``exam_subsidy`` line."""

    __tablename__ = "subsidy_runs"
    __table_args__ = (
        sa.CheckConstraint("amount_per_student > 0", name="amount_positive"),
        sa.CheckConstraint("paid_count >= 0", name="paid_count_not_negative"),
    )

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="exam_sessions.id", index=True)
    line_id: int = Field(foreign_key="budget_lines.id", index=True)
    amount_per_student: Decimal = Field(sa_type=MoneyFen)
    passed_count: int = Field(description="Passed results of the session at the time of the run")
    already_paid_count: int = Field(
        description="Of those, paid by an earlier run (a payment not reversed)"
    )
    paid_count: int
    total: Decimal = Field(sa_type=MoneyFen)
    spent_on: date
    actor: str = Field(max_length=100)


class Expenditure(Versioned, table=True):
    """A money movement on a budget line: a payment, a subsidy payment or the reversal
    (红冲) of one. Never edited or deleted. ``reverses_id`` is unique: an entry is reversed
    at most once. A result has at most one subsidy payment that is not reversed (subsidy runs
    of an exam session lock the session's row); a reversed payment may be paid again."""

    __tablename__ = "expenditures"
    __table_args__ = (
        sa.Index("ix_expenditures_spent_on_id", "spent_on", "id"),
        sa.CheckConstraint(
            "(kind = 'reversal' AND amount < 0 AND reverses_id IS NOT NULL) OR "
            "(kind <> 'reversal' AND amount > 0 AND reverses_id IS NULL)",
            name="sign_matches_kind",
        ),
        sa.CheckConstraint(
            "(kind = 'subsidy') = (exam_result_id IS NOT NULL)", name="subsidy_has_result"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    line_id: int = Field(foreign_key="budget_lines.id", index=True)
    kind: ExpenditureKind = Field(sa_type=enum_type(ExpenditureKind))
    amount: Decimal = Field(sa_type=MoneyFen)
    spent_on: date = Field(index=True)
    payee: str = Field(max_length=200)
    voucher_no: str = Field(max_length=64, unique=True)
    description: str | None = Field(default=None, max_length=2000)
    reverses_id: int | None = Field(default=None, foreign_key="expenditures.id", unique=True)
    subsidy_run_id: int | None = Field(default=None, foreign_key="subsidy_runs.id", index=True)
    exam_result_id: int | None = Field(default=None, foreign_key="exam_results.id", index=True)
    base_id: int | None = Field(default=None, foreign_key="training_bases.id", index=True)


# --- schemas ---------------------------------------------------------------------------------


class SourceCreate(Schema):
    name: Name = Field(description="e.g. 2022年教育部1+X证书制度试点专项经费")
    kind: FundingKind = Field(
        description="moe_special 教育部专项, municipal_special 市教委专项, school 学校建设经费, "
        "other"
    )
    fiscal_year: FiscalYear
    amount: Amount
    document_no: DocumentNo | None = Field(default=None, description="文号")
    earmarked: bool | None = Field(
        default=None,
        description="专款专用: only equipment, teacher/student training, exam fees and subsidies. "
        "Always true for the two special kinds; defaults to false for the others",
    )
    notes: Notes | None = None


class SourceUpdate(PatchModel):
    NULLABLE = frozenset({"document_no", "notes"})

    name: Name | None = None
    kind: FundingKind | None = Field(
        default=None,
        description="A special kind makes the fund earmarked; refused while it has `other` lines",
    )
    fiscal_year: FiscalYear | None = None
    earmarked: bool | None = Field(
        default=None,
        description="Always true for the two special kinds; true is refused while the fund has "
        "`other` lines",
    )
    amount: Amount | None = Field(
        default=None, description="Never below what is already allocated to budget lines"
    )
    document_no: DocumentNo | None = None
    notes: Notes | None = None


class SourcePublic(Schema):
    id: int
    name: str
    kind: FundingKind
    fiscal_year: int
    amount: Money
    document_no: str | None
    earmarked: bool
    notes: str | None
    allocated: MoneySum = Field(
        description="Σ of its budget lines; for a college manager, of their college's lines only"
    )
    unallocated: MoneySum | None = Field(
        description="amount − allocated; null for a college manager, who reads only their "
        "college's lines"
    )
    spent: MoneySum = Field(
        description="Σ spent on its lines (reversals netted); for a college manager, on their "
        "college's lines only"
    )
    version: int
    created_at: datetime
    updated_at: datetime


class LineCreate(Schema):
    source_id: RefId
    application_id: RefId = Field(description="The approved pilot the money is for")
    category: Category = Field(
        description="equipment 设备采购, teacher_training 师资培训, student_training 学生培训, "
        "exam_fee 考试费用, exam_subsidy 奖励补贴, other (not on an earmarked source)"
    )
    amount: Amount
    notes: Notes | None = None


class LineUpdate(PatchModel):
    NULLABLE = frozenset({"notes"})

    amount: Amount | None = Field(
        default=None,
        description="Never below what is already spent, and the source's lines never above "
        "its amount",
    )
    notes: Notes | None = None


class LinePublic(Schema):
    id: int
    source_id: int
    source_name: str
    fiscal_year: int
    earmarked: bool
    application_id: int
    application_label: str = Field(description="Certificate, level, tier and year of the pilot")
    category: Category
    amount: Money
    spent: MoneySum = Field(description="Σ of its expenditures, reversals netted")
    remaining: MoneySum
    notes: str | None
    version: int
    created_at: datetime
    updated_at: datetime


class ExpenditureCreate(Schema):
    line_id: RefId = Field(description="The budget line it is spent from")
    amount: PositiveAmount
    spent_on: SpentOn | None = Field(
        default=None, description="Date of payment; today in the school's time zone if left out"
    )
    payee: Payee = Field(description="收款方")
    voucher_no: VoucherNo = Field(
        description="凭证号, unique across the service; one word without spaces (PZ-001, 记-12)"
    )
    description: Notes | None = Field(default=None, description="摘要")
    base_id: RefId | None = Field(
        default=None,
        description="The training base (实训基地) the payment equips; only on an equipment "
        "(设备采购) line",
    )


class ExpenditureReverseBody(Schema):
    reason: Reason = Field(description="Why the entry is reversed (红冲原因)")
    voucher_no: VoucherNo | None = Field(
        default=None, description="The reversal's own voucher number; default `<original>-R`"
    )
    spent_on: SpentOn | None = Field(default=None, description="Default: today")


class ExpenditurePublic(Schema):
    id: int
    line_id: int
    source_id: int
    application_id: int
    category: Category
    kind: ExpenditureKind = Field(
        description="payment, subsidy (a pass subsidy of a run) or reversal (negative amount)"
    )
    amount: Money = Field(description="Negative for a reversal")
    spent_on: date
    payee: str
    voucher_no: str
    description: str | None
    reverses_id: int | None = Field(description="The entry this reversal cancels")
    reversed_by_id: int | None = Field(description="The reversal of this entry, if any")
    subsidy_run_id: int | None
    exam_result_id: int | None
    base_id: int | None = Field(description="The training base the payment equips")
    created_at: datetime


class SubsidyRunCreate(Schema):
    session_id: RefId = Field(description="The exam session whose passed candidates are paid")
    line_id: RefId = Field(description="An `exam_subsidy` budget line of the session's pilot")
    amount_per_student: PositiveAmount
    spent_on: SpentOn | None = Field(default=None, description="Default: today")


class SubsidyRunSummary(Schema):
    id: int
    session_id: int
    line_id: int
    application_id: int
    amount_per_student: Money
    passed_count: int
    already_paid_count: int
    paid_count: int
    total: MoneySum
    spent_on: date
    actor: str
    created_at: datetime


class SubsidyPayment(Schema):
    expenditure_id: int | None = Field(description="null in a dry run")
    exam_result_id: int
    student_id: int
    student_no: str
    student_name: str
    amount: Money
    voucher_no: str


class SubsidyRunPublic(Schema):
    id: int | None = Field(description="null in a dry run")
    dry_run: bool
    session_id: int
    line_id: int
    application_id: int
    amount_per_student: Money
    paid_count: int
    total: MoneySum
    spent_on: date
    passed: int = Field(description="Passed results of the session")
    already_paid: int = Field(
        description="Passed results paid by an earlier run and not reversed (not paid again)"
    )
    payments: list[SubsidyPayment]
    line_remaining: MoneySum = Field(description="What the line has left after the run")
    created_at: datetime | None


# --- list filters ------------------------------------------------------------------------------


class SourceFilters(BaseModel):
    """Filters of the funding sources list."""

    year: YearFilter = None
    kind: FundingKind | None = Field(None, description="Funds of this kind")
    earmarked: bool | None = Field(None, description="Earmarked (专款专用) funds, or the others")


class LineFilters(BaseModel):
    """Filters of the budget lines list."""

    source_id: IdFilter = Field(None, description="Lines of this funding source")
    application_id: IdFilter = Field(None, description="Lines of this pilot application")
    category: Category | None = Field(None, description="Lines of this category")
    year: YearFilter = None
    college_id: IdFilter = Field(None, description="Lines of pilots with a major of this college")


class ExpenditureFilters(UpdatedSince):
    """Filters of the expenditures list."""

    line_id: IdFilter = Field(None, description="Spent from this budget line")
    source_id: IdFilter = Field(None, description="Spent from this funding source")
    application_id: IdFilter = Field(None, description="Spent for this pilot application")
    category: Category | None = Field(None, description="Spent in this category")
    kind: ExpenditureKind | None = Field(None, description="payment, reversal or subsidy")
    subsidy_run_id: IdFilter = Field(None, description="Paid by this subsidy run")
    base_id: IdFilter = Field(None, description="Equipping this training base")
    date_from: DateFilter = Field(None, description="Spent on or after")
    date_to: DateFilter = Field(None, description="Spent on or before")
    voucher_no: str | None = Field(None, max_length=64, description="The voucher number, exactly")


class SubsidyRunFilters(BaseModel):
    """Filters of the subsidy runs list."""

    session_id: IdFilter = Field(None, description="Runs over this exam session")
    line_id: IdFilter = Field(None, description="Runs paid from this budget line")
    application_id: IdFilter = Field(None, description="Runs for this pilot application")


# --- the report ------------------------------------------------------------------------------


class FundingGroupBy(StrEnum):
    source = "source"
    category = "category"
    application = "application"
    college = "college"
    base = "base"


FUNDING_GROUP_BY_LABELS = enum_labels(
    FundingGroupBy,
    {
        FundingGroupBy.source: N_("Funding source"),
        FundingGroupBy.category: N_("Spending category"),
        FundingGroupBy.application: N_("Pilot"),
        FundingGroupBy.college: N_("College"),
        FundingGroupBy.base: N_("Training base"),
    },
)


class FundingRow(Schema):
    key: str
    label: str
    allocated: MoneySum = Field(description="Σ budget lines")
    spent: MoneySum = Field(description="Σ expenditures, reversals netted")
    remaining: MoneySum
    execution_rate: float | None = Field(
        description="spent ÷ allocated, four decimals (0.4567 = 45.67 %); null when nothing is "
        "allocated"
    )
    subsidies_paid: int = Field(description="Subsidy payments not reversed")
    subsidies_amount: MoneySum


class FundingReport(Schema):
    year: int | None
    group_by: FundingGroupBy
    rows: list[FundingRow]
    total: FundingRow = Field(description="Overall, each line counted once")
    sources_amount: MoneySum | None = Field(
        description="Σ of the year's sources' amounts (null for a college manager)"
    )
