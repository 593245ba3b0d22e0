"""Teacher coverage (师资培训覆盖率): which teachers assigned to a pilot hold a certified, still
valid trainer training for its certificate at or above its level — per pilot (the application's
detail and the annual evaluation read it), and as the report per pilot, per teachers' college
and overall, in JSON or as a CSV/XLSX download."""

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from app.applications.models import (
    ApplicationMajor,
    ApplicationStatus,
    PilotApplication,
    PilotTeacher,
)
from app.applications.service import APPLICATIONS, visible
from app.core.errors import Forbidden
from app.core.export import ExportColumn, as_fraction
from app.core.i18n import N_, _, translate
from app.core.labels import label
from app.core.reports import TOTAL, stored_text, trusted_row
from app.core.roles import READ_ALL_OR_COLLEGE, Principal, Role
from app.reference.models import Certificate, College, Level, Major, Teacher
from app.trainings.models import (
    ApplicationDetail,
    CoverageCollege,
    CoverageFigure,
    CoveragePilot,
    CoverageTotals,
    DualCollege,
    DualFigure,
    DualPilot,
    DualReport,
    EvaluatorFigure,
    EvaluatorQualification,
    TeacherCoverageReport,
    TeacherTraining,
    TrainingBatch,
    TrainingEnrollment,
    TrainingStatus,
)

# --- the figure ------------------------------------------------------------------------------


def _rank(column: Any) -> Any:
    return sa.case({lv.value: lv.rank for lv in Level}, value=column, else_=-1)


@lru_cache(maxsize=16)
def covered_expression(today: date) -> Any:
    """True for a PilotTeacher row (joined to its PilotApplication) whose teacher holds a
    training for the pilot's certificate at or above its level, certified by ``today`` and
    still valid on it (``today`` may be a past day: the evaluation measures at year end).
    Built once per day (an expression is immutable, and building it cost a report a tenth of
    its time)."""
    return (
        select(TeacherTraining.id)
        .where(
            col(TeacherTraining.teacher_id) == col(PilotTeacher.teacher_id),
            col(TeacherTraining.certificate_id) == col(PilotApplication.certificate_id),
            col(TeacherTraining.status) == TrainingStatus.certified,
            _rank(col(TeacherTraining.level)) >= _rank(col(PilotApplication.level)),
            sa.or_(
                col(TeacherTraining.certified_on).is_(None),
                col(TeacherTraining.certified_on) <= today,
            ),
            sa.or_(
                col(TeacherTraining.valid_until).is_(None),
                col(TeacherTraining.valid_until) >= today,
            ),
        )
        .exists()
    )


@lru_cache(maxsize=16)
def qualified_expression(today: date) -> Any:
    """True for a PilotTeacher row (joined to its PilotApplication) whose teacher holds a 考评员
    qualification for the pilot's certificate at or above its level, issued by ``today`` and
    still valid on it."""
    return (
        select(EvaluatorQualification.id)
        .where(
            col(EvaluatorQualification.teacher_id) == col(PilotTeacher.teacher_id),
            col(EvaluatorQualification.certificate_id) == col(PilotApplication.certificate_id),
            _rank(col(EvaluatorQualification.level)) >= _rank(col(PilotApplication.level)),
            col(EvaluatorQualification.issued_on) <= today,
            sa.or_(
                col(EvaluatorQualification.valid_until).is_(None),
                col(EvaluatorQualification.valid_until) >= today,
            ),
        )
        .exists()
    )


def _assignments_holding(
    session: Session, application_ids: Any, holds: Any, *conditions: Any
) -> list[Any]:
    """(application id, teacher name, staff no, college id, college name, holds) for every
    teacher assigned to the applications (and meeting ``conditions``), in one statement;
    ``holds`` is the SQL truth of what the teacher must hold on the day."""
    return list(
        session.exec(
            select(  # type: ignore[call-overload]
                PilotTeacher.application_id,
                Teacher.name,
                Teacher.staff_no,
                College.id,
                College.name,
                holds,
            )
            .join(PilotApplication, col(PilotApplication.id) == PilotTeacher.application_id)
            .join(Teacher, col(Teacher.id) == PilotTeacher.teacher_id)
            .join(College, col(College.id) == Teacher.college_id)
            .where(col(PilotTeacher.application_id).in_(application_ids), *conditions)
            .order_by(col(Teacher.staff_no))
        ).all()
    )


def _evaluator_assignments(session: Session, application_ids: Any, today: date) -> list[Any]:
    """The teachers assigned as evaluators, each with whether a 考评员 qualification covers it."""
    qualified = qualified_expression(today).label("qualified")
    evaluator = col(PilotTeacher.evaluator).is_(True)
    return _assignments_holding(session, application_ids, qualified, evaluator)


def _assignments(session: Session, application_ids: Any, today: date) -> list[Any]:
    """The teachers assigned, each with whether a valid trainer certificate covers it."""
    return _assignments_holding(
        session, application_ids, covered_expression(today).label("covered")
    )


def _percent(part: int, whole: int) -> float | None:
    return round(part * 100 / whole, 1) if whole else None


def _tally(rows: Sequence[Any]) -> tuple[int, int, dict[str, Any]]:
    """Of assignment rows: how many, how many hold, and the figure's shared fields."""
    assigned = len(rows)
    holding = sum(1 for row in rows if row[5])
    return (
        assigned,
        holding,
        {
            "coverage_percent": _percent(holding, assigned),
            "below_target": assigned == 0 or holding < assigned,
            "missing": [f"{row[1]} ({row[2]})" for row in rows if not row[5]],
        },
    )


def _evaluator_figure(rows: Sequence[Any]) -> EvaluatorFigure:
    assigned, qualified, shared = _tally(rows)
    return EvaluatorFigure(assigned=assigned, qualified=qualified, **shared)


def _figure(rows: Sequence[Any]) -> CoverageFigure:
    assigned, certified, shared = _tally(rows)
    return CoverageFigure(assigned=assigned, certified=certified, **shared)


def coverage_by_application(
    session: Session, application_ids: Sequence[int], today: date
) -> dict[int, CoverageFigure]:
    """The coverage figure of each pilot, the same computation as the coverage report, in
    one statement (the annual evaluation's teacher-coverage indicator)."""
    by_pilot: dict[int, list[Any]] = defaultdict(list)
    if application_ids:
        for row in _assignments(session, list(application_ids), today):
            by_pilot[row[0]].append(row)
    return {app_id: _figure(by_pilot.get(app_id, [])) for app_id in application_ids}


# --- one application's figures ---------------------------------------------------------------


def application_figures(
    session: Session, application_id: int, today: date
) -> tuple[CoverageFigure, int]:
    """The pilot's teacher coverage and how many students completed one of its batches."""
    figure = _figure(_assignments(session, [application_id], today))
    trained = session.exec(
        select(func.count(sa.distinct(col(TrainingEnrollment.student_id))))
        .join(TrainingBatch, col(TrainingBatch.id) == TrainingEnrollment.batch_id)
        .where(TrainingBatch.application_id == application_id, col(TrainingEnrollment.completed))
    ).one()
    return figure, int(trained)


def application_detail(
    session: Session, principal: Principal, application_id: int, today: date
) -> ApplicationDetail:
    """The application as its list shows it, with its teacher coverage (without the missing
    teachers' names for a student) and its trained-student count; 404 when it is not there for
    the principal."""
    application = APPLICATIONS.one(session, principal, application_id)
    coverage, trained = application_figures(session, application_id, today)
    evaluators = _evaluator_figure(_evaluator_assignments(session, [application_id], today))
    if principal.role == Role.student:
        coverage = coverage.model_copy(update={"missing": None})
        evaluators = evaluators.model_copy(update={"missing": None})
    return ApplicationDetail.model_validate(
        {
            **application.model_dump(),
            "teacher_coverage": coverage,
            "evaluator_coverage": evaluators,
            "trained_students": trained,
        }
    )


# --- the report ------------------------------------------------------------------------------


def _require_report_reader(principal: Principal) -> None:
    if principal.role not in READ_ALL_OR_COLLEGE:
        raise Forbidden(
            _("Role {role} may not read the teacher coverage report", role=label(principal.role)),
            allowed_roles=sorted(r.value for r in READ_ALL_OR_COLLEGE),
        )


def _pilot_statement(
    principal: Principal,
    year: int | None,
    status: ApplicationStatus | None,
    certificate_id: int | None,
) -> Any:
    """The pilots the report covers, with their certificate's name."""
    statement = visible(
        select(PilotApplication, Certificate.name).join(
            Certificate, col(Certificate.id) == PilotApplication.certificate_id
        ),
        principal,
    )
    if year is not None:
        statement = statement.where(PilotApplication.year == year)
    if status is not None:
        statement = statement.where(PilotApplication.status == status)
    else:
        statement = statement.where(
            col(PilotApplication.status).not_in(
                [ApplicationStatus.rejected, ApplicationStatus.draft]
            )
        )
    if certificate_id is not None:
        statement = statement.where(PilotApplication.certificate_id == certificate_id)
    return statement


def _pilot_rows(
    pilots: Sequence[Any], assignments: Sequence[Any], evaluators: Sequence[Any]
) -> list[CoveragePilot]:
    """One row per pilot, in the pilots' order, from the assignments of all of them; a pilot
    is (id, year, certificate id, certificate name, level, tier, status), the last three as
    the text stored."""
    by_pilot: dict[int, list[Any]] = defaultdict(list)
    for row in assignments:
        by_pilot[row[0]].append(row)
    evaluators_of: dict[int, list[Any]] = defaultdict(list)
    for row in evaluators:
        evaluators_of[row[0]].append(row)
    rows = []
    for app_id, app_year, certificate_id, certificate_name, level, tier, app_status in pilots:
        assigned, certified, shared = _tally(by_pilot.get(app_id, []))
        e_assigned, qualified, e_shared = _tally(evaluators_of.get(app_id, []))
        # Built without validating again: every value already has its field's type.
        evaluator_figure = trusted_row(
            EvaluatorFigure, {"assigned": e_assigned, "qualified": qualified, **e_shared}
        )
        values = {
            "assigned": assigned,
            "certified": certified,
            **shared,
            "evaluators": evaluator_figure,
            "application_id": app_id,
            "year": app_year,
            "certificate_id": certificate_id,
            "certificate_name": certificate_name,
            "level": _LEVELS[level],
            "tier": tier,
            "status": app_status,
        }
        rows.append(trusted_row(CoveragePilot, values))
    return rows


_LEVELS = {level.value: level for level in Level}


def _college_rows(assignments: Sequence[Any], evaluators: Sequence[Any]) -> list[CoverageCollege]:
    """One row per teachers' college, by name: its teachers' assignments and covered ones, and
    its evaluator assignments and qualified ones."""
    colleges: dict[int, list[Any]] = {}
    for _app_id, _name, _staff_no, college_id, college_name, covered in assignments:
        figures = colleges.setdefault(college_id, [college_name, 0, 0, 0, 0])
        figures[1] += 1
        figures[2] += 1 if covered else 0
    for _app_id, _name, _staff_no, college_id, college_name, qualified in evaluators:
        figures = colleges.setdefault(college_id, [college_name, 0, 0, 0, 0])
        figures[3] += 1
        figures[4] += 1 if qualified else 0
    return [
        CoverageCollege(
            college_id=college_id,
            college_name=name,
            assigned=n,
            certified=ok,
            coverage_percent=_percent(ok, n),
            evaluators_assigned=e_n,
            evaluators_qualified=e_ok,
            evaluator_coverage_percent=_percent(e_ok, e_n),
        )
        for college_id, (name, n, ok, e_n, e_ok) in sorted(colleges.items(), key=lambda i: i[1][0])
    ]


def _overall(pilot_rows: Sequence[CoveragePilot]) -> CoverageTotals:
    assigned = sum(p.assigned for p in pilot_rows)
    certified = sum(p.certified for p in pilot_rows)
    e_assigned = sum(p.evaluators.assigned for p in pilot_rows)
    e_qualified = sum(p.evaluators.qualified for p in pilot_rows)
    return CoverageTotals(
        pilots=len(pilot_rows),
        pilots_below_target=sum(1 for p in pilot_rows if p.below_target),
        assigned=assigned,
        certified=certified,
        coverage_percent=_percent(certified, assigned),
        evaluators_assigned=e_assigned,
        evaluators_qualified=e_qualified,
        evaluator_coverage_percent=_percent(e_qualified, e_assigned),
        pilots_below_evaluator_target=sum(1 for p in pilot_rows if p.evaluators.below_target),
    )


@lru_cache(maxsize=64)
def _report_statement(
    scope: Principal,
    year: int | None,
    status: ApplicationStatus | None,
    certificate_id: int | None,
    today: date,
) -> Any:
    """The pilots the report covers (newest year first), each left-joined to its teachers'
    assignments, each with whether a trainer certificate covers it and, for an evaluator's,
    whether a 考评员 qualification does; columns only, the enums as stored text (plain rows,
    no per-value conversion). Built once per set of arguments and kept: a statement is
    immutable and remembers its cache key, and building both took as long as the database
    answering. ``scope`` is the reader with only what :func:`visible` reads."""
    evaluator = col(PilotTeacher.evaluator).is_(True)
    return (
        _pilot_statement(scope, year, status, certificate_id)
        .with_only_columns(
            col(PilotApplication.id),
            col(PilotApplication.year),
            col(PilotApplication.certificate_id),
            col(Certificate.name),
            stored_text(PilotApplication.level),
            stored_text(PilotApplication.tier),
            stored_text(PilotApplication.status),
            col(Teacher.name),
            col(Teacher.staff_no),
            col(College.id),
            col(College.name),
            sa.case((col(PilotTeacher.id).is_not(None), covered_expression(today))),
            evaluator,
            sa.case((evaluator, qualified_expression(today))),
        )
        .outerjoin(PilotTeacher, col(PilotTeacher.application_id) == PilotApplication.id)
        .outerjoin(Teacher, col(Teacher.id) == PilotTeacher.teacher_id)
        .outerjoin(College, col(College.id) == Teacher.college_id)
        .order_by(
            col(PilotApplication.year).desc(), col(PilotApplication.id), col(Teacher.staff_no)
        )
    )


def _pilots_and_assignments(
    session: Session, statement: Any
) -> tuple[list[Any], list[Any], list[Any]]:
    """The pilots of :func:`_report_statement`, and the assignments and evaluator assignments
    of their teachers (as :func:`_assignments` and :func:`_evaluator_assignments` give them)."""
    pilots: dict[int, Any] = {}
    assignments: list[Any] = []
    evaluators: list[Any] = []
    for row in session.connection().execute(statement).all():
        pilots.setdefault(row[0], row[:7])
        if row[8] is None:  # a pilot without teachers
            continue
        assigned = (row[0], *row[7:11])
        assignments.append((*assigned, row[11]))
        if row[12]:
            evaluators.append((*assigned, row[13]))
    return list(pilots.values()), assignments, evaluators


def coverage_report(
    session: Session,
    principal: Principal,
    *,
    today: date,
    year: int | None = None,
    status: ApplicationStatus | None = None,
    certificate_id: int | None = None,
) -> TeacherCoverageReport:
    """Coverage per pilot, per teachers' college and overall, in one statement whatever the
    number of pilots and teachers. Without ``status`` rejected and draft pilots are left out."""
    _require_report_reader(principal)
    scope = replace(principal, label="", user_id=None, api_key_id=None)
    statement = _report_statement(scope, year, status, certificate_id, today)
    pilots, assignments, evaluators = _pilots_and_assignments(session, statement)
    pilot_rows = _pilot_rows(pilots, assignments, evaluators)
    return TeacherCoverageReport(
        year=year,
        as_of=today,
        pilots=pilot_rows,
        colleges=_college_rows(assignments, evaluators),
        overall=_overall(pilot_rows),
    )


# --- its export ------------------------------------------------------------------------------

PILOT, COLLEGE, ALL_PILOTS = N_("Pilot"), N_("College"), N_("All pilots")
PILOT_TEACHERS, ALL_TEACHERS = N_("Teachers of the pilots"), N_("All teachers")

COVERAGE_COLUMNS = [
    ExportColumn("scope", N_("Scope")),
    ExportColumn("application_id", N_("Application ID")),
    ExportColumn("label", N_("Name")),
    ExportColumn("level", N_("Level")),
    ExportColumn("assigned", N_("Number of pilot teachers")),
    ExportColumn("certified", N_("Certified teachers")),
    ExportColumn("coverage_percent", N_("Coverage rate"), percent=True),
    ExportColumn("below_target", N_("Below the 100% target")),
    ExportColumn("missing", N_("Teachers without certificate")),
    ExportColumn("evaluators_assigned", N_("Pilot evaluators")),
    ExportColumn("evaluators_qualified", N_("Qualified evaluators")),
    ExportColumn("evaluator_coverage_percent", N_("Evaluator coverage rate"), percent=True),
    ExportColumn("evaluators_missing", N_("Evaluators without qualification")),
]


def _evaluator_cells(figure: EvaluatorFigure) -> dict[str, Any]:
    return {
        "evaluators_assigned": figure.assigned,
        "evaluators_qualified": figure.qualified,
        "evaluator_coverage_percent": figure.coverage_percent,
        "evaluators_missing": figure.missing,
    }


def coverage_rows(report: TeacherCoverageReport) -> list[dict[str, Any]]:
    """The export's rows: each pilot, each college, then the overall row."""
    items = _pilot_and_college_rows(
        report.pilots, report.colleges, lambda pilot: _evaluator_cells(pilot.evaluators)
    )
    items.append(
        {**report.overall.model_dump(), "scope": translate(TOTAL), "label": translate(ALL_PILOTS)}
    )
    return _fractions(items, "coverage_percent", "evaluator_coverage_percent")


def _pilot_and_college_rows(
    pilots: Sequence[Any],
    colleges: Sequence[Any],
    pilot_cells: Callable[[Any], dict[str, Any]] = lambda _pilot: {},
) -> list[dict[str, Any]]:
    """A teacher report's export rows of its pilots (named by year and certificate, with
    ``pilot_cells`` of each), then of its colleges, each with its scope."""
    items: list[dict[str, Any]] = [
        {
            **pilot.model_dump(),
            **pilot_cells(pilot),
            "scope": translate(PILOT),
            "label": f"{pilot.year} {pilot.certificate_name}",
        }
        for pilot in pilots
    ]
    items += [
        {**college.model_dump(), "scope": translate(COLLEGE), "label": college.college_name}
        for college in colleges
    ]
    return items


def _fractions(items: list[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    """The rows with the percentages under ``keys`` as the fractions percent cells hold."""
    for item in items:
        for key in keys:
            item[key] = as_fraction(item.get(key))
    return items


# --- the 双师型 share ------------------------------------------------------------------------


def dual_on(day: date) -> Any:
    """True for a Teacher recognised as 双师型 by ``day`` and not lapsed on it."""
    return sa.and_(
        col(Teacher.dual_basis).is_not(None),
        col(Teacher.dual_recognised_on) <= day,
        sa.or_(col(Teacher.dual_valid_until).is_(None), col(Teacher.dual_valid_until) >= day),
    )


def _dual_figure(teachers: int, dual: int) -> DualFigure:
    return DualFigure(
        teachers=teachers, dual_qualified=dual, share_percent=_percent(dual, teachers)
    )


def dual_by_application(
    session: Session, application_ids: Sequence[int], day: date
) -> dict[int, DualFigure]:
    """Per pilot: its assigned teachers and the 双师型 among them on ``day``, one statement
    (the annual evaluation's 双师型 indicator)."""
    counts: dict[int, tuple[int, int]] = {}
    if application_ids:
        for app_id, n, dual in session.exec(
            select(
                PilotTeacher.application_id,
                func.count(),
                func.sum(sa.case((dual_on(day), 1), else_=0)),
            )
            .join(Teacher, col(Teacher.id) == PilotTeacher.teacher_id)
            .where(col(PilotTeacher.application_id).in_(list(application_ids)))
            .group_by(col(PilotTeacher.application_id))
        ).all():
            counts[app_id] = (int(n), int(dual or 0))
    return {a: _dual_figure(*counts.get(a, (0, 0))) for a in application_ids}


def _teacher_scope(statement: Any, principal: Principal) -> Any:
    if principal.role == Role.college_manager:
        return statement.where(Teacher.college_id == (principal.college_id or -1))
    return statement


def dual_report(
    session: Session,
    principal: Principal,
    *,
    day: date,
    year: int | None = None,
    certificate_id: int | None = None,
) -> DualReport:
    """The 双师型 share per pilot (its assigned teachers), per college (all its teachers),
    overall, and over the pilots' teachers. For the office, auditors, admins and college
    managers (their college's pilots and teachers)."""
    if principal.role not in READ_ALL_OR_COLLEGE:
        raise Forbidden(
            _("Role {role} may not read the 双师型 report", role=label(principal.role)),
            allowed_roles=sorted(r.value for r in READ_ALL_OR_COLLEGE),
        )
    statement = _pilot_statement(principal, year, None, certificate_id)
    pilots = session.exec(
        statement.order_by(col(PilotApplication.year).desc(), col(PilotApplication.id))
    ).all()
    ids = [application.id for application, _name in pilots]
    figures = dual_by_application(session, ids, day)
    majors: dict[int, list[str]] = defaultdict(list)
    if ids:
        for app_id, name in session.exec(
            select(ApplicationMajor.application_id, Major.name)
            .join(Major, col(Major.id) == ApplicationMajor.major_id)
            .where(col(ApplicationMajor.application_id).in_(ids))
            .order_by(col(Major.code))
        ).all():
            majors[app_id].append(name)
    dual = sa.case((dual_on(day), 1), else_=0)
    colleges = session.exec(
        _teacher_scope(
            select(College.id, College.name, func.count(col(Teacher.id)), func.sum(dual))
            .join(Teacher, col(Teacher.college_id) == College.id)
            .group_by(col(College.id), col(College.name))
            .order_by(col(College.name)),
            principal,
        )
    ).all()
    pilot_teachers = session.exec(
        select(func.count(col(Teacher.id)), func.sum(dual)).where(
            col(Teacher.id).in_(
                select(PilotTeacher.teacher_id).where(col(PilotTeacher.application_id).in_(ids))
            )
        )
    ).one()
    return DualReport(
        year=year,
        as_of=day,
        pilots=[
            DualPilot(
                **figures[application.id].model_dump(),
                application_id=application.id,
                year=application.year,
                certificate_name=certificate_name,
                level=application.level,
                majors=majors[application.id],
            )
            for application, certificate_name in pilots
        ],
        colleges=[
            DualCollege(
                **_dual_figure(int(n), int(d or 0)).model_dump(),
                college_id=college_id,
                college_name=name,
            )
            for college_id, name, n, d in colleges
        ],
        overall=_dual_figure(
            sum(int(row[2]) for row in colleges), sum(int(row[3] or 0) for row in colleges)
        ),
        pilot_teachers=_dual_figure(int(pilot_teachers[0] or 0), int(pilot_teachers[1] or 0)),
    )


DUAL_COLUMNS = [
    ExportColumn("scope", N_("Scope")),
    ExportColumn("application_id", N_("Application ID")),
    ExportColumn("label", N_("Name")),
    ExportColumn("majors", N_("Pilot majors")),
    ExportColumn("teachers", N_("Number of teachers")),
    ExportColumn("dual_qualified", N_("Dual-qualified teachers")),
    ExportColumn("share_percent", N_("Dual-qualified share"), percent=True),
]


def dual_rows(report: DualReport) -> list[dict[str, Any]]:
    """The export's rows: each pilot, each college, the pilots' teachers and everyone."""
    items = _pilot_and_college_rows(report.pilots, report.colleges)
    total = translate(TOTAL)
    items.append(
        {**report.pilot_teachers.model_dump(), "scope": total, "label": translate(PILOT_TEACHERS)}
    )
    items.append({**report.overall.model_dump(), "scope": total, "label": translate(ALL_TEACHERS)})
    return _fractions(items, "share_percent")
