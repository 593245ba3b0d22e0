"""Pilot application rules: who files, edits and decides which application, the state machine,
the teachers assigned to a pilot and the majors' work plans, and their lists. Every change is
audited and committed here; the summary report is in :mod:`app.applications.reports`."""

from collections import defaultdict
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from app.applications.admission import admitting
from app.applications.models import (
    MAX_CORE_COURSES,
    MIN_CORE_COURSES,
    ApplicationCohort,
    ApplicationCreate,
    ApplicationFilters,
    ApplicationListed,
    ApplicationMajor,
    ApplicationMajorPublic,
    ApplicationPublic,
    ApplicationStatus,
    ApplicationUpdate,
    PilotApplication,
    PilotPlan,
    PilotTeacher,
    PilotTeacherCreate,
    PilotTeacherPublic,
    PilotTeacherSelection,
    PlanCourse,
    PlanCoursePublic,
    PlanCreate,
    PlanFilters,
    PlanListed,
    PlanStatus,
    PlanUpdate,
    TeacherRole,
    Tier,
    cohort_problem,
)
from app.applications.rules import draft_problem
from app.audit.labels import action_label, action_labels
from app.core.audit import apply_changes, delete_row, record, record_row, snapshot
from app.core.auth import require_office
from app.core.db import refuse_taken
from app.core.errors import Forbidden, InvalidState, NotFound, UnprocessableEntity
from app.core.export import ExportColumn
from app.core.i18n import N_, _, translate
from app.core.labels import label
from app.core.listing import Listing, each, plain_rows, where_equal
from app.core.locks import lock_listed, lock_one, lock_row
from app.core.roles import Principal, Role
from app.core.scopes import limit_to_scope, through
from app.core.types import utcnow
from app.core.versions import check_version
from app.reference.models import (
    Certificate,
    College,
    Course,
    CourseMajor,
    Level,
    Major,
    Teacher,
)
from app.reference.rules import level_problem
from app.reference.service import check_majors, require_college_writer

DECIDED = (ApplicationStatus.approved, ApplicationStatus.closed)

TRANSITIONS: dict[str, tuple[frozenset[ApplicationStatus], ApplicationStatus]] = {
    "submit": (frozenset({ApplicationStatus.draft}), ApplicationStatus.submitted),
    "approve": (frozenset({ApplicationStatus.submitted}), ApplicationStatus.approved),
    "reject": (frozenset({ApplicationStatus.submitted}), ApplicationStatus.rejected),
    "close": (frozenset({ApplicationStatus.approved}), ApplicationStatus.closed),
}
OFFICE_ACTIONS = frozenset({"approve", "reject", "close"})
TEACHER_STATES = frozenset(
    {ApplicationStatus.draft, ApplicationStatus.submitted, ApplicationStatus.approved}
)
ENTITY = "pilot_application"


def allowed_actions(status: ApplicationStatus) -> list[str]:
    """The actions an application in ``status`` allows (edits only for a draft)."""
    actions = ["update", "delete"] if status == ApplicationStatus.draft else []
    return actions + [name for name, (sources, _target) in TRANSITIONS.items() if status in sources]


# --- who sees what ---------------------------------------------------------------------------


def _has_major_in_college(college_id: int) -> Any:
    return col(PilotApplication.id).in_(
        select(ApplicationMajor.application_id)
        .join(Major, col(Major.id) == ApplicationMajor.major_id)
        .where(Major.college_id == college_id)
    )


def visible(statement: Any, principal: Principal) -> Any:
    """Limit ``statement`` over PilotApplication to what ``principal`` may read.

    The academic office, auditors and admins read all; a college manager the applications with
    a major of their college; a teacher those they are assigned to; a student the decided
    (approved or closed) ones covering their major and cohort; an evaluation organisation the
    decided ones for the certificates it issues.
    """
    decided = col(PilotApplication.status).in_(DECIDED)
    issued_by = through(
        PilotApplication.certificate_id, Certificate.id, Certificate.evaluation_org_id
    )
    return limit_to_scope(
        statement,
        principal,
        N_("pilot applications"),
        college_manager=_has_major_in_college,
        teacher=through(PilotApplication.id, PilotTeacher.application_id, PilotTeacher.teacher_id),
        student=lambda own: sa.and_(decided, admitting(own)),
        evaluation_org=lambda own: sa.and_(decided, issued_by(own)),
    )


def _require_filer(session: Session | None, principal: Principal, major_ids: Sequence[int]) -> None:
    """The office files for every major; a college manager only when all are their college's."""
    if principal.role == Role.academic_office:
        return
    if principal.role != Role.college_manager:
        raise Forbidden(
            _(
                "Role {role} may not file or change pilot applications; allowed roles: "
                "academic_office, college_manager (majors of their own college)",
                role=label(principal.role),
            ),
            allowed_roles=[Role.academic_office.value, Role.college_manager.value],
        )
    assert session is not None
    foreign = session.exec(
        select(Major.name)
        .where(col(Major.id).in_(list(major_ids)))
        .where(Major.college_id != (principal.college_id or -1))
        .order_by(col(Major.name))
    ).all()
    if foreign:
        _refuse_foreign(principal, foreign)


def _require_filer_of(principal: Principal, majors: Sequence[ApplicationMajorPublic]) -> None:
    """``_require_filer`` for majors already read with their colleges (no statement)."""
    if principal.role == Role.college_manager:
        foreign = sorted(m.name for m in majors if m.college_id != principal.college_id)
        if foreign:
            _refuse_foreign(principal, foreign)
        return
    _require_filer(None, principal, [])


def _refuse_foreign(principal: Principal, foreign: Sequence[str]) -> None:
    raise Forbidden(
        _(
            "A college manager files only for majors of their own college (college id "
            "{college_id}); not theirs: {majors}",
            college_id=principal.college_id,
            majors="、".join(foreign),
        ),
        code="out_of_scope",
        foreign_majors=list(foreign),
    )


# --- reading ---------------------------------------------------------------------------------


def _with_major(major_id: int) -> Any:
    return col(PilotApplication.id).in_(
        select(ApplicationMajor.application_id).where(ApplicationMajor.major_id == major_id)
    )


def _with_cohort(cohort: int) -> Any:
    return col(PilotApplication.id).in_(
        select(ApplicationCohort.application_id).where(ApplicationCohort.cohort == cohort)
    )


def application_statement(
    _session: Session, principal: Principal, filters: ApplicationFilters
) -> Any:
    statement = select(PilotApplication, Certificate.name).join(
        Certificate, col(Certificate.id) == PilotApplication.certificate_id
    )
    statement = visible(statement, principal)
    statement = where_equal(
        statement,
        filters,
        year=PilotApplication.year,
        status=PilotApplication.status,
        certificate_id=PilotApplication.certificate_id,
        level=PilotApplication.level,
        tier=PilotApplication.tier,
    )
    if filters.college_id is not None:
        statement = statement.where(_has_major_in_college(filters.college_id))
    if filters.major_id is not None:
        statement = statement.where(_with_major(filters.major_id))
    if filters.cohort is not None:
        statement = statement.where(_with_cohort(filters.cohort))
    return statement


def _links_statement() -> Any:
    """The majors (with college and plan) and cohorts of the applications ``:ids``, in one
    statement built once: the majors' rows and the cohorts' rows of a ``UNION ALL``, each led by
    its application's id (a major row's cohort is NULL, a cohort row's major columns are)."""
    ids: Any = sa.bindparam("ids", expanding=True)
    majors_part = (
        select(  # type: ignore[call-overload]
            ApplicationMajor.application_id,
            Major.id,
            Major.code,
            Major.name,
            College.id,
            College.name,
            PilotPlan.id,
            PilotPlan.status,
            sa.null().label("cohort"),
        )
        .select_from(ApplicationMajor)
        .join(Major, col(Major.id) == ApplicationMajor.major_id)
        .join(College, col(College.id) == Major.college_id)
        .outerjoin(
            PilotPlan,
            sa.and_(
                col(PilotPlan.application_id) == ApplicationMajor.application_id,
                col(PilotPlan.major_id) == ApplicationMajor.major_id,
            ),
        )
        .where(col(ApplicationMajor.application_id).in_(ids))
    )
    cohorts_part = select(  # type: ignore[call-overload]
        ApplicationCohort.application_id, *[sa.null()] * 7, ApplicationCohort.cohort
    ).where(col(ApplicationCohort.application_id).in_(ids))
    return sa.union_all(majors_part, cohorts_part)


LINKS = _links_statement()

MAJOR_FIELDS = ("id", "code", "name", "college_id", "college_name", "plan_id", "plan_status")
"""An :class:`ApplicationMajorPublic`'s fields, in the order :data:`LINKS` reads them."""


def _links_of(
    session: Session, ids: Sequence[int]
) -> tuple[dict[int, list[dict[str, Any]]], dict[int, list[int]]]:
    """Each application's majors (as :class:`ApplicationMajorPublic`'s fields, by code) and
    cohorts (in order), in one statement for all ``ids``."""
    majors: dict[int, list[dict[str, Any]]] = defaultdict(list)
    cohorts: dict[int, list[int]] = defaultdict(list)
    if not ids:
        return majors, cohorts
    for app_id, *major, cohort in plain_rows(session, LINKS, {"ids": list(ids)}):
        if cohort is not None:
            cohorts[app_id].append(cohort)
        else:
            plan_status = major[-1]
            major[-1] = PlanStatus(plan_status) if plan_status is not None else None
            majors[app_id].append(dict(zip(MAJOR_FIELDS, major, strict=True)))
    for listed in majors.values():
        listed.sort(key=lambda m: (m["code"], m["id"]))
    for years in cohorts.values():
        years.sort()
    return majors, cohorts


def _links(session: Session, application_id: int) -> tuple[list[ApplicationMajorPublic], list[int]]:
    """One application's majors (with college and plan, by code) and cohorts."""
    majors, cohorts = _links_of(session, [application_id])
    validate = ApplicationMajorPublic.__pydantic_validator__.validate_python
    return [validate(m) for m in majors[application_id]], cohorts[application_id]


FILED_PLANS = frozenset({PlanStatus.filed, PlanStatus.acknowledged})

APPLICATION_COLUMNS = {
    "id": PilotApplication.id,
    "year": PilotApplication.year,
    "tier": PilotApplication.tier,
    "certificate_id": PilotApplication.certificate_id,
    "certificate_name": Certificate.name,
    "level": PilotApplication.level,
    "headcount": PilotApplication.headcount,
    "contact": PilotApplication.contact,
    "notes": PilotApplication.notes,
    "status": PilotApplication.status,
    "rejection_reason": PilotApplication.rejection_reason,
    "version": PilotApplication.version,
    "created_at": PilotApplication.created_at,
    "updated_at": PilotApplication.updated_at,
}
"""A listed application's own fields and the columns (of :func:`application_statement`'s
join) they are; its majors and cohorts come from :data:`LINKS`."""


def application_items(session: Session, rows: Sequence[Any]) -> list[ApplicationListed]:
    """Applications from plain rows of :data:`APPLICATION_COLUMNS`, with their majors (and
    each major's plan) and cohorts read in one statement for all ``rows``; with the export's
    cells (major names, 年级 labels, plans filed)."""
    names = tuple(APPLICATION_COLUMNS)
    majors, cohorts = _links_of(session, [row[0] for row in rows])
    return [
        _listed(dict(zip(names, row, strict=True)), majors.get(row[0], []), cohorts.get(row[0], []))
        for row in rows
    ]


_VALIDATE_LISTED = ApplicationListed.__pydantic_validator__.validate_python


def _listed(
    fields: dict[str, Any], majors: list[dict[str, Any]], cohorts: list[int]
) -> ApplicationListed:
    """The listed application of its own ``fields`` (:data:`APPLICATION_COLUMNS`), its majors
    (:class:`ApplicationMajorPublic`'s fields) and cohorts; validated by pydantic's own
    validator (SQLModel's ``model_validate`` wrapper and a ``model_dump`` first cost more)."""
    filed = sum(1 for m in majors if m["plan_status"] in FILED_PLANS)
    fields.update(
        majors=majors,
        cohorts=cohorts,
        allowed_actions=allowed_actions(fields["status"]),
        major_names=[m["name"] for m in majors],
        cohort_labels=[f"{c}级" for c in cohorts],
        plans_filed=f"{filed}/{len(majors)}",
    )
    listed: ApplicationListed = _VALIDATE_LISTED(fields)
    return listed


APPLICATIONS = Listing(
    noun=N_("pilot application"),
    statement=application_statement,
    order=[col(PilotApplication.year).desc(), col(PilotApplication.id)],
    to_items=application_items,
    item_columns=list(APPLICATION_COLUMNS.values()),
    filters=ApplicationFilters,
    key=PilotApplication.id,
    columns=[
        ExportColumn("id", N_("Application number")),
        ExportColumn("tier", N_("School tier")),
        ExportColumn("certificate_name", N_("Pilot certificate")),
        ExportColumn("level", N_("Level applied for")),
        ExportColumn("major_names", N_("Majors applied for")),
        ExportColumn("cohort_labels", N_("Cohorts applied for")),
        ExportColumn("headcount", N_("Headcount")),
        ExportColumn("year", N_("Year")),
        ExportColumn("status", N_("Status")),
        ExportColumn("contact", N_("Contact person")),
        ExportColumn("plans_filed", N_("Plans filed")),
    ],
    filename="applications",
    sheet=N_("Pilot applications"),
    updated=[PilotApplication.updated_at],
)
"""The applications list; its CSV/XLSX export has the 一览表's headers, so it uploads again."""


def _major_ids(session: Session, application_id: int) -> list[int]:
    return sorted(
        session.exec(
            select(ApplicationMajor.major_id).where(
                ApplicationMajor.application_id == application_id
            )
        ).all()
    )


def _cohorts(session: Session, application_id: int) -> list[int]:
    return sorted(
        session.exec(
            select(ApplicationCohort.cohort).where(
                ApplicationCohort.application_id == application_id
            )
        ).all()
    )


def locked_application(
    session: Session, principal: Principal, application_id: int
) -> PilotApplication:
    """The application, its row locked for this transaction; 404 when it is not visible."""
    statement = visible(
        select(PilotApplication).where(PilotApplication.id == application_id), principal
    )
    application: PilotApplication = lock_one(
        session, statement, N_("pilot application"), application_id
    )
    return application


# --- writing ---------------------------------------------------------------------------------


def _check_references(
    session: Session,
    principal: Principal,
    certificate_id: int,
    level: Level,
    major_ids: Sequence[int],
) -> None:
    check_certificate_level(session, certificate_id, level)
    check_majors(session, principal, major_ids)


def check_certificate_level(
    session: Session, certificate_id: int, level: Level, prefix: str = "body."
) -> Certificate:
    """The certificate, which must exist and offer ``level`` (422 on ``{prefix}certificate_id``
    or ``{prefix}level`` otherwise)."""
    certificate = session.get(Certificate, certificate_id)
    if certificate is None:
        raise UnprocessableEntity(
            _("No certificate with id {certificate_id}", certificate_id=certificate_id),
            errors=[
                {
                    "field": f"{prefix}certificate_id",
                    "message": _("no certificate {certificate_id}", certificate_id=certificate_id),
                }
            ],
        )
    problem = level_problem(certificate.name, certificate.level_list, level)
    if problem:
        offered = "、".join(lv.value for lv in certificate.level_list)
        raise UnprocessableEntity(
            _("Cannot use this certificate and level: {problem}", problem=problem),
            errors=[
                {
                    "field": f"{prefix}level",
                    "message": _("offered levels: {offered}", offered=offered),
                }
            ],
        )
    return certificate


def _check_cohorts(year: int, cohorts: Sequence[int]) -> None:
    problems = [p for p in (cohort_problem(year, c) for c in cohorts) if p]
    if problems:
        raise UnprocessableEntity(
            "; ".join(problems),
            errors=[{"field": "body.cohorts", "message": p} for p in problems],
        )


def _check_unique(
    session: Session,
    year: int,
    certificate_id: int,
    level: Level,
    tier: Tier,
    own_id: int | None,
) -> None:
    statement = select(PilotApplication.id).where(
        PilotApplication.year == year,
        PilotApplication.certificate_id == certificate_id,
        PilotApplication.level == level,
        PilotApplication.tier == tier,
    )
    if own_id is not None:
        statement = statement.where(PilotApplication.id != own_id)
    refuse_taken(
        session,
        statement,
        lambda other: _(
            "Pilot application {other} already covers this certificate at {level} for "
            "{tier} in {year}; change that one instead",
            other=other,
            level=label(level),
            tier=label(tier),
            year=year,
        ),
    )


def _set_links(
    session: Session, application_id: int, major_ids: Sequence[int], cohorts: Sequence[int]
) -> None:
    session.execute(
        sa.delete(ApplicationMajor).where(col(ApplicationMajor.application_id) == application_id)
    )
    session.execute(
        sa.delete(ApplicationCohort).where(col(ApplicationCohort.application_id) == application_id)
    )
    session.add_all(ApplicationMajor(application_id=application_id, major_id=m) for m in major_ids)
    session.add_all(ApplicationCohort(application_id=application_id, cohort=c) for c in cohorts)


def _snapshot(
    application: PilotApplication, major_ids: Sequence[int], cohorts: Sequence[int]
) -> dict[str, Any]:
    return {**(snapshot(application) or {}), "major_ids": list(major_ids), "cohorts": list(cohorts)}


def _update_with_links(
    session: Session,
    principal: Principal,
    row: PilotApplication | PilotPlan,
    changes: dict[str, Any],
    entity: str,
    *,
    before_links: dict[str, list[int]],
    after_links: dict[str, list[int]],
    write_links: Callable[[], None],
) -> None:
    """Set ``changes`` on ``row`` and rewrite its link tables when their values changed (a
    change of links alone is a new version of the row too), audit before/after with the link
    values, and commit."""
    if after_links != before_links:
        write_links()
        changes = {**changes, "updated_at": utcnow()}
    apply_changes(
        session,
        principal,
        row,
        changes,
        entity,
        extra_before=before_links,
        extra_after=after_links,
    )


def _refuse_unless_in(
    current: StrEnum,
    sources: frozenset[Any],
    action: str,
    what: str,
    allowed: list[str],
) -> None:
    """409 naming the current state, what ``action`` needs and what is allowed now."""
    if current in sources:
        return
    raise InvalidState(
        _(
            "Cannot {action} {what}: it is {state}; {action} needs {needs}. Allowed now: {allowed}",
            action=action_label(action),
            what=what,
            state=label(current),
            needs=_(" or ").join(sorted(label(s) for s in sources)),
            allowed=action_labels(allowed) if allowed else _("none"),
        ),
        current_state=current.value,
        allowed_actions=allowed,
    )


def _record_move(
    session: Session,
    principal: Principal,
    row: PilotApplication | PilotPlan,
    entity: str,
    action: str,
    changes: dict[str, Any],
) -> None:
    """Apply a workflow move to the (locked) ``row``, audit it under ``action``, commit."""
    apply_changes(session, principal, row, changes, entity, action=action)


def create_application(
    session: Session, principal: Principal, data: ApplicationCreate
) -> PilotApplication:
    _require_filer_of(principal, [])
    _check_references(session, principal, data.certificate_id, data.level, data.major_ids)
    _check_cohorts(data.year, data.cohorts)
    _check_unique(session, data.year, data.certificate_id, data.level, data.tier, None)
    application = PilotApplication.model_validate(data.model_dump(exclude={"major_ids", "cohorts"}))
    session.add(application)
    session.flush()
    assert application.id is not None
    _set_links(session, application.id, data.major_ids, data.cohorts)
    session.flush()
    record(
        session,
        principal,
        action="create",
        entity=ENTITY,
        entity_id=application.id,
        after=_snapshot(application, data.major_ids, data.cohorts),
    )
    session.commit()
    return application


def _refuse_unless_draft(application: PilotApplication, action: str) -> None:
    problem = draft_problem(application.id, application.status, action)
    if problem:
        raise InvalidState(
            _("Not {action}: {problem}", action=translate(action), problem=problem),
            current_state=application.status.value,
            allowed_actions=allowed_actions(application.status),
        )


def update_application(
    session: Session,
    principal: Principal,
    application_id: int,
    data: ApplicationUpdate,
    if_match: int | None,
) -> ApplicationPublic:
    """Change a draft and answer it as its read-one does. A change of plain fields reads the
    locked row (with its certificate's name) and its links once and writes the row and its
    audit event: references, cohorts and uniqueness are checked again only when a field they
    depend on changes."""
    application, certificate_name = lock_listed(
        session, APPLICATIONS, principal, application_id, of=PilotApplication
    )
    before_majors, before_cohorts = _links(session, application_id)
    before_major_ids = sorted(m.id for m in before_majors)
    _require_filer_of(principal, before_majors)
    check_version(application.version, if_match, N_("pilot application"))
    _refuse_unless_draft(application, N_("changed"))
    changes = data.model_dump(exclude_unset=True)
    major_ids: list[int] = changes.pop("major_ids", None) or before_major_ids
    cohorts: list[int] = changes.pop("cohorts", None) or before_cohorts
    majors_changed = sorted(major_ids) != before_major_ids
    if majors_changed:
        check_majors(session, principal, major_ids)
    key = {
        name: changes.get(name, getattr(application, name))
        for name in ("year", "certificate_id", "level", "tier")
    }
    if {"certificate_id", "level"} & changes.keys():
        certificate_name = check_certificate_level(
            session, key["certificate_id"], key["level"]
        ).name
    _check_cohorts(key["year"], cohorts)
    if key.keys() & changes.keys():
        _check_unique(session, **key, own_id=application_id)
    _update_with_links(
        session,
        principal,
        application,
        changes,
        ENTITY,
        before_links={"major_ids": before_major_ids, "cohorts": before_cohorts},
        after_links={"major_ids": major_ids, "cohorts": cohorts},
        write_links=lambda: _set_links(session, application_id, major_ids, cohorts),
    )
    majors = _links(session, application_id)[0] if majors_changed else before_majors
    fields = {**application.model_dump(), "certificate_name": certificate_name}
    return _listed(fields, [m.model_dump() for m in majors], sorted(cohorts))


def delete_application(session: Session, principal: Principal, application_id: int) -> None:
    application = locked_application(session, principal, application_id)
    major_ids = _major_ids(session, application_id)
    cohorts = _cohorts(session, application_id)
    _require_filer(session, principal, major_ids)
    _refuse_unless_draft(application, N_("deleted"))
    before = _snapshot(application, major_ids, cohorts)
    session.execute(
        sa.delete(ApplicationMajor).where(col(ApplicationMajor.application_id) == application_id)
    )
    session.execute(
        sa.delete(ApplicationCohort).where(col(ApplicationCohort.application_id) == application_id)
    )
    session.execute(
        sa.delete(PilotTeacher).where(col(PilotTeacher.application_id) == application_id)
    )
    delete_row(session, principal, application, ENTITY, before)


def transition(
    session: Session,
    principal: Principal,
    application_id: int,
    action: str,
    reason: str | None = None,
) -> PilotApplication:
    """Move the application along the state machine; a refused move changes nothing."""
    sources, target = TRANSITIONS[action]
    application = locked_application(session, principal, application_id)
    if action in OFFICE_ACTIONS:
        require_office(principal, _("{action} pilot applications", action=action))
    else:
        _require_filer(session, principal, _major_ids(session, application_id))
    _refuse_unless_in(
        application.status,
        sources,
        action,
        _("application {id}", id=application_id),
        allowed_actions(application.status),
    )
    changes: dict[str, Any] = {"status": target}
    if action == "reject":
        changes["rejection_reason"] = reason
    _record_move(session, principal, application, ENTITY, action, changes)
    return application


# --- teachers --------------------------------------------------------------------------------


def _roles(row: PilotTeacher) -> list[TeacherRole]:
    return [
        r
        for r, held in ((TeacherRole.trainer, row.trainer), (TeacherRole.evaluator, row.evaluator))
        if held
    ]


def _teacher_public(row: PilotTeacher, teacher: Teacher) -> PilotTeacherPublic:
    assert row.id is not None
    return PilotTeacherPublic(
        id=row.id,
        application_id=row.application_id,
        teacher_id=row.teacher_id,
        staff_no=teacher.staff_no,
        name=teacher.name,
        college_id=teacher.college_id,
        roles=_roles(row),
        created_at=row.created_at,
    )


def approved_application(session: Session, application_id: int, purpose: str) -> PilotApplication:
    """The approved pilot a request body names by ``application_id``: 422 when there is none,
    409 when it is not approved (``purpose``: what is only done for approved pilots, e.g.
    "Exam sessions are made")."""
    application = session.get(PilotApplication, application_id)
    if application is None:
        raise UnprocessableEntity(
            _("No pilot application with id {application_id}", application_id=application_id),
            errors=[{"field": "body.application_id", "message": _("no such application")}],
        )
    if application.status != ApplicationStatus.approved:
        raise InvalidState(
            _(
                "{purpose} for approved pilots; application {id} is {status}",
                purpose=translate(purpose),
                id=application.id,
                status=label(application.status),
            ),
            current_state=application.status.value,
            allowed_actions=[],
        )
    return application


def _require_readable(session: Session, principal: Principal, application_id: int) -> None:
    """404 unless the application exists and ``principal`` may read it."""
    statement = visible(
        select(PilotApplication.id).where(PilotApplication.id == application_id), principal
    )
    if session.exec(statement).first() is None:
        raise NotFound(
            _("No pilot application with id {application_id}", application_id=application_id)
        )


def teacher_statement(
    session: Session, principal: Principal, selection: PilotTeacherSelection
) -> Any:
    """The teachers assigned to a pilot the principal may read (404 otherwise)."""
    _require_readable(session, principal, selection.application_id)
    return (
        select(PilotTeacher, Teacher)
        .join(Teacher, col(Teacher.id) == PilotTeacher.teacher_id)
        .where(PilotTeacher.application_id == selection.application_id)
    )


TEACHERS = Listing(
    noun=N_("pilot teacher"),
    statement=teacher_statement,
    order=[col(Teacher.staff_no), col(PilotTeacher.id)],
    to_items=each(lambda row: _teacher_public(*row)),
    filters=PilotTeacherSelection,
    columns=[
        ExportColumn("application_id", N_("Application ID")),
        ExportColumn("staff_no", N_("Staff number")),
        ExportColumn("name", N_("Full name")),
        ExportColumn("roles", N_("Role")),
        ExportColumn("created_at", N_("Assigned at")),
    ],
    filename="pilot-teachers",
    sheet=N_("Pilot teachers"),
)
"""A pilot's teachers, by staff number."""


def _require_teacher_manager(
    session: Session, principal: Principal, application_id: int, teacher: Teacher | None
) -> None:
    """The office assigns anyone; a college manager their own teachers, to a pilot that has a
    major of their college."""
    if principal.role == Role.academic_office:
        return
    if principal.role != Role.college_manager:
        raise Forbidden(
            _(
                "Role {role} may not assign teachers to pilots; allowed roles: "
                "academic_office, college_manager (own college)",
                role=label(principal.role),
            ),
            allowed_roles=[Role.academic_office.value, Role.college_manager.value],
        )
    own = principal.college_id or -1
    has_major = session.exec(
        select(ApplicationMajor.major_id)
        .join(Major, col(Major.id) == ApplicationMajor.major_id)
        .where(ApplicationMajor.application_id == application_id, Major.college_id == own)
    ).first()
    if has_major is None:
        raise Forbidden(
            _(
                "Application {application_id} has no major of your college (id {own})",
                application_id=application_id,
                own=own,
            ),
            code="out_of_scope",
        )
    if teacher is not None and not _assigns(principal, teacher):
        raise Forbidden(
            _("A college manager assigns and removes only teachers of their own college"),
            code="out_of_scope",
        )


def _assigns(principal: Principal, teacher: Teacher) -> bool:
    """Whether ``principal`` assigns ``teacher``: the office anyone, a college manager their
    college's teachers (the only ones they read)."""
    return principal.role != Role.college_manager or teacher.college_id == principal.college_id


def _refuse_teacher_change(application: PilotApplication) -> None:
    """Teachers join or leave a pilot while it is draft, submitted or approved; a closed or
    rejected pilot keeps the teachers it had."""
    if application.status not in TEACHER_STATES:
        raise InvalidState(
            _(
                "Application {id} is {status}; teachers are assigned and removed only "
                "while it is draft, submitted or approved",
                id=application.id,
                status=label(application.status),
            ),
            current_state=application.status.value,
            allowed_actions=allowed_actions(application.status),
        )


def add_teacher(
    session: Session, principal: Principal, application_id: int, data: PilotTeacherCreate
) -> PilotTeacherPublic:
    application = locked_application(session, principal, application_id)
    _require_teacher_manager(session, principal, application_id, None)
    teacher = session.get(Teacher, data.teacher_id)
    if teacher is None or not _assigns(principal, teacher):
        # A teacher the caller may not read is answered as one that does not exist.
        raise UnprocessableEntity(
            _("No teacher with id {teacher_id}", teacher_id=data.teacher_id),
            errors=[
                {
                    "field": "body.teacher_id",
                    "message": _("no teacher {teacher_id}", teacher_id=data.teacher_id),
                }
            ],
        )
    _refuse_teacher_change(application)
    refuse_taken(
        session,
        select(PilotTeacher.id).where(
            PilotTeacher.application_id == application_id,
            PilotTeacher.teacher_id == data.teacher_id,
        ),
        lambda existing: _(
            "Teacher {staff_no} is already assigned to application {application_id} "
            "(assignment {existing}); remove it first to change the roles",
            staff_no=teacher.staff_no,
            application_id=application_id,
            existing=existing,
        ),
    )
    row = PilotTeacher(
        application_id=application_id,
        teacher_id=data.teacher_id,
        trainer=TeacherRole.trainer in data.roles,
        evaluator=TeacherRole.evaluator in data.roles,
    )
    session.add(row)
    session.flush()
    record_row(session, principal, row, "pilot_teacher", action="assign_teacher")
    session.commit()
    return _teacher_public(row, teacher)


def remove_teacher(
    session: Session, principal: Principal, application_id: int, teacher_id: int
) -> None:
    application = locked_application(session, principal, application_id)
    row = session.exec(
        select(PilotTeacher).where(
            PilotTeacher.application_id == application_id, PilotTeacher.teacher_id == teacher_id
        )
    ).first()
    if row is None:
        raise NotFound(
            _(
                "Teacher {teacher_id} is not assigned to application {application_id}",
                teacher_id=teacher_id,
                application_id=application_id,
            )
        )
    _require_teacher_manager(session, principal, application_id, session.get(Teacher, teacher_id))
    _refuse_teacher_change(application)
    before = snapshot(row)
    session.delete(row)
    session.flush()
    record(
        session,
        principal,
        action="remove_teacher",
        entity="pilot_teacher",
        entity_id=before["id"] if before else None,
        before=before,
    )
    session.commit()


# --- plans -----------------------------------------------------------------------------------

PLAN_ENTITY = "pilot_plan"
PLAN_EDITABLE = frozenset({PlanStatus.draft, PlanStatus.returned})
PLAN_TRANSITIONS: dict[str, tuple[frozenset[PlanStatus], PlanStatus]] = {
    "file": (PLAN_EDITABLE, PlanStatus.filed),
    "acknowledge": (frozenset({PlanStatus.filed}), PlanStatus.acknowledged),
    "return": (frozenset({PlanStatus.filed}), PlanStatus.returned),
}


def plan_allowed_actions(
    status: PlanStatus, application_status: ApplicationStatus = ApplicationStatus.approved
) -> list[str]:
    """What a plan in ``status`` allows; nothing more once its application is closed."""
    if application_status != ApplicationStatus.approved:
        return []
    actions = ["update"] if status in PLAN_EDITABLE else []
    return actions + [n for n, (sources, _target) in PLAN_TRANSITIONS.items() if status in sources]


def plan_statement(session: Session, principal: Principal, filters: PlanFilters) -> Any:
    statement = (
        select(PilotPlan, Major.name, Major.college_id, PilotApplication.status)
        .join(Major, col(Major.id) == PilotPlan.major_id)
        .join(PilotApplication, col(PilotApplication.id) == PilotPlan.application_id)
    )
    statement = visible(statement, principal)
    if principal.role == Role.college_manager:
        statement = statement.where(Major.college_id == (principal.college_id or -1))
    statement = where_equal(
        statement,
        filters,
        application_id=PilotPlan.application_id,
        major_id=PilotPlan.major_id,
        college_id=Major.college_id,
        status=PilotPlan.status,
        year=PilotApplication.year,
    )
    return statement


def plan_items(session: Session, rows: Sequence[Any]) -> list[PlanListed]:
    """Plans with their core courses, in one statement for all ``rows``."""
    ids = [plan.id for plan, *_rest in rows]
    courses: dict[int, list[PlanCoursePublic]] = defaultdict(list)
    if ids:
        for plan_id, c_id, c_code, c_name in session.exec(
            select(PlanCourse.plan_id, Course.id, Course.code, Course.name)
            .join(Course, col(Course.id) == PlanCourse.course_id)
            .where(col(PlanCourse.plan_id).in_(ids))
            .order_by(col(Course.code))
        ).all():
            courses[plan_id].append(
                PlanCoursePublic.model_validate({"id": c_id, "code": c_code, "name": c_name})
            )
    return [
        PlanListed.model_validate(
            {
                **plan.model_dump(),
                "major_name": major_name,
                "college_id": college_id,
                "core_courses": courses[plan.id],
                "allowed_actions": plan_allowed_actions(plan.status, application_status),
                "core_course_names": [c.name for c in courses[plan.id]],
            }
        )
        for plan, major_name, college_id, application_status in rows
    ]


PLANS = Listing(
    noun=N_("pilot plan"),
    statement=plan_statement,
    order=[col(PilotPlan.application_id), col(PilotPlan.major_id), col(PilotPlan.id)],
    to_items=plan_items,
    filters=PlanFilters,
    key=PilotPlan.id,
    columns=[
        ExportColumn("id", N_("Application number")),
        ExportColumn("application_id", N_("Application ID")),
        ExportColumn("major_name", N_("Major")),
        ExportColumn("status", N_("Status")),
        ExportColumn("core_course_names", N_("Core courses integrating the certificate")),
        ExportColumn("budget_amount", N_("Budget (yuan)")),
        ExportColumn("filed_at", N_("Filed at")),
        ExportColumn("return_reason", N_("Return reason")),
    ],
    filename="plans",
    sheet=N_("Pilot work plans"),
)


def _check_courses(
    session: Session, principal: Principal, course_ids: Sequence[int], field: str
) -> None:
    """Every course exists; a college manager names only their college's courses (one of
    another college, which they may not read, is answered as a missing one)."""
    statement = select(Course.id).where(col(Course.id).in_(list(course_ids)))
    if principal.role == Role.college_manager:
        statement = statement.where(Course.college_id == (principal.college_id or -1))
    found = set(session.exec(statement).all())
    missing = [c for c in course_ids if c not in found]
    if missing:
        raise UnprocessableEntity(
            _(
                "No course with id {ids}",
                ids=", ".join(map(str, missing)),
            ),
            errors=[
                {"field": field, "message": _("unknown course ids {missing}", missing=missing)}
            ],
        )


def _plan_course_ids(session: Session, plan_id: int) -> list[int]:
    return sorted(session.exec(select(PlanCourse.course_id).where(PlanCourse.plan_id == plan_id)))


def _set_plan_courses(session: Session, plan_id: int, course_ids: Sequence[int]) -> None:
    session.execute(sa.delete(PlanCourse).where(col(PlanCourse.plan_id) == plan_id))
    session.add_all(PlanCourse(plan_id=plan_id, course_id=c) for c in course_ids)


def _plan_snapshot(plan: PilotPlan, course_ids: Sequence[int]) -> dict[str, Any]:
    return {**(snapshot(plan) or {}), "core_course_ids": list(course_ids)}


def create_plan(session: Session, principal: Principal, data: PlanCreate) -> PilotPlan:
    try:
        application = locked_application(session, principal, data.application_id)
    except NotFound as exc:
        raise UnprocessableEntity(
            exc.detail,
            errors=[{"field": "body.application_id", "message": exc.detail}],
        ) from exc
    major = session.get(Major, data.major_id)
    if major is None or data.major_id not in _major_ids(session, data.application_id):
        raise UnprocessableEntity(
            _(
                "Major {major_id} is not one of application {application_id}'s majors",
                major_id=data.major_id,
                application_id=data.application_id,
            ),
            errors=[{"field": "body.major_id", "message": _("not a major of the application")}],
        )
    require_college_writer(principal, major.college_id, N_("the pilot plans"))
    if application.status != ApplicationStatus.approved:
        raise InvalidState(
            _(
                "Work plans are made for approved applications; application "
                "{application_id} is {status}",
                application_id=data.application_id,
                status=label(application.status),
            ),
            current_state=application.status.value,
            allowed_actions=allowed_actions(application.status),
        )
    refuse_taken(
        session,
        select(PilotPlan.id).where(
            PilotPlan.application_id == data.application_id, PilotPlan.major_id == data.major_id
        ),
        lambda existing: _(
            "Major {name} already has plan {existing} for application {application_id}; "
            "change that one instead",
            name=major.name,
            existing=existing,
            application_id=data.application_id,
        ),
    )
    _check_courses(session, principal, data.core_course_ids, "body.core_course_ids")
    plan = PilotPlan.model_validate(data.model_dump(exclude={"core_course_ids"}))
    session.add(plan)
    session.flush()
    assert plan.id is not None
    _set_plan_courses(session, plan.id, data.core_course_ids)
    session.flush()
    record(
        session,
        principal,
        action="create",
        entity=PLAN_ENTITY,
        entity_id=plan.id,
        after=_plan_snapshot(plan, data.core_course_ids),
    )
    session.commit()
    return plan


def _locked_plan(session: Session, principal: Principal, plan_id: int) -> tuple[PilotPlan, int]:
    statement = plan_statement(session, principal, PlanFilters()).where(PilotPlan.id == plan_id)
    plan, _major_name, college_id, _application_status = lock_one(
        session, statement, N_("pilot plan"), plan_id, of=PilotPlan
    )
    return plan, college_id


def update_plan(
    session: Session, principal: Principal, plan_id: int, data: PlanUpdate, if_match: int | None
) -> PilotPlan:
    """Change a draft or returned plan; a returned plan that is changed is a draft again."""
    plan, college_id = _locked_plan(session, principal, plan_id)
    require_college_writer(principal, college_id, N_("the pilot plans"))
    check_version(plan.version, if_match, N_("pilot plan"))
    if plan.status not in PLAN_EDITABLE:
        raise InvalidState(
            _(
                "Plan {plan_id} is {status}; only a draft or returned plan is changed",
                plan_id=plan_id,
                status=label(plan.status),
            ),
            current_state=plan.status.value,
            allowed_actions=plan_allowed_actions(plan.status),
        )
    _require_approved_application(session, plan, N_("changed"))
    changes = data.model_dump(exclude_unset=True)
    before_courses = _plan_course_ids(session, plan_id)
    course_ids = changes.pop("core_course_ids", None)
    if course_ids is None:
        course_ids = before_courses
    added = sorted(set(course_ids) - set(before_courses))
    _check_courses(session, principal, added, "body.core_course_ids")
    _update_with_links(
        session,
        principal,
        plan,
        {**changes, "status": PlanStatus.draft},
        PLAN_ENTITY,
        before_links={"core_course_ids": before_courses},
        after_links={"core_course_ids": course_ids},
        write_links=lambda: _set_plan_courses(session, plan_id, course_ids),
    )
    return plan


def _core_course_problems(session: Session, plan: PilotPlan) -> list[dict[str, str]]:
    course_ids = _plan_course_ids(session, plan.id or 0)
    problems = []
    if not MIN_CORE_COURSES <= len(course_ids) <= MAX_CORE_COURSES:
        problems.append(
            {
                "field": "core_course_ids",
                "message": _(
                    "a plan lists {low} to {high} core courses; this one lists {count}",
                    low=MIN_CORE_COURSES,
                    high=MAX_CORE_COURSES,
                    count=len(course_ids),
                ),
            }
        )
    taught = set(
        session.exec(
            select(CourseMajor.course_id).where(
                CourseMajor.major_id == plan.major_id,
                col(CourseMajor.course_id).in_(course_ids),
            )
        ).all()
    )
    foreign = session.exec(
        select(Course.code)
        .where(col(Course.id).in_([c for c in course_ids if c not in taught]))
        .order_by(col(Course.code))
    ).all()
    if foreign:
        problems.append(
            {
                "field": "core_course_ids",
                "message": _(
                    "not courses of the plan's major: {majors}",
                    majors=", ".join(foreign),
                ),
            }
        )
    return problems


def _require_approved_application(session: Session, plan: PilotPlan, what: str) -> None:
    """409 unless the plan's application is (still) approved; its row stays locked, so a
    close racing this change waits for it or is seen by it."""
    application = lock_row(session, PilotApplication, plan.application_id, N_("pilot application"))
    if application.status != ApplicationStatus.approved:
        raise InvalidState(
            _(
                "Plan {id} cannot be {what}: its application {application_id} is {state}; "
                "plans are changed and filed only while it is approved",
                id=plan.id,
                what=translate(what),
                application_id=application.id,
                state=label(application.status),
            ),
            current_state=plan.status.value,
            application_status=application.status.value,
            allowed_actions=[],
        )


def plan_transition(
    session: Session,
    principal: Principal,
    plan_id: int,
    action: str,
    reason: str | None = None,
) -> PilotPlan:
    """File, acknowledge or return a plan; a refused action changes nothing."""
    sources, target = PLAN_TRANSITIONS[action]
    plan, college_id = _locked_plan(session, principal, plan_id)
    if action == "file":
        require_college_writer(principal, college_id, N_("the pilot plans"))
    else:
        require_office(principal, _("{action} pilot plans", action=action))
    _refuse_unless_in(
        plan.status, sources, action, _("plan {id}", id=plan_id), plan_allowed_actions(plan.status)
    )
    if action == "file":
        _require_approved_application(session, plan, N_("filed"))
        problems = _core_course_problems(session, plan)
        if problems:
            raise UnprocessableEntity(
                _(
                    "Plan {plan_id} cannot be filed: {problems}",
                    plan_id=plan_id,
                    problems="; ".join(p["message"] for p in problems),
                ),
                code="plan_incomplete",
                errors=problems,
            )
    changes: dict[str, Any] = {"status": target}
    if action == "file":
        changes["filed_at"] = utcnow()
    if action == "return":
        changes["return_reason"] = reason
    _record_move(session, principal, plan, PLAN_ENTITY, action, changes)
    return plan
