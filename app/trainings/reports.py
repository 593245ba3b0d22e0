"""Teacher coverage (师资培训覆盖率): which teachers assigned to a pilot hold a certified, still
valid trainer training for its certificate at or above its level — per pilot (the application's
detail and the annual evaluation read it), and as the report per pilot, per teachers' college
and overall, in JSON or as a CSV/XLSX download."""

from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from app.applications.models import ApplicationStatus, PilotApplication, PilotTeacher
from app.applications.service import get_application, visible
from app.core.errors import Forbidden
from app.core.export import ExportColumn
from app.core.i18n import N_, _, translate
from app.core.reports import TOTAL
from app.core.roles import READ_ALL_OR_COLLEGE, Principal, Role
from app.reference.models import Certificate, College, Level, Teacher
from app.trainings.models import (
    ApplicationDetail,
    CoverageCollege,
    CoverageFigure,
    CoveragePilot,
    CoverageTotals,
    TeacherCoverageReport,
    TeacherTraining,
    TrainingBatch,
    TrainingEnrollment,
    TrainingStatus,
)

# --- the figure ------------------------------------------------------------------------------


def _rank(column: Any) -> Any:
    return sa.case({lv.value: lv.rank for lv in Level}, value=column, else_=-1)


def covered_expression(today: date) -> Any:
    """True for a PilotTeacher row (joined to its PilotApplication) whose teacher holds a
    training for the pilot's certificate at or above its level, certified by ``today`` and
    still valid on it (``today`` may be a past day: the evaluation measures at year end)."""
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


def _assignments(session: Session, application_ids: Any, today: date) -> list[Any]:
    """(application id, teacher name, staff no, college id, college name, covered) for every
    teacher assigned to the applications, in one statement."""
    covered = covered_expression(today).label("covered")
    return list(
        session.exec(
            select(  # type: ignore[call-overload]
                PilotTeacher.application_id,
                Teacher.name,
                Teacher.staff_no,
                College.id,
                College.name,
                covered,
            )
            .join(PilotApplication, col(PilotApplication.id) == PilotTeacher.application_id)
            .join(Teacher, col(Teacher.id) == PilotTeacher.teacher_id)
            .join(College, col(College.id) == Teacher.college_id)
            .where(col(PilotTeacher.application_id).in_(application_ids))
            .order_by(col(Teacher.staff_no))
        ).all()
    )


def _percent(part: int, whole: int) -> float | None:
    return round(part * 100 / whole, 1) if whole else None


def _figure(rows: Sequence[Any]) -> CoverageFigure:
    assigned = len(rows)
    certified = sum(1 for row in rows if row[5])
    return CoverageFigure(
        assigned=assigned,
        certified=certified,
        coverage_percent=_percent(certified, assigned),
        below_target=assigned == 0 or certified < assigned,
        missing=[f"{row[1]} ({row[2]})" for row in rows if not row[5]],
    )


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
    application = get_application(session, principal, application_id)
    coverage, trained = application_figures(session, application_id, today)
    if principal.role == Role.student:
        coverage = coverage.model_copy(update={"missing": None})
    return ApplicationDetail.model_validate(
        {**application.model_dump(), "teacher_coverage": coverage, "trained_students": trained}
    )


# --- the report ------------------------------------------------------------------------------


def _require_report_reader(principal: Principal) -> None:
    if principal.role not in READ_ALL_OR_COLLEGE:
        raise Forbidden(
            _("Role {role} may not read the teacher coverage report", role=principal.role.value),
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


def _pilot_rows(pilots: Sequence[Any], assignments: Sequence[Any]) -> list[CoveragePilot]:
    """One row per pilot, in the pilots' order, from the assignments of all of them."""
    by_pilot: dict[int, list[Any]] = defaultdict(list)
    for row in assignments:
        by_pilot[row[0]].append(row)
    return [
        CoveragePilot(
            **_figure(by_pilot.get(application.id, [])).model_dump(),
            application_id=application.id,
            year=application.year,
            certificate_id=application.certificate_id,
            certificate_name=certificate_name,
            level=application.level,
            tier=application.tier.value,
            status=application.status.value,
        )
        for application, certificate_name in pilots
    ]


def _college_rows(assignments: Sequence[Any]) -> list[CoverageCollege]:
    """One row per teachers' college, by name: its teachers' assignments and covered ones."""
    colleges: dict[int, list[Any]] = {}
    for _app_id, _name, _staff_no, college_id, college_name, covered in assignments:
        figures = colleges.setdefault(college_id, [college_name, 0, 0])
        figures[1] += 1
        figures[2] += 1 if covered else 0
    return [
        CoverageCollege(
            college_id=college_id,
            college_name=name,
            assigned=n,
            certified=ok,
            coverage_percent=_percent(ok, n),
        )
        for college_id, (name, n, ok) in sorted(colleges.items(), key=lambda i: i[1][0])
    ]


def _overall(pilot_rows: Sequence[CoveragePilot]) -> CoverageTotals:
    assigned = sum(p.assigned for p in pilot_rows)
    certified = sum(p.certified for p in pilot_rows)
    return CoverageTotals(
        pilots=len(pilot_rows),
        pilots_below_target=sum(1 for p in pilot_rows if p.below_target),
        assigned=assigned,
        certified=certified,
        coverage_percent=_percent(certified, assigned),
    )


def coverage_report(
    session: Session,
    principal: Principal,
    *,
    today: date,
    year: int | None = None,
    status: ApplicationStatus | None = None,
    certificate_id: int | None = None,
) -> TeacherCoverageReport:
    """Coverage per pilot, per teachers' college and overall, in two statements whatever the
    number of pilots and teachers. Without ``status`` rejected and draft pilots are left out."""
    _require_report_reader(principal)
    statement = _pilot_statement(principal, year, status, certificate_id)
    pilots = session.exec(
        statement.order_by(col(PilotApplication.year).desc(), col(PilotApplication.id))
    ).all()
    ids_subquery = statement.with_only_columns(col(PilotApplication.id)).order_by(None)
    assignments = _assignments(session, ids_subquery, today)
    pilot_rows = _pilot_rows(pilots, assignments)
    return TeacherCoverageReport(
        year=year,
        as_of=today,
        pilots=pilot_rows,
        colleges=_college_rows(assignments),
        overall=_overall(pilot_rows),
    )


# --- its export ------------------------------------------------------------------------------

PILOT, COLLEGE, ALL_PILOTS = N_("Pilot"), N_("College"), N_("All pilots")

COVERAGE_COLUMNS = [
    ExportColumn("scope", N_("Scope")),
    ExportColumn("application_id", N_("Application ID")),
    ExportColumn("label", N_("Name")),
    ExportColumn("level", N_("Level")),
    ExportColumn("assigned", N_("Pilot teachers")),
    ExportColumn("certified", N_("Certified teachers")),
    ExportColumn("coverage_percent", N_("Coverage %")),
    ExportColumn("below_target", N_("Below 100%")),
    ExportColumn("missing", N_("Teachers without certificate")),
]


def coverage_rows(report: TeacherCoverageReport) -> list[dict[str, Any]]:
    """The export's rows: each pilot, each college, then the overall row."""
    items: list[dict[str, Any]] = [
        {
            **pilot.model_dump(),
            "scope": translate(PILOT),
            "label": f"{pilot.year} {pilot.certificate_name}",
        }
        for pilot in report.pilots
    ]
    items += [
        {**college.model_dump(), "scope": translate(COLLEGE), "label": college.college_name}
        for college in report.colleges
    ]
    items.append(
        {**report.overall.model_dump(), "scope": translate(TOTAL), "label": translate(ALL_PILOTS)}
    )
    return items
