"""The registry of evaluation indicators (考核指标).

Each indicator is one declared entry: its key, Chinese label, unit, default weight, how its
value becomes a 0–100 score, and a function ``(session, context, application_ids) ->
{application_id: value or None}`` that measures it for the pilots of ``context.year``. None
means *missing* (it cannot be measured yet), which is never the same as 0.
"""

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from app.applications.models import ApplicationMajor, PilotApplication, PilotPlan, PlanStatus
from app.applications.service import PLAN_ENTITY
from app.core.audit import AuditEvent
from app.core.i18n import N_
from app.core.types import school_date
from app.credits import reports as credits
from app.credits.models import ConversionRule
from app.exams.models import (
    CertificateStatus,
    ExamSession,
    IssuedCertificate,
    PilotCandidate,
)
from app.exams.reports import candidates_with
from app.funding import service as funding
from app.trainings import reports as trainings_reports

PLACE = Decimal("0.1")
HUNDRED = Decimal(100)
FILED_STATES = (PlanStatus.filed, PlanStatus.acknowledged)


@dataclass(frozen=True)
class IndicatorContext:
    """What an indicator function may need besides the pilots: the year, the scheme's plan
    deadline, the date coverage is measured on, the school's time zone and each headcount."""

    year: int
    plan_deadline: date | None
    as_of: date
    timezone: str
    headcount_of: Mapping[int, int]
    facts: dict[str, object] = field(default_factory=dict, compare=False, repr=False)
    """What one indicator read and another needs too (the exam counts, the issued
    certificates, the plans), read once per compute."""


Values = dict[int, Decimal | None]
ValueFunction = Callable[[Session, IndicatorContext, Sequence[int]], Values]
ScoreFunction = Callable[[Decimal, int], Decimal]


@dataclass(frozen=True)
class Indicator:
    key: str
    label: str
    """A catalogue msgid (``N_()``): shown through ``translate()``."""
    unit: str
    """``%``, or a catalogue msgid (people, conversions)."""
    default_weight: int
    scoring: str
    """How a value becomes a 0–100 score: a catalogue msgid."""
    missing_when: str
    """When the indicator is missing (null): a catalogue msgid."""
    values: ValueFunction
    score: ScoreFunction
    optional: bool = False
    """Added after schemes were stored: a scheme without its weight gives it 0 (off), and a
    PUT may leave it out."""


def percent(part: int | Decimal, whole: int | Decimal) -> Decimal:
    """part ÷ whole × 100 with one decimal."""
    return (Decimal(part) * HUNDRED / Decimal(whole)).quantize(PLACE, rounding=ROUND_HALF_UP)


def score_as_percent(value: Decimal, _headcount: int) -> Decimal:
    """A percentage is its own score, capped at 100."""
    return min(value, HUNDRED).quantize(PLACE, rounding=ROUND_HALF_UP)


def score_against_headcount(value: Decimal, headcount: int) -> Decimal:
    """A number of students scores as its share of the pilot's headcount, capped at 100."""
    return min(percent(value, headcount), HUNDRED)


# --- the measurements ------------------------------------------------------------------------


def _majors(session: Session, ids: Sequence[int]) -> dict[int, int]:
    rows = session.exec(
        select(ApplicationMajor.application_id, func.count())
        .where(col(ApplicationMajor.application_id).in_(ids))
        .group_by(col(ApplicationMajor.application_id))
    ).all()
    return {app_id: int(n) for app_id, n in rows}


def _filed_plans(session: Session, ids: Sequence[int]) -> list[tuple[int, int, datetime | None]]:
    """(pilot, plan, first filed at) for each filed or acknowledged plan of one of the pilots'
    majors; first filed = the earlier of its audited ``file`` actions and its ``filed_at``."""
    plans = session.exec(
        select(PilotPlan.application_id, PilotPlan.id, PilotPlan.filed_at)
        .join(
            ApplicationMajor,
            sa.and_(
                col(ApplicationMajor.application_id) == PilotPlan.application_id,
                col(ApplicationMajor.major_id) == PilotPlan.major_id,
            ),
        )
        .where(col(PilotPlan.application_id).in_(ids), col(PilotPlan.status).in_(FILED_STATES))
    ).all()
    if not plans:
        return []
    first = dict(
        session.exec(
            select(AuditEvent.entity_id, func.min(AuditEvent.created_at))
            .where(
                AuditEvent.entity == PLAN_ENTITY,
                AuditEvent.action == "file",
                col(AuditEvent.entity_id).in_([str(plan_id) for _, plan_id, _ in plans]),
            )
            .group_by(col(AuditEvent.entity_id))
        ).all()
    )
    filed = []
    for app_id, plan_id, filed_at in plans:
        times = [t for t in (first.get(str(plan_id)), filed_at) if t is not None]
        filed.append((app_id, plan_id or 0, min(times) if times else None))
    return filed


def _plan_facts(
    session: Session, context: IndicatorContext, ids: Sequence[int]
) -> tuple[dict[int, int], list[tuple[int, int, datetime | None]]]:
    """The pilots' major counts and filed plans, read once per compute for both plan
    indicators."""
    cached = context.facts.get("plans")
    if cached is None:
        cached = context.facts["plans"] = (_majors(session, ids), _filed_plans(session, ids))
    return cached  # type: ignore[return-value]


def plans_filed(session: Session, context: IndicatorContext, ids: Sequence[int]) -> Values:
    """Share of the pilot's majors whose work plan is filed or acknowledged."""
    majors, plans = _plan_facts(session, context, ids)
    filed: dict[int, int] = defaultdict(int)
    for app_id, _, _ in plans:
        filed[app_id] += 1
    return {a: percent(filed[a], majors[a]) if majors.get(a) else None for a in ids}


def plans_on_time(session: Session, context: IndicatorContext, ids: Sequence[int]) -> Values:
    """Share of the pilot's majors whose plan is filed and was first filed by the deadline, a
    calendar date in the school's time zone: a plan filed in time, returned by the office and
    filed again later stays on time. Missing while the year has no deadline."""
    if context.plan_deadline is None:
        return dict.fromkeys(ids)
    deadline = context.plan_deadline
    majors, plans = _plan_facts(session, context, ids)
    on_time: dict[int, int] = defaultdict(int)
    for app_id, _, first_filed in plans:
        if first_filed is not None and school_date(first_filed, context.timezone) <= deadline:
            on_time[app_id] += 1
    return {a: percent(on_time[a], majors[a]) if majors.get(a) else None for a in ids}


@dataclass(frozen=True)
class ExamCounts:
    """Per pilot: distinct students with a live registration, who sat, who passed (as in the
    funnel), and the pilots that have an exam session."""

    registered: dict[int, int]
    sat: dict[int, int]
    passed: dict[int, int]
    with_session: set[int]


def exam_counts(session: Session, context: IndicatorContext, ids: Sequence[int]) -> ExamCounts:
    """The pilots' exam counts, counted in SQL in one statement from the candidates the
    database keeps per student and pilot (and the pilots with a session in another), once per
    compute: the indicators that need them share them."""
    cached = context.facts.get("exam_counts")
    if isinstance(cached, ExamCounts):
        return cached
    registered: dict[int, int] = {}
    sat: dict[int, int] = {}
    passed: dict[int, int] = {}
    application = col(PilotCandidate.application_id)
    for app_id, n_registered, n_sat, n_passed in session.exec(
        select(
            application,
            candidates_with(PilotCandidate.registered),
            candidates_with(PilotCandidate.sat),
            candidates_with(PilotCandidate.passed),
        )
        .where(application.in_(ids), col(PilotCandidate.registered) > 0)
        .group_by(application)
    ).all():
        registered[app_id] = int(n_registered)
        if n_sat:
            sat[app_id] = int(n_sat)
        if n_passed:
            passed[app_id] = int(n_passed)
    with_session = set(
        session.exec(
            select(ExamSession.application_id)
            .where(col(ExamSession.application_id).in_(ids))
            .distinct()
        ).all()
    )
    counts = ExamCounts(registered, sat, passed, with_session)
    context.facts["exam_counts"] = counts
    return counts


def registration_rate(session: Session, context: IndicatorContext, ids: Sequence[int]) -> Values:
    """Distinct students with a live (not cancelled) registration ÷ the pilot's headcount;
    missing while the pilot has no exam session at all (nothing to register for yet)."""
    counts = exam_counts(session, context, ids)
    return {
        a: percent(counts.registered.get(a, 0), context.headcount_of[a])
        if a in counts.with_session or a in counts.registered
        else None
        for a in ids
    }


def pass_rate(session: Session, context: IndicatorContext, ids: Sequence[int]) -> Values:
    """Candidates who passed ÷ candidates who sat; missing while nobody has sat an exam."""
    counts = exam_counts(session, context, ids)
    sat, passed = counts.sat, counts.passed
    return {a: percent(passed.get(a, 0), sat[a]) if sat.get(a) else None for a in ids}


@dataclass(frozen=True)
class IssuedCounts:
    """Per pilot (the application of the session that issued it): distinct students holding a
    valid certificate, and the pilots that issued any certificate (whatever its status)."""

    valid_holders: dict[int, int]
    issued_any: set[int]


def issued_counts(session: Session, context: IndicatorContext, ids: Sequence[int]) -> IssuedCounts:
    """The pilots' issued certificates counted in one statement, once per compute (the
    certificates and the conversions indicators share it)."""
    cached = context.facts.get("issued_counts")
    if isinstance(cached, IssuedCounts):
        return cached
    student = col(IssuedCertificate.student_id)
    rows = session.exec(
        select(
            ExamSession.application_id,
            func.count(
                sa.distinct(
                    sa.case((col(IssuedCertificate.status) == CertificateStatus.valid, student))
                )
            ),
        )
        .join(ExamSession, col(ExamSession.id) == IssuedCertificate.session_id)
        .where(col(ExamSession.application_id).in_(ids))
        .group_by(col(ExamSession.application_id))
    ).all()
    counts = IssuedCounts(
        valid_holders={app_id: int(n) for app_id, n in rows if n},
        issued_any={app_id for app_id, _n in rows},
    )
    context.facts["issued_counts"] = counts
    return counts


def certificates_issued(session: Session, context: IndicatorContext, ids: Sequence[int]) -> Values:
    """Distinct students holding a valid certificate issued from one of the pilot's sessions;
    missing while nobody has sat an exam of the pilot."""
    sat = exam_counts(session, context, ids).sat
    issued = issued_counts(session, context, ids).valid_holders
    return {a: Decimal(issued.get(a, 0)) if sat.get(a) or issued.get(a) else None for a in ids}


def teacher_coverage(session: Session, context: IndicatorContext, ids: Sequence[int]) -> Values:
    """The teacher-coverage report's figure for the pilot (trainings.coverage_by_application)
    as of the evaluated year's last day (or the compute day while the year runs): trainings
    certified later, or expired by then, do not count. Missing when no teacher is assigned."""
    figures = trainings_reports.coverage_by_application(session, ids, context.as_of)
    return {
        a: None
        if figures[a].coverage_percent is None
        else Decimal(str(figures[a].coverage_percent)).quantize(PLACE)
        for a in ids
    }


def dual_qualified_share(session: Session, context: IndicatorContext, ids: Sequence[int]) -> Values:
    """The share of the pilot's assigned teachers recognised as 双师型 on the evaluated year's
    last day (or the compute day while the year runs), as the 双师型 report counts it. Missing
    when no teacher is assigned."""
    figures = trainings_reports.dual_by_application(session, ids, context.as_of)
    return {
        a: None
        if figures[a].share_percent is None
        else Decimal(str(figures[a].share_percent)).quantize(PLACE)
        for a in ids
    }


def budget_execution(session: Session, context: IndicatorContext, ids: Sequence[int]) -> Values:
    """Spent ÷ allocated over the pilot's budget lines on funds of the evaluated fiscal year
    (the funding report's own figures); missing when nothing is budgeted to the pilot."""
    rows = funding.execution_by_application(session, context.year)
    return {
        a: percent(rows[a][1], rows[a][0]) if a in rows and rows[a][0] > 0 else None for a in ids
    }


def conversions_approved(session: Session, context: IndicatorContext, ids: Sequence[int]) -> Values:
    """Approved, not reversed credit conversions of certificates the pilot issued (the credit
    bank's own count); missing while the pilot has issued no certificate, or when no credit-bank
    rule converts its certificate (a conversion is then impossible, not failed)."""
    counts = credits.approved_conversions_by_application(session, context.year)
    issued = issued_counts(session, context, ids).issued_any
    convertible = set(
        session.exec(
            select(PilotApplication.id)
            .join(
                ConversionRule,
                col(ConversionRule.certificate_id) == PilotApplication.certificate_id,
            )
            .where(col(PilotApplication.id).in_(ids))
            .distinct()
        ).all()
    )
    return {a: Decimal(counts.get(a, 0)) if a in issued and a in convertible else None for a in ids}


# --- the registry ----------------------------------------------------------------------------

PERCENT_SCORING = N_("the percentage itself, capped at 100")
HEADCOUNT_SCORING = N_("the number ÷ the pilot's headcount × 100, capped at 100")

INDICATORS: tuple[Indicator, ...] = (
    Indicator(
        key="plans_filed",
        label=N_("Work plan filing rate"),
        unit="%",
        default_weight=10,
        scoring=PERCENT_SCORING,
        missing_when=N_("never (every pilot has at least one major)"),
        values=plans_filed,
        score=score_as_percent,
    ),
    Indicator(
        key="plans_on_time",
        label=N_("On-time plan filing rate"),
        unit="%",
        default_weight=5,
        scoring=PERCENT_SCORING,
        missing_when=N_("the year's scheme sets no plan deadline"),
        values=plans_on_time,
        score=score_as_percent,
    ),
    Indicator(
        key="registration_rate",
        label=N_("Registration rate (registered ÷ declared)"),
        unit="%",
        default_weight=15,
        scoring=PERCENT_SCORING,
        missing_when=N_("the pilot has no exam session yet"),
        values=registration_rate,
        score=score_as_percent,
    ),
    Indicator(
        key="pass_rate",
        label=N_("Exam pass rate"),
        unit="%",
        default_weight=15,
        scoring=PERCENT_SCORING,
        missing_when=N_("nobody has sat an exam of the pilot yet"),
        values=pass_rate,
        score=score_as_percent,
    ),
    Indicator(
        key="certificates_issued",
        label=N_("Certificates obtained"),
        unit=N_("people"),
        default_weight=10,
        scoring=HEADCOUNT_SCORING,
        missing_when=N_("nobody has sat an exam of the pilot yet"),
        values=certificates_issued,
        score=score_against_headcount,
    ),
    Indicator(
        key="teacher_coverage",
        label=N_("Teacher training coverage"),
        unit="%",
        default_weight=10,
        scoring=PERCENT_SCORING,
        missing_when=N_("no teacher is assigned to the pilot"),
        values=teacher_coverage,
        score=score_as_percent,
    ),
    Indicator(
        key="budget_execution",
        label=N_("Budget execution rate"),
        unit="%",
        default_weight=10,
        scoring=PERCENT_SCORING,
        missing_when=N_("no money of the year's funds is budgeted to the pilot"),
        values=budget_execution,
        score=score_as_percent,
    ),
    Indicator(
        key="conversions_approved",
        label=N_("Credit conversions approved"),
        unit=N_("conversions"),
        default_weight=5,
        scoring=HEADCOUNT_SCORING,
        missing_when=N_(
            "the pilot has issued no certificate, or no credit-bank rule converts its certificate"
        ),
        values=conversions_approved,
        score=score_against_headcount,
    ),
    Indicator(
        key="dual_qualified_share",
        label=N_("Dual-qualified (双师型) teachers"),
        unit="%",
        default_weight=0,
        scoring=PERCENT_SCORING,
        missing_when=N_("no teacher is assigned to the pilot"),
        values=dual_qualified_share,
        score=score_as_percent,
        optional=True,
    ),
)
DEFAULT_COMMITTEE_WEIGHT = 20
DEFAULT_THRESHOLDS = (Decimal("90.0"), Decimal("75.0"), Decimal("60.0"))  # 优秀, 良好, 合格
BY_KEY = {indicator.key: indicator for indicator in INDICATORS}

assert sum(i.default_weight for i in INDICATORS) + DEFAULT_COMMITTEE_WEIGHT == 100
