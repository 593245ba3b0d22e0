"""The academic office's one-call overview of a year: applications, the exam funnel, teacher
coverage, funds, the credit bank and the evaluation ratings, each from its own domain."""

from datetime import date
from decimal import Decimal

from sqlmodel import Field, Session, col, func, select

from app.applications.models import ApplicationStatus, PilotApplication
from app.core.errors import Forbidden
from app.core.i18n import _
from app.core.labels import label
from app.core.models import Schema
from app.core.roles import READ_ALL, Principal
from app.core.types import Money
from app.credits import reports as credits_reports
from app.evaluations import reports
from app.evaluations import service as evaluations
from app.exams import reports as exams_reports
from app.exams.models import FunnelGroupBy, FunnelRow
from app.funding import service as funding
from app.trainings import reports as trainings_reports
from app.trainings.models import CoverageTotals, DualFigure


class StatusCount(Schema):
    status: ApplicationStatus
    applications: int
    headcount: int


class FundsFigure(Schema):
    allocated: Money = Field(description="Σ budget lines on the funds of the fiscal year")
    spent: Money = Field(description="Σ expenditures on those lines, reversals netted out")


class CreditsFigure(Schema):
    conversions_approved: int = Field(
        description="Approved, not reversed conversions of certificates the year's pilots issued"
    )
    credits_granted: Decimal = Field(description="Σ credits those conversions wrote to ledgers")


class EvaluationsFigure(Schema):
    finalized: bool
    by_rating: dict[str, int] = Field(
        description="Evaluations per rating (优秀/良好/合格/不合格) and `unrated` (no total yet)"
    )
    needs_rectification: int


class Overview(Schema):
    year: int | None
    as_of: date
    applications: list[StatusCount] = Field(description="Every status, zero included")
    headcount: int = Field(description="Σ headcount of the approved and closed pilots")
    funnel: FunnelRow = Field(description="The exam funnel's totals (approved/closed pilots)")
    teacher_coverage: CoverageTotals = Field(
        description="Trainer coverage and, beside it, evaluator (考评员) coverage"
    )
    dual_qualified: DualFigure = Field(
        description="双师型 teachers among all teachers on the day (the 双师型 report's overall)"
    )
    dual_qualified_pilot_teachers: DualFigure = Field(
        description="双师型 teachers among the teachers assigned to the year's pilots"
    )
    funds: FundsFigure = Field(description="The funding report's overall allocated and spent")
    credits: CreditsFigure = Field(description="The credit bank's approved conversions")
    evaluations: EvaluationsFigure


def funding_totals(session: Session, year: int | None) -> FundsFigure:
    """Allocated and spent money on the funds of the fiscal year (the funding report's sums)."""
    allocated, spent = funding.funding_totals(session, year)
    return FundsFigure(allocated=allocated, spent=spent)


def credit_totals(session: Session, year: int | None) -> CreditsFigure:
    """Approved (not reversed) conversions and the credits they granted, for the year's pilots."""
    conversions, credits = credits_reports.credit_totals(session, year)
    return CreditsFigure(conversions_approved=conversions, credits_granted=credits)


def _by_status(session: Session, year: int | None) -> dict[str, tuple[int, int]]:
    """Applications of the year per status: (how many, Σ headcount)."""
    statement = select(
        PilotApplication.status,
        func.count(col(PilotApplication.id)),
        func.coalesce(func.sum(PilotApplication.headcount), 0),
    )
    if year is not None:
        statement = statement.where(PilotApplication.year == year)
    return {
        status: (int(n), int(total))
        for status, n, total in session.exec(statement.group_by(col(PilotApplication.status))).all()
    }


def overview(session: Session, principal: Principal, year: int | None, today: date) -> Overview:
    """Each figure from the service that owns it, so the overview agrees with every report."""
    if principal.role not in READ_ALL:
        raise Forbidden(
            _(
                "Role {role} may not read the overview; allowed roles: academic_office, "
                "auditor, admin",
                role=label(principal.role),
            ),
            allowed_roles=sorted(r.value for r in READ_ALL),
        )
    counts = _by_status(session, year)
    funnel = exams_reports.funnel(session, principal, year=year, group_by=FunnelGroupBy.application)
    coverage = trainings_reports.coverage_report(session, principal, today=today, year=year)
    dual = trainings_reports.dual_report(session, principal, day=today, year=year)
    finalized = False
    if year is not None:
        finalized = evaluations.year_finalized(session, year)
    return Overview(
        year=year,
        as_of=today,
        applications=[
            StatusCount(
                status=status,
                applications=counts.get(status, (0, 0))[0],
                headcount=counts.get(status, (0, 0))[1],
            )
            for status in ApplicationStatus
        ],
        headcount=sum(counts.get(s, (0, 0))[1] for s in evaluations.DECIDED),
        funnel=funnel.total,
        teacher_coverage=coverage.overall,
        dual_qualified=dual.overall,
        dual_qualified_pilot_teachers=dual.pilot_teachers,
        funds=funding_totals(session, year),
        credits=credit_totals(session, year),
        evaluations=EvaluationsFigure(
            finalized=finalized,
            by_rating=reports.counts_by_rating(session, year),
            needs_rectification=reports.count_flagged(session, year),
        ),
    )
