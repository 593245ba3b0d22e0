"""The exams report: the funnel (漏斗) from declared headcount to issued certificates.

Declared headcount → trained → registered → sat → passed → certified, per group and overall, in
candidates (a student in a pilot), for approved and closed pilots. The pilots are read first
(three statements); their candidates are counted in SQL per (pilot, major, cohort, college)
cell from the rows the database keeps per student and pilot (:class:`PilotCandidate`, one
statement) and the cells added up per group in Python: four statements however many pilots
and candidates it covers, and memory that does not grow with the registrations."""

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from app.applications.models import (
    ApplicationCohort,
    ApplicationMajor,
    ApplicationStatus,
    PilotApplication,
)
from app.core.errors import Forbidden
from app.core.export import ExportColumn
from app.core.i18n import N_, _, translate
from app.core.labels import cohort_label, label
from app.core.reports import TOTAL
from app.core.roles import READ_ALL, Principal, Role
from app.exams.models import FunnelGroupBy, FunnelReport, FunnelRow, PilotCandidate
from app.reference.models import Certificate, College, Major, Student

FUNNEL_READERS = READ_ALL
DECIDED = (ApplicationStatus.approved, ApplicationStatus.closed)


@dataclass
class _Tally:
    label: str
    applications: set[int] = field(default_factory=set)
    trained: int = 0
    registered: int = 0
    sat: int = 0
    passed: int = 0
    certified: int = 0

    def add_candidates(self, registered: int, sat: int, passed: int, certified: int) -> None:
        self.registered += registered
        self.sat += sat
        self.passed += passed
        self.certified += certified

    def row(self, key: str, headcount_of: dict[int, int]) -> FunnelRow:
        return FunnelRow(
            key=key,
            label=self.label,
            headcount=sum(headcount_of[a] for a in self.applications),
            trained=self.trained,
            registered=self.registered,
            sat=self.sat,
            passed=self.passed,
            certified=self.certified,
            pass_rate=round(self.passed / self.sat, 4) if self.sat else None,
        )


@dataclass
class _Pilots:
    """The pilots the funnel counts: application id → (id, year, level, tier, headcount,
    certificate id, certificate name), with their majors (id, name, college id, college name)
    and cohorts."""

    rows: dict[int, Any]
    majors: dict[int, list[tuple[int, str, int, str]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    cohorts: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))

    @property
    def ids(self) -> list[int]:
        return list(self.rows)

    def headcounts(self) -> dict[int, int]:
        return {app_id: row[4] for app_id, row in self.rows.items()}

    def names(self) -> dict[str, str]:
        """Group key (``application:7``, ``major:3``, ``cohort:2022`` …) → its label."""
        names: dict[str, str] = {}
        for app_id, pilot in self.rows.items():
            names[f"application:{app_id}"] = (
                f"{pilot[6]} {pilot[2].value} ({pilot[3].value} {pilot[1]})"
            )
            names[f"certificate:{pilot[5]}"] = pilot[6]
            for major_id, major_name, college_id, college_name in self.majors[app_id]:
                names[f"major:{major_id}"] = major_name
                names[f"college:{college_id}"] = college_name
            for cohort in self.cohorts[app_id]:
                names[f"cohort:{cohort}"] = cohort_label(cohort)
        return names


def _funnel_scope(principal: Principal) -> int | None:
    """None for readers of every pilot, a college manager's college id; 403 for the others."""
    scope = principal.college_id if principal.role == Role.college_manager else None
    if principal.role not in FUNNEL_READERS and scope is None:
        raise Forbidden(
            _(
                "Role {role} may not read the funnel; allowed roles: {allowed}, "
                "college_manager (own college)",
                role=label(principal.role),
                allowed=", ".join(sorted(label(r) for r in FUNNEL_READERS)),
            ),
            allowed_roles=sorted(r.value for r in FUNNEL_READERS),
        )
    return scope


def _in_scope(scope: int | None) -> Any:
    return (Major.college_id == scope) if scope is not None else sa.true()


def _pilots(session: Session, year: int | None, scope: int | None) -> _Pilots:
    """The approved and closed pilots (of ``year``; with a major of college ``scope``)."""
    statement = (
        select(  # type: ignore[call-overload]
            PilotApplication.id,
            PilotApplication.year,
            PilotApplication.level,
            PilotApplication.tier,
            PilotApplication.headcount,
            Certificate.id,
            Certificate.name,
        )
        .join(Certificate, col(Certificate.id) == PilotApplication.certificate_id)
        .where(col(PilotApplication.status).in_(DECIDED))
    )
    if year is not None:
        statement = statement.where(PilotApplication.year == year)
    if scope is not None:
        statement = statement.where(
            col(PilotApplication.id).in_(
                select(ApplicationMajor.application_id)
                .join(Major, col(Major.id) == ApplicationMajor.major_id)
                .where(Major.college_id == scope)
            )
        )
    pilots = _Pilots(rows={row[0]: row for row in session.exec(statement).all()})
    if pilots.ids:
        _read_majors_and_cohorts(session, pilots)
    return pilots


def _read_majors_and_cohorts(session: Session, pilots: _Pilots) -> None:
    for app_id, major_id, major_name, college_id, college_name in session.exec(
        select(  # type: ignore[call-overload]
            ApplicationMajor.application_id, Major.id, Major.name, College.id, College.name
        )
        .join(Major, col(Major.id) == ApplicationMajor.major_id)
        .join(College, col(College.id) == Major.college_id)
        .where(col(ApplicationMajor.application_id).in_(pilots.ids))
    ).all():
        pilots.majors[app_id].append((major_id, major_name, college_id, college_name))
    for app_id, cohort in session.exec(
        select(ApplicationCohort.application_id, ApplicationCohort.cohort).where(
            col(ApplicationCohort.application_id).in_(pilots.ids)
        )
    ).all():
        pilots.cohorts[app_id].append(cohort)


def _own_column(group_by: FunnelGroupBy) -> Any:
    """The candidate's own column a group is read from (major, college, cohort), or None when
    the group is the pilot's (application, certificate)."""
    return {
        FunnelGroupBy.major: col(Student.major_id),
        FunnelGroupBy.college: col(Major.college_id),
        FunnelGroupBy.cohort: col(Student.cohort),
    }.get(group_by)


def _cells(
    statement: Any, application: Any, student: Any, group_by: FunnelGroupBy, scope: int | None
) -> Any:
    """``statement`` grouped per (pilot, the candidate's own group column): a candidate (a
    student in a pilot) lies in exactly one cell, so the cells add up to their group without
    counting anyone twice. Students and majors are joined only when the group or the scope
    needs them."""
    own = _own_column(group_by)
    if own is not None or scope is not None:
        statement = statement.join(Student, col(Student.id) == student)
        if group_by == FunnelGroupBy.college or scope is not None:
            statement = statement.join(Major, col(Major.id) == Student.major_id)
    if scope is not None:
        statement = statement.where(_in_scope(scope))
    if own is None:
        return statement.add_columns(sa.null()).group_by(application)
    return statement.add_columns(own).group_by(application, own)


def candidates_with(count: Any) -> Any:
    """How many of the grouped :class:`PilotCandidate` rows have ``count`` above 0 (registered,
    sat, passed, certified, trained)."""
    return func.count(sa.case((col(count) > 0, 1)))


def _candidate_counts(
    session: Session, ids: list[int], scope: int | None, group_by: FunnelGroupBy
) -> list[Any]:
    """The pilots' candidates counted in SQL per cell, from the kept :class:`PilotCandidate`
    rows (no registration, result, certificate or enrolment read): (pilot, registered, sat,
    passed, certified, trained, own group column)."""
    application = col(PilotCandidate.application_id)
    statement = select(
        application,
        *[
            candidates_with(column)
            for column in (
                PilotCandidate.registered,
                PilotCandidate.sat,
                PilotCandidate.passed,
                PilotCandidate.certified,
                PilotCandidate.trained,
            )
        ],
    ).where(application.in_(ids))
    student = col(PilotCandidate.student_id)
    return list(session.exec(_cells(statement, application, student, group_by, scope)).all())


class _Groups:
    """Which group(s) a pilot, and which group a candidate, counts in."""

    def __init__(self, pilots: _Pilots, group_by: FunnelGroupBy) -> None:
        self.pilots = pilots
        self.group_by = group_by
        self.names = pilots.names()
        self.tallies: dict[str, _Tally] = {}

    def of_pilot(self, app_id: int) -> set[str]:
        majors = self.pilots.majors[app_id]
        if self.group_by == FunnelGroupBy.application:
            return {f"application:{app_id}"}
        if self.group_by == FunnelGroupBy.certificate:
            return {f"certificate:{self.pilots.rows[app_id][5]}"}
        if self.group_by == FunnelGroupBy.major:
            return {f"major:{m[0]}" for m in majors}
        if self.group_by == FunnelGroupBy.college:
            return {f"college:{m[2]}" for m in majors}
        return {f"cohort:{c}" for c in self.pilots.cohorts[app_id]}

    def of_candidate(self, app_id: int, own: Any) -> str:
        """The group of a cell: its own major, college or cohort, or else its pilot's."""
        if own is not None:
            return f"{self.group_by.value}:{own}"
        return next(iter(self.of_pilot(app_id)))

    def tally(self, key: str) -> _Tally:
        if key not in self.tallies:
            self.tallies[key] = _Tally(label=self.names.get(key, key.split(":", 1)[1]))
        return self.tallies[key]


def _count(groups: _Groups, total: _Tally, candidates: list[Any]) -> None:
    """Add every pilot to its group(s) and every cell of candidates to its group and to the
    total."""
    for app_id in groups.pilots.rows:
        total.applications.add(app_id)
        for key in groups.of_pilot(app_id):
            groups.tally(key).applications.add(app_id)
    for app_id, registered, sat, passed, certified, trained, own in candidates:
        key = groups.of_candidate(app_id, own)
        for target in (groups.tally(key), total):
            target.trained += int(trained)
            target.add_candidates(int(registered), int(sat), int(passed), int(certified))


def funnel(
    session: Session, principal: Principal, *, year: int | None, group_by: FunnelGroupBy
) -> FunnelReport:
    """Declared headcount → trained → registered → sat → passed → certified per group and
    overall, in candidates (a student in a pilot), for approved and closed pilots."""
    scope = _funnel_scope(principal)
    pilots = _pilots(session, year, scope)
    candidates: list[Any] = []
    if pilots.ids:
        candidates = _candidate_counts(session, pilots.ids, scope, group_by)
    groups = _Groups(pilots, group_by)
    total = _Tally(label=translate(TOTAL))
    _count(groups, total, candidates)
    headcount_of = pilots.headcounts()
    rows = [tally.row(key.split(":", 1)[1], headcount_of) for key, tally in groups.tallies.items()]
    rows.sort(key=lambda r: (r.label, r.key))
    return FunnelReport(
        year=year, group_by=group_by, rows=rows, total=total.row("total", headcount_of)
    )


# --- the funnel's download -------------------------------------------------------------------

FUNNEL_GROUPS = {
    FunnelGroupBy.application: N_("Pilot project"),
    FunnelGroupBy.certificate: N_("Certificate name"),
    FunnelGroupBy.major: N_("Major"),
    FunnelGroupBy.cohort: N_("Cohort"),
    FunnelGroupBy.college: N_("College"),
}
FUNNEL_COLUMNS = [
    ExportColumn("headcount", N_("Headcount")),
    ExportColumn("trained", N_("Trained")),
    ExportColumn("registered", N_("Registered for the exam")),
    ExportColumn("sat", N_("Sat")),
    ExportColumn("passed", N_("Passed the exam")),
    ExportColumn("certified", N_("Certificates issued")),
    ExportColumn("pass_rate", N_("Pass rate"), percent=True),
]
