"""The exams report: the funnel (漏斗) from declared headcount to issued certificates.

Declared headcount → trained → registered → sat → passed → certified, per group and overall, in
candidates (a student in a pilot), for approved and closed pilots. The pilots are read first
(three statements), then their candidates and trainees (one statement each); everything else
is counted in Python, so the report costs five statements however many pilots it covers."""

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from app.applications.models import (
    ApplicationCohort,
    ApplicationMajor,
    ApplicationStatus,
    PilotApplication,
)
from app.core.errors import Forbidden
from app.core.roles import READ_ALL, Principal, Role
from app.exams.models import (
    CertificateStatus,
    ExamRegistration,
    ExamResult,
    FunnelGroupBy,
    FunnelReport,
    FunnelRow,
    IssuedCertificate,
    RegistrationStatus,
)
from app.reference.models import Certificate, College, Major, Student
from app.trainings.models import TrainingBatch, TrainingEnrollment

FUNNEL_READERS = READ_ALL
DECIDED = (ApplicationStatus.approved, ApplicationStatus.closed)

Candidate = tuple[int, int]
"""(pilot application id, student id)."""


@dataclass
class _Tally:
    label: str
    applications: set[int] = field(default_factory=set)
    trained: set[Candidate] = field(default_factory=set)
    registered: set[Candidate] = field(default_factory=set)
    sat: set[Candidate] = field(default_factory=set)
    passed: set[Candidate] = field(default_factory=set)
    certified: set[Candidate] = field(default_factory=set)

    def row(self, key: str, headcount_of: dict[int, int]) -> FunnelRow:
        sat = len(self.sat)
        return FunnelRow(
            key=key,
            label=self.label,
            headcount=sum(headcount_of[a] for a in self.applications),
            trained=len(self.trained),
            registered=len(self.registered),
            sat=sat,
            passed=len(self.passed),
            certified=len(self.certified),
            pass_rate=round(len(self.passed) / sat, 4) if sat else None,
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
                names[f"cohort:{cohort}"] = f"{cohort}级"
        return names


def _funnel_scope(principal: Principal) -> int | None:
    """None for readers of every pilot, a college manager's college id; 403 for the others."""
    scope = principal.college_id if principal.role == Role.college_manager else None
    if principal.role not in FUNNEL_READERS and scope is None:
        raise Forbidden(
            f"Role {principal.role.value} may not read the funnel; allowed roles: "
            + ", ".join(sorted(r.value for r in FUNNEL_READERS))
            + ", college_manager (own college)",
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


def _candidates(session: Session, ids: list[int], scope: int | None) -> list[Any]:
    """Live registrations of the pilots: (application, student, status, passed, holds a valid
    certificate, major, cohort, college)."""
    certified = (
        select(IssuedCertificate.id)
        .where(
            col(IssuedCertificate.result_id) == col(ExamResult.id),
            IssuedCertificate.status == CertificateStatus.valid,
        )
        .exists()
    )
    return list(
        session.exec(
            select(  # type: ignore[call-overload]
                ExamRegistration.application_id,
                ExamRegistration.student_id,
                ExamRegistration.status,
                ExamResult.passed,
                certified,
                Student.major_id,
                Student.cohort,
                Major.college_id,
            )
            .join(Student, col(Student.id) == ExamRegistration.student_id)
            .join(Major, col(Major.id) == Student.major_id)
            .outerjoin(ExamResult, col(ExamResult.registration_id) == ExamRegistration.id)
            .where(
                col(ExamRegistration.application_id).in_(ids),
                col(ExamRegistration.live).is_(True),
                _in_scope(scope),
            )
        ).all()
    )


def _trainees(session: Session, ids: list[int], scope: int | None) -> list[Any]:
    """Students enrolled in a training batch of the pilots: (application, student, major,
    cohort, college), each once."""
    return list(
        session.exec(
            select(  # type: ignore[call-overload]
                TrainingBatch.application_id,
                TrainingEnrollment.student_id,
                Student.major_id,
                Student.cohort,
                Major.college_id,
            )
            .join(TrainingBatch, col(TrainingBatch.id) == TrainingEnrollment.batch_id)
            .join(Student, col(Student.id) == TrainingEnrollment.student_id)
            .join(Major, col(Major.id) == Student.major_id)
            .where(col(TrainingBatch.application_id).in_(ids), _in_scope(scope))
            .distinct()
        ).all()
    )


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

    def of_candidate(self, app_id: int, major_id: int, cohort: int, college_id: int) -> str:
        own = {
            FunnelGroupBy.major: f"major:{major_id}",
            FunnelGroupBy.college: f"college:{college_id}",
            FunnelGroupBy.cohort: f"cohort:{cohort}",
        }
        return own.get(self.group_by) or next(iter(self.of_pilot(app_id)))

    def tally(self, key: str) -> _Tally:
        if key not in self.tallies:
            self.tallies[key] = _Tally(label=self.names.get(key, key.split(":", 1)[1]))
        return self.tallies[key]


def _count(groups: _Groups, total: _Tally, trainees: list[Any], candidates: list[Any]) -> None:
    """Add every pilot, trainee and candidate to its group(s) and to the total."""
    for app_id in groups.pilots.rows:
        total.applications.add(app_id)
        for key in groups.of_pilot(app_id):
            groups.tally(key).applications.add(app_id)
    for app_id, student_id, major_id, cohort, college_id in trainees:
        key = groups.of_candidate(app_id, major_id, cohort, college_id)
        for target in (groups.tally(key), total):
            target.trained.add((app_id, student_id))
    for app_id, student_id, status, passed, certified, major_id, cohort, college_id in candidates:
        key = groups.of_candidate(app_id, major_id, cohort, college_id)
        _count_candidate(
            (groups.tally(key), total), (app_id, student_id), status, passed, certified
        )


def _count_candidate(
    targets: tuple[_Tally, ...],
    candidate: Candidate,
    status: RegistrationStatus,
    passed: bool | None,
    certified: bool,
) -> None:
    for target in targets:
        target.registered.add(candidate)
        if status == RegistrationStatus.sat:
            target.sat.add(candidate)
        if passed:
            target.passed.add(candidate)
        if certified:
            target.certified.add(candidate)


def funnel(
    session: Session, principal: Principal, *, year: int | None, group_by: FunnelGroupBy
) -> FunnelReport:
    """Declared headcount → trained → registered → sat → passed → certified per group and
    overall, in candidates (a student in a pilot), for approved and closed pilots."""
    scope = _funnel_scope(principal)
    pilots = _pilots(session, year, scope)
    candidates: list[Any] = []
    trainees: list[Any] = []
    if pilots.ids:
        candidates = _candidates(session, pilots.ids, scope)
        trainees = _trainees(session, pilots.ids, scope)
    groups = _Groups(pilots, group_by)
    total = _Tally(label="合计")
    _count(groups, total, trainees, candidates)
    headcount_of = pilots.headcounts()
    rows = [tally.row(key.split(":", 1)[1], headcount_of) for key, tally in groups.tallies.items()]
    rows.sort(key=lambda r: (r.label, r.key))
    return FunnelReport(
        year=year, group_by=group_by, rows=rows, total=total.row("total", headcount_of)
    )
