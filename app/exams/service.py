"""Exam rules: who creates sessions and registers whom, the eligibility rules and the limits
(capacity, the pilot's headcount) that hold under concurrent requests, the registration
state machine, results, issued certificates and their public verification. Every change is
audited and committed here."""

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from app.applications.admission import admission, major_name
from app.applications.models import (
    PilotApplication,
)
from app.applications.rules import approved_problem
from app.applications.service import approved_application
from app.audit.labels import action_labels
from app.bases.models import TrainingBase
from app.core.audit import apply_changes, record, record_row, save_new, snapshot
from app.core.auth import check_role
from app.core.errors import (
    Conflict,
    Forbidden,
    InvalidState,
    NotFound,
    UnprocessableEntity,
)
from app.core.export import ExportColumn
from app.core.hooks import Hook
from app.core.i18n import N_, _, translate
from app.core.labels import label
from app.core.listing import Listing, each, where_equal
from app.core.locks import PUBLIC_LOOKUP_SPACE, lock_row
from app.core.ratelimit import RateLimit
from app.core.roles import Principal, Role
from app.core.scopes import limit_to_scope, through
from app.core.types import utcnow
from app.core.versions import check_version
from app.exams.hooks import certificate_revoked
from app.exams.models import (
    CertificateStatus,
    ExamRegistration,
    ExamResult,
    ExamSession,
    ExamSessionCreate,
    ExamSessionFilters,
    ExamSessionPublic,
    ExamSessionUpdate,
    IssuedCertificate,
    IssuedCertificateFilters,
    IssuedCertificatePublic,
    PublicCertificate,
    PublicLookup,
    RegistrationFilters,
    RegistrationPublic,
    RegistrationRow,
    RegistrationStatus,
    ResultPublic,
    ResultPut,
    SessionStatus,
)
from app.exams.rules import (
    certified_pass_problem,
    full_problem,
    headcount_problem,
    held_problem,
    paid_pass_problem,
    window_problem,
)
from app.reference.models import Certificate, EvaluationOrg, Major, Student

SESSION_ENTITY = "exam_session"
REGISTRATION_ENTITY = "exam_registration"
RESULT_ENTITY = "exam_result"
CERTIFICATE_ENTITY = "issued_certificate"
PUBLIC_LOOKUPS_PER_MINUTE = 60
PUBLIC_LOOKUP_WINDOW = timedelta(minutes=1)
PUBLIC_LOOKUP_PRUNE_BATCH = 500


def session_status(exam: ExamSession, today: date) -> SessionStatus:
    if today < exam.registration_opens:
        return SessionStatus.upcoming
    if today <= exam.registration_closes:
        return SessionStatus.open
    if today < exam.exam_date:
        return SessionStatus.closed
    return SessionStatus.held


def _status_filter(status: SessionStatus, today: date) -> Any:
    opens, closes = col(ExamSession.registration_opens), col(ExamSession.registration_closes)
    exam_date = col(ExamSession.exam_date)
    if status == SessionStatus.upcoming:
        return opens > today
    if status == SessionStatus.open:
        return sa.and_(opens <= today, closes >= today)
    if status == SessionStatus.closed:
        return sa.and_(closes < today, exam_date > today)
    return sa.and_(closes < today, exam_date <= today)


# --- sessions --------------------------------------------------------------------------------


def _live_count() -> Any:
    return (
        select(func.count())
        .where(
            col(ExamRegistration.session_id) == col(ExamSession.id),
            col(ExamRegistration.live).is_(True),
        )
        .scalar_subquery()
    )


def session_statement(
    _session: Session, principal: Principal, filters: ExamSessionFilters, today: date
) -> Any:
    """Sessions with their certificate's and organisation's names and live registrations; an
    evaluation organisation sees its own. ``status`` is as of ``today``."""
    statement = (
        select(ExamSession, Certificate.name, EvaluationOrg.name, _live_count())
        .join(Certificate, col(Certificate.id) == ExamSession.certificate_id)
        .join(EvaluationOrg, col(EvaluationOrg.id) == ExamSession.evaluation_org_id)
    )
    if principal.role == Role.evaluation_org:
        statement = statement.where(
            ExamSession.evaluation_org_id == (principal.evaluation_org_id or -1)
        )
    statement = where_equal(
        statement,
        filters,
        certificate_id=ExamSession.certificate_id,
        level=ExamSession.level,
        application_id=ExamSession.application_id,
        base_id=ExamSession.base_id,
    )
    if filters.date_from is not None:
        statement = statement.where(col(ExamSession.exam_date) >= filters.date_from)
    if filters.date_to is not None:
        statement = statement.where(col(ExamSession.exam_date) <= filters.date_to)
    if filters.status is not None:
        statement = statement.where(_status_filter(filters.status, today))
    return statement


def _session_public(row: Any, today: date) -> ExamSessionPublic:
    exam, certificate_name, org_name, registered = row
    return ExamSessionPublic.model_validate(
        {
            **exam.model_dump(),
            "certificate_name": certificate_name,
            "evaluation_org_name": org_name,
            "registered": int(registered or 0),
            "status": session_status(exam, today),
        }
    )


SESSION_COLUMNS = [
    ExportColumn("id", N_("Exam session ID")),
    ExportColumn("certificate_name", N_("Certificate name")),
    ExportColumn("level", N_("Level")),
    ExportColumn("evaluation_org_name", N_("Evaluation organisation")),
    ExportColumn("exam_date", N_("Exam date")),
    ExportColumn("site", N_("Exam site")),
    ExportColumn("base_id", N_("Training base ID")),
    ExportColumn("capacity", N_("Capacity")),
    ExportColumn("registered", N_("Registered for the exam")),
    ExportColumn("registration_opens", N_("Registration opens")),
    ExportColumn("registration_closes", N_("Registration closes")),
    ExportColumn("fee", N_("Exam fee")),
    ExportColumn("status", N_("Status")),
]


def sessions(today: date) -> Listing[ExamSessionFilters, ExamSessionPublic]:
    """The exam sessions list as of ``today``, the school's date (the request's ``Today``):
    each session's ``status``, and the ``status`` filter, depend on it."""

    def statement(session: Session, principal: Principal, filters: ExamSessionFilters) -> Any:
        return session_statement(session, principal, filters, today)

    def to_item(row: Any) -> ExamSessionPublic:
        return _session_public(row, today)

    return Listing(
        noun=N_("exam session"),
        statement=statement,
        order=[col(ExamSession.exam_date).desc(), col(ExamSession.id)],
        to_items=each(to_item),
        filters=ExamSessionFilters,
        key=ExamSession.id,
        columns=SESSION_COLUMNS,
        filename="exam-sessions",
        sheet=N_("Exam sessions"),
    )


def get_session(
    session: Session, principal: Principal, session_id: int, today: date
) -> ExamSessionPublic:
    return sessions(today).one(session, principal, session_id)


def create_session(session: Session, principal: Principal, data: ExamSessionCreate) -> ExamSession:
    """A session for an approved pilot; its certificate, level and organisation come from it."""
    check_role(principal, Role.academic_office, what=N_("create exam sessions"))
    application = approved_application(session, data.application_id, N_("Exam sessions are made"))
    if data.base_id is not None:
        check_base_capacity(session, data.base_id, data.capacity)
    certificate = session.get(Certificate, application.certificate_id)
    assert certificate is not None
    exam = ExamSession(
        **data.model_dump(),
        certificate_id=application.certificate_id,
        level=application.level,
        evaluation_org_id=certificate.evaluation_org_id,
    )
    save_new(session, principal, exam, SESSION_ENTITY)
    return exam


def check_base_capacity(
    session: Session, base_id: int, capacity: int, session_id: int | None = None
) -> None:
    """A session held at a training base: the base exists, is a registered exam site, and has
    at least ``capacity`` stations. The base's row is share-locked, so a concurrent change of
    its stations (which locks it for update) waits for this write, or this one sees it."""
    base = lock_row(
        session, TrainingBase, base_id, "training base", field="body.base_id", share=True
    )
    if not base.exam_site:
        raise UnprocessableEntity(
            _(
                "The training base {name} is not a registered exam site (考点); mark it one "
                "first or hold the session elsewhere",
                name=base.name,
            ),
            code="not_an_exam_site",
            errors=[{"field": "body.base_id", "message": _("not a registered exam site")}],
        )
    if capacity > base.stations:
        raise Conflict(
            _(
                "A session at {name} cannot seat {capacity} candidates: the base has "
                "{stations} stations (工位)",
                name=base.name,
                capacity=capacity,
                stations=base.stations,
            ),
            code="capacity_above_stations",
            stations=base.stations,
            capacity=capacity,
        )


def _locked_session(session: Session, session_id: int) -> ExamSession:
    return lock_row(session, ExamSession, session_id, N_("exam session"))


def live_in_session(session: Session, session_id: int) -> int:
    return int(
        session.exec(
            select(func.count()).where(
                ExamRegistration.session_id == session_id, col(ExamRegistration.live).is_(True)
            )
        ).one()
    )


def update_session(
    session: Session,
    principal: Principal,
    session_id: int,
    data: ExamSessionUpdate,
    if_match: int | None,
) -> ExamSession:
    """Change a session; its capacity never drops below the live registrations."""
    check_role(principal, Role.academic_office, what=N_("change exam sessions"))
    exam = _locked_session(session, session_id)
    check_version(exam.version, if_match, N_("exam session"))
    changes = data.model_dump(exclude_unset=True)
    merged = {**exam.model_dump(), **changes}
    if not merged["registration_opens"] <= merged["registration_closes"] <= merged["exam_date"]:
        raise UnprocessableEntity(
            _(
                "The registration window must open on or before it closes, and close on "
                "or before the exam date; this would give {opens} – "
                "{closes}, exam {exam_date}",
                opens=merged["registration_opens"],
                closes=merged["registration_closes"],
                exam_date=merged["exam_date"],
            ),
            errors=[{"field": "body", "message": _("opens ≤ closes ≤ exam_date")}],
        )
    if merged["base_id"] is not None and ("base_id" in changes or "capacity" in changes):
        check_base_capacity(session, merged["base_id"], merged["capacity"], session_id)
    taken = live_in_session(session, session_id)
    if merged["capacity"] < taken:
        raise Conflict(
            _(
                "Session {session_id} has {taken} live registrations; capacity cannot go "
                "below that (asked for {capacity})",
                session_id=session_id,
                taken=taken,
                capacity=merged["capacity"],
            ),
            code="capacity_below_registrations",
            registered=taken,
        )
    apply_changes(session, principal, exam, changes, SESSION_ENTITY)
    return exam


# --- eligibility and limits --------------------------------------------------------------------


def eligibility_problems(
    session: Session, application: PilotApplication, student: Student
) -> list[str]:
    """What keeps ``student`` out of ``application``'s exams; empty when eligible."""
    problem = approved_problem(application.id, application.status)
    problems = [problem] if problem else []
    problems += admission(session, application.id or 0).problems(
        student.major_id, student.cohort, major_name(session)
    )
    return problems


def _registered_students(session: Session, application_id: int) -> int:
    return int(
        session.exec(
            select(func.count(sa.distinct(col(ExamRegistration.student_id)))).where(
                ExamRegistration.application_id == application_id,
                col(ExamRegistration.live).is_(True),
            )
        ).one()
    )


def _has_live_in_application(session: Session, application_id: int, student_id: int) -> bool:
    return (
        session.exec(
            select(ExamRegistration.id).where(
                ExamRegistration.application_id == application_id,
                ExamRegistration.student_id == student_id,
                col(ExamRegistration.live).is_(True),
            )
        ).first()
        is not None
    )


def lock_session_and_application(
    session: Session, session_id: int
) -> tuple[ExamSession, PilotApplication]:
    """Lock the session's row, then its application's: every writer that counts seats or
    headcount takes them in this order, so concurrent registrations queue, never deadlock."""
    exam = _locked_session(session, session_id)
    application = lock_row(session, PilotApplication, exam.application_id, N_("pilot application"))
    return exam, application


REGISTRARS = (Role.academic_office, Role.college_manager, Role.student)


def _require_registrar_role(principal: Principal) -> None:
    if principal.role not in REGISTRARS:
        raise Forbidden(
            _(
                "Role {role} may not register or cancel; allowed roles: academic_office, "
                "college_manager (own college), student (themself)",
                role=label(principal.role),
            ),
            allowed_roles=[r.value for r in REGISTRARS],
        )


def _registers_for(principal: Principal, student: Student, college_id: int) -> bool:
    """Whether ``principal`` registers ``student``: the office anyone, a college manager their
    college's students, a student themself."""
    if principal.role == Role.student:
        return principal.student_id == student.id
    if principal.role == Role.college_manager:
        return principal.college_id == college_id
    return principal.role == Role.academic_office


def _require_registrar(principal: Principal, student: Student, college_id: int) -> None:
    _require_registrar_role(principal)
    if not _registers_for(principal, student, college_id):
        raise Forbidden(
            _(
                "A student registers and cancels only themself, a college manager only "
                "students of their own college",
            ),
            code="out_of_scope",
        )


def _college_of(session: Session, student: Student) -> int:
    major = session.get(Major, student.major_id)
    assert major is not None
    return major.college_id


def register(
    session: Session, principal: Principal, session_id: int, student_id: int | None, today: date
) -> ExamRegistration:
    """Register a student, if every rule allows it, with the session and application locked."""
    if student_id is None:
        if principal.role != Role.student or principal.student_id is None:
            raise UnprocessableEntity(
                _("student_id is required (only a student registering themself may leave it out)"),
                errors=[{"field": "body.student_id", "message": _("required")}],
            )
        student_id = principal.student_id
    _require_registrar_role(principal)
    exam, application = lock_session_and_application(session, session_id)
    student = session.get(Student, student_id)
    if student is None or not _registers_for(principal, student, _college_of(session, student)):
        # A student the caller may not read is answered as one that does not exist.
        raise UnprocessableEntity(
            _("No student with id {student_id}", student_id=student_id),
            errors=[{"field": "body.student_id", "message": _("no such student")}],
        )
    check_registration(session, exam, application, student, today)
    registration = ExamRegistration(
        session_id=session_id,
        student_id=student_id,
        application_id=application.id or 0,
        status=RegistrationStatus.registered,
        live=True,
    )
    session.add(registration)
    session.flush()
    record_row(session, principal, registration, REGISTRATION_ENTITY, action="register")
    session.commit()
    return registration


def check_registration(
    session: Session,
    exam: ExamSession,
    application: PilotApplication,
    student: Student,
    today: date,
) -> None:
    """Every rule for a new registration, with the session and application rows locked; the
    refusal names what is missing."""
    problem = window_problem(exam.id, exam.registration_opens, exam.registration_closes, today)
    if problem:
        raise Conflict(
            _("Cannot register: {problem}", problem=problem),
            code="registration_closed",
            registration_opens=exam.registration_opens.isoformat(),
            registration_closes=exam.registration_closes.isoformat(),
        )
    problems = eligibility_problems(session, application, student)
    if problems:
        raise Conflict(
            _(
                "Student {student_no} is not eligible for session {id}: {problems}",
                student_no=student.student_no,
                id=exam.id,
                problems="; ".join(problems),
            ),
            code="not_eligible",
            missing=problems,
        )
    existing = session.exec(
        select(ExamRegistration.id).where(
            ExamRegistration.session_id == exam.id,
            ExamRegistration.student_id == student.id,
            col(ExamRegistration.live).is_(True),
        )
    ).first()
    if existing is not None:
        raise Conflict(
            _(
                "Student {student_no} already has registration {existing} in session {id}",
                student_no=student.student_no,
                existing=existing,
                id=exam.id,
            ),
            code="already_registered",
            existing_id=existing,
        )
    problem = full_problem(exam.id, live_in_session(session, exam.id or 0), exam.capacity)
    if problem:
        raise Conflict(
            _("Cannot register: {problem}", problem=problem),
            code="session_full",
            capacity=exam.capacity,
        )
    if not _has_live_in_application(session, application.id or 0, student.id or 0):
        counted = _registered_students(session, application.id or 0)
        problem = headcount_problem(application.id, counted, application.headcount)
        if problem:
            raise Conflict(
                _("Cannot register: {problem}", problem=problem),
                code="headcount_reached",
                headcount=application.headcount,
            )


# --- registrations -----------------------------------------------------------------------------


def registration_actions(status: RegistrationStatus) -> list[str]:
    if status == RegistrationStatus.registered:
        return ["cancel", "absent", "result"]
    if status == RegistrationStatus.sat:
        return ["result"]
    return []


def registration_statement(
    _session: Session, principal: Principal, filters: RegistrationFilters
) -> Any:
    """Registrations with their session, student, college and result. A college manager sees
    their college's students', a student their own, an evaluation organisation its
    sessions'."""
    statement = (
        select(ExamRegistration, ExamSession, Student, col(Major.college_id), ExamResult)  # type: ignore[call-overload]
        .join(ExamSession, col(ExamSession.id) == ExamRegistration.session_id)
        .join(Student, col(Student.id) == ExamRegistration.student_id)
        .join(Major, col(Major.id) == Student.major_id)
        .outerjoin(ExamResult, col(ExamResult.registration_id) == ExamRegistration.id)
    )
    statement = limit_to_scope(
        statement,
        principal,
        N_("exam registrations"),
        college_manager=Major.college_id,
        student=ExamRegistration.student_id,
        evaluation_org=ExamSession.evaluation_org_id,
    )
    statement = where_equal(
        statement,
        filters,
        session_id=ExamRegistration.session_id,
        student_id=ExamRegistration.student_id,
        application_id=ExamRegistration.application_id,
        college_id=Major.college_id,
        status=ExamRegistration.status,
    )
    return statement


def registration_public(row: Any) -> RegistrationPublic:
    registration, exam, student, college_id, result = row
    return RegistrationPublic.model_validate(
        {
            **registration.model_dump(),
            "exam_date": exam.exam_date,
            "certificate_id": exam.certificate_id,
            "level": exam.level,
            "student_no": student.student_no,
            "student_name": student.name,
            "major_id": student.major_id,
            "college_id": college_id,
            "cohort": student.cohort,
            "result": ResultPublic.model_validate(result.model_dump()) if result else None,
            "allowed_actions": registration_actions(registration.status),
        }
    )


def registration_row(row: Any) -> RegistrationRow:
    """A registration as the list shows it, with its result's scores and pass also as the
    export's own cells (the JSON answer shows ``RegistrationPublic``'s fields only)."""
    item = registration_public(row)
    result = item.result
    return RegistrationRow(
        **item.__dict__,
        theory_score=result.theory_score if result else None,
        practical_score=result.practical_score if result else None,
        passed=result.passed if result else None,
    )


REGISTRATIONS = Listing(
    noun=N_("exam registration"),
    statement=registration_statement,
    order=[col(ExamRegistration.session_id), col(ExamRegistration.id)],
    to_items=each(registration_row),
    filters=RegistrationFilters,
    key=ExamRegistration.id,
    columns=[
        ExportColumn("id", N_("Registration ID"), ExamRegistration.id),
        ExportColumn("session_id", N_("Exam session ID"), ExamRegistration.session_id),
        ExportColumn("exam_date", N_("Exam date"), ExamSession.exam_date),
        ExportColumn("level", N_("Level"), ExamSession.level),
        ExportColumn("student_no", N_("Student number"), Student.student_no),
        ExportColumn("student_name", N_("Full name"), Student.name),
        ExportColumn("cohort", N_("Cohort"), Student.cohort),
        ExportColumn("status", N_("Status"), ExamRegistration.status),
        ExportColumn("theory_score", N_("Theory score"), ExamResult.theory_score),
        ExportColumn("practical_score", N_("Practical score"), ExamResult.practical_score),
        ExportColumn("passed", N_("Passed"), ExamResult.passed),
    ],
    filename="exam-registrations",
    sheet=N_("Exam registrations"),
    updated=[ExamRegistration.updated_at, ExamResult.updated_at],
)


def _visible_registration(
    session: Session, principal: Principal, registration_id: int
) -> tuple[ExamRegistration, ExamSession, Student, int]:
    row = session.exec(
        registration_statement(session, principal, RegistrationFilters()).where(
            ExamRegistration.id == registration_id
        )
    ).first()
    if row is None:
        raise NotFound(
            _("No exam registration with id {registration_id}", registration_id=registration_id)
        )
    registration, exam, student, college_id, _result = row
    return registration, exam, student, college_id


def _refuse(registration: ExamRegistration, action: str, needs: str) -> None:
    allowed = registration_actions(registration.status)
    raise InvalidState(
        _(
            "Cannot {action} registration {id}: it is {status}; {action} needs "
            "{needs}. Allowed now: {allowed}",
            action=translate(action),
            id=registration.id,
            status=label(registration.status),
            needs=translate(needs),
            allowed=action_labels(allowed) if allowed else _("none"),
        ),
        current_state=registration.status.value,
        allowed_actions=allowed,
    )


ORG_OR_OFFICE = frozenset({Role.academic_office, Role.evaluation_org})
"""Who records a session's outcomes (absence, results, revocations): the office, or the
session's own evaluation organisation."""


def _require_org_or_office(principal: Principal, exam: ExamSession, what: str) -> None:
    if principal.role == Role.academic_office:
        return
    if principal.role == Role.evaluation_org:
        if principal.evaluation_org_id == exam.evaluation_org_id:
            return
        raise Forbidden(
            _(
                "Session {id} belongs to evaluation organisation {evaluation_org_id}; "
                "organisation {own_org_id} may not {what}",
                id=exam.id,
                evaluation_org_id=exam.evaluation_org_id,
                own_org_id=principal.evaluation_org_id,
                what=translate(what),
            ),
            code="out_of_scope",
        )
    raise Forbidden(
        _(
            "Role {role} may not {what}; allowed roles: academic_office, "
            "evaluation_org (its own sessions)",
            role=label(principal.role),
            what=translate(what),
        ),
        allowed_roles=[Role.academic_office.value, Role.evaluation_org.value],
    )


def cancel(
    session: Session, principal: Principal, registration_id: int, today: date
) -> ExamRegistration:
    """registered → cancelled, by the student or their college, while the window is open."""
    registration, exam, student, college_id = _visible_registration(
        session, principal, registration_id
    )
    _require_registrar(principal, student, college_id)
    exam, _application = lock_session_and_application(session, exam.id or 0)
    registration = lock_row(session, ExamRegistration, registration_id, N_("exam registration"))
    if registration.status != RegistrationStatus.registered:
        _refuse(registration, N_("cancel"), N_("registered"))
    problem = window_problem(exam.id, exam.registration_opens, exam.registration_closes, today)
    if problem:
        raise InvalidState(
            _(
                "Cannot cancel registration {registration_id}: {problem}; a registration "
                "is cancelled only while the window is open",
                registration_id=registration_id,
                problem=problem,
            ),
            current_state=registration.status.value,
            allowed_actions=[a for a in registration_actions(registration.status) if a != "cancel"],
        )
    return _move(session, principal, registration, RegistrationStatus.cancelled, "cancel")


def _require_exam_held(registration: ExamRegistration, exam: ExamSession, today: date) -> None:
    problem = held_problem(exam.id, exam.exam_date, today)
    if problem:
        raise InvalidState(
            _("Registration {id}: {problem}", id=registration.id, problem=problem),
            current_state=registration.status.value,
            allowed_actions=[
                a
                for a in registration_actions(registration.status)
                if a not in {"absent", "result"}
            ],
        )


def mark_absent(
    session: Session, principal: Principal, registration_id: int, today: date
) -> ExamRegistration:
    """registered → absent, by the office or the session's organisation, from the exam date."""
    registration, exam, _student, _college = _visible_registration(
        session, principal, registration_id
    )
    _require_org_or_office(principal, exam, N_("mark candidates absent"))
    _require_exam_held(registration, exam, today)
    registration = lock_row(session, ExamRegistration, registration_id, N_("exam registration"))
    if registration.status != RegistrationStatus.registered:
        _refuse(registration, N_("absent"), N_("registered"))
    return _move(session, principal, registration, RegistrationStatus.absent, "absent")


def _move(
    session: Session,
    principal: Principal,
    registration: ExamRegistration,
    target: RegistrationStatus,
    action: str,
) -> ExamRegistration:
    before = snapshot(registration)
    registration.status = target
    registration.live = None if target == RegistrationStatus.cancelled else True
    session.flush()
    record_row(session, principal, registration, REGISTRATION_ENTITY, action=action, before=before)
    session.commit()
    return registration


# --- results -----------------------------------------------------------------------------------

RESULT_STATES = frozenset({RegistrationStatus.registered, RegistrationStatus.sat})


def valid_certificate_number(session: Session, result_id: int) -> str | None:
    number: str | None = session.exec(
        select(IssuedCertificate.number).where(
            IssuedCertificate.result_id == result_id,
            IssuedCertificate.status == CertificateStatus.valid,
        )
    ).first()
    return number


@dataclass
class PassesFailing:
    """Passed results about to be recorded as not passed, handed to ``result_changing``.

    A pass may have been rewarded with a payment (the pass subsidy, 奖励补贴, paid by the
    funding domain); while such a payment stands, the pass may not become a fail. Handlers
    name each standing payment in ``payments``; exams refuses the change for those."""

    result_ids: list[int]
    payments: dict[int, str] = field(default_factory=dict)
    """Result id → the voucher number of a payment that stands on it."""


result_changing: Hook[[Session, PassesFailing]] = Hook("result_changing")
"""Called, inside the transaction and under the locks of the change (the sessions' rows held
shared, the registrations locked), before passed results become fails; funding registers the
handler that finds their standing pass subsidies (``app.funding.flows``)."""


def standing_payments(session: Session, result_ids: list[int]) -> dict[int, str]:
    """Result id → the voucher of a payment that stands on it (paid and not reversed), as
    the handlers of ``result_changing`` name them."""
    if not result_ids:
        return {}
    change = PassesFailing(result_ids=sorted(result_ids))
    result_changing(session, change)
    return change.payments


def share_sessions(session: Session, session_ids: list[int]) -> None:
    """Hold the sessions' rows shared while results change: a subsidy run over a session
    (which locks its row for update, then pays its passed results) waits for the change, and
    the change waits for a run under way, so a pass is never failed under a payment."""
    session.exec(
        select(ExamSession.id)
        .where(col(ExamSession.id).in_(sorted(session_ids)))
        .order_by(col(ExamSession.id))
        .with_for_update(read=True)
    ).all()


def refuse_fail_of_paid_pass(session: Session, registration_id: int, result_id: int) -> None:
    voucher = standing_payments(session, [result_id]).get(result_id)
    problem = paid_pass_problem(voucher)
    if problem:
        raise Conflict(
            _("Registration {id}: {problem}", id=registration_id, problem=problem),
            code="subsidy_paid",
            voucher_no=voucher,
        )


def put_result(
    session: Session, principal: Principal, registration_id: int, data: ResultPut, today: date
) -> ExamResult:
    """Record or correct a result, from the exam date; the registration becomes ``sat``; the
    audit keeps both."""
    registration, exam, _student, _college = _visible_registration(
        session, principal, registration_id
    )
    _require_org_or_office(principal, exam, N_("record results"))
    _require_exam_held(registration, exam, today)
    share_sessions(session, [exam.id or 0])
    registration = lock_row(session, ExamRegistration, registration_id, N_("exam registration"))
    if registration.status not in RESULT_STATES:
        _refuse(registration, N_("record a result for"), N_("registered or sat"))
    result = session.exec(
        select(ExamResult).where(ExamResult.registration_id == registration_id)
    ).first()
    if result is not None and result.passed and not data.passed:
        number = valid_certificate_number(session, result.id or 0)
        problem = certified_pass_problem(number)
        if problem:
            raise Conflict(
                _("Registration {id}: {problem}", id=registration_id, problem=problem),
                code="certificate_issued",
                certificate_number=number,
            )
        refuse_fail_of_paid_pass(session, registration_id, result.id or 0)
    before = snapshot(result)
    if result is None:
        result = ExamResult(registration_id=registration_id, **data.model_dump())
        session.add(result)
    else:
        for name, value in data.model_dump().items():
            setattr(result, name, value)
    if registration.status != RegistrationStatus.sat:
        registration.status = RegistrationStatus.sat
    session.flush()
    if before != snapshot(result):
        record_row(
            session,
            principal,
            result,
            RESULT_ENTITY,
            action="update" if before else "create",
            before=before,
        )
    session.commit()
    return result


# --- issued certificates -------------------------------------------------------------------------


def certificate_statement(
    _session: Session, principal: Principal, filters: IssuedCertificateFilters
) -> Any:
    """Issued certificates with their holder, session, certificate and organisation. A
    student sees their own, a college manager their college's students', an evaluation
    organisation those of its sessions."""
    statement = (
        select(  # type: ignore[call-overload]
            IssuedCertificate, Student, ExamSession, col(Certificate.name), col(EvaluationOrg.name)
        )
        .join(Student, col(Student.id) == IssuedCertificate.student_id)
        .join(ExamSession, col(ExamSession.id) == IssuedCertificate.session_id)
        .join(Certificate, col(Certificate.id) == ExamSession.certificate_id)
        .join(EvaluationOrg, col(EvaluationOrg.id) == ExamSession.evaluation_org_id)
    )
    statement = limit_to_scope(
        statement,
        principal,
        N_("issued certificates"),
        student=IssuedCertificate.student_id,
        evaluation_org=ExamSession.evaluation_org_id,
        college_manager=through(Student.major_id, Major.id, Major.college_id),
    )
    statement = where_equal(
        statement,
        filters,
        student_id=IssuedCertificate.student_id,
        session_id=IssuedCertificate.session_id,
        certificate_id=ExamSession.certificate_id,
        status=IssuedCertificate.status,
        number=IssuedCertificate.number,
    )
    return statement


def certificate_public(row: Any) -> IssuedCertificatePublic:
    issued, student, exam, certificate_name, org_name = row
    return IssuedCertificatePublic.model_validate(
        {
            **issued.model_dump(),
            "student_no": student.student_no,
            "student_name": student.name,
            "certificate_id": exam.certificate_id,
            "certificate_name": certificate_name,
            "level": exam.level,
            "evaluation_org_id": exam.evaluation_org_id,
            "evaluation_org_name": org_name,
        }
    )


CERTIFICATES = Listing(
    noun=N_("issued certificate"),
    statement=certificate_statement,
    order=[col(IssuedCertificate.issue_date).desc(), col(IssuedCertificate.id).desc()],
    to_items=each(certificate_public),
    filters=IssuedCertificateFilters,
    key=IssuedCertificate.id,
    columns=[
        ExportColumn("number", N_("Certificate number"), IssuedCertificate.number),
        ExportColumn("student_no", N_("Student number"), Student.student_no),
        ExportColumn("student_name", N_("Full name"), Student.name),
        ExportColumn("certificate_name", N_("Certificate name"), Certificate.name),
        ExportColumn("level", N_("Level"), ExamSession.level),
        ExportColumn("evaluation_org_name", N_("Evaluation organisation"), EvaluationOrg.name),
        ExportColumn("session_id", N_("Exam session ID"), IssuedCertificate.session_id),
        ExportColumn("issue_date", N_("Issue date"), IssuedCertificate.issue_date),
        ExportColumn("status", N_("Status"), IssuedCertificate.status),
        ExportColumn("revoke_reason", N_("Revocation reason"), IssuedCertificate.revoke_reason),
    ],
    filename="issued-certificates",
    sheet=N_("Issued certificates"),
    updated=[IssuedCertificate.updated_at],
)


def revoke(
    session: Session, principal: Principal, certificate_id: int, reason: str, today: date
) -> IssuedCertificate:
    """valid → revoked with a reason, by the office or the issuing organisation; the credit
    bank reverses the credits converted from it in the same transaction."""
    row = session.exec(
        certificate_statement(session, principal, IssuedCertificateFilters()).where(
            IssuedCertificate.id == certificate_id
        )
    ).first()
    if row is None:
        raise NotFound(
            _("No issued certificate with id {certificate_id}", certificate_id=certificate_id)
        )
    _issued, _student, exam, _name, _org = row
    _require_org_or_office(principal, exam, N_("revoke certificates"))
    issued = lock_row(session, IssuedCertificate, certificate_id, N_("issued certificate"))
    if issued.status != CertificateStatus.valid:
        raise InvalidState(
            _(
                "Certificate {number} is already revoked ({revoke_reason})",
                number=issued.number,
                revoke_reason=issued.revoke_reason,
            ),
            current_state=issued.status.value,
            allowed_actions=[],
        )
    before = snapshot(issued)
    issued.status = CertificateStatus.revoked
    issued.revoke_reason = reason
    issued.revoked_at = utcnow()
    session.flush()
    record(
        session,
        principal,
        action="revoke",
        entity=CERTIFICATE_ENTITY,
        entity_id=certificate_id,
        before=before,
        after=snapshot(issued),
    )
    certificate_revoked(session, principal, issued, today)
    session.commit()
    return issued


# --- public verification -------------------------------------------------------------------------


def mask_name(name: str) -> str:
    """张三 → 张*, 张小三 → 张*三, 欧阳小明 → 欧**明."""
    if len(name) <= 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


PUBLIC_LOOKUPS = RateLimit(
    table=PublicLookup,
    limit=PUBLIC_LOOKUPS_PER_MINUTE,
    window=PUBLIC_LOOKUP_WINDOW,
    lock_key=PUBLIC_LOOKUP_SPACE,
    what=N_("look-ups"),
    per=N_("a minute"),
    prune_batch=PUBLIC_LOOKUP_PRUNE_BATCH,
)
"""The public verification's limit, counted in the database so it holds across workers."""


def count_public_lookup(session: Session, client: str) -> None:
    """Count this look-up against ``client``'s 60 a minute; 429 with ``Retry-After`` past
    it."""
    PUBLIC_LOOKUPS.hit(session, client)


def public_certificate(session: Session, number: str) -> PublicCertificate:
    row = session.exec(
        select(  # type: ignore[call-overload]
            IssuedCertificate,
            col(Student.name),
            ExamSession,
            col(Certificate.name),
            col(EvaluationOrg.name),
        )
        .join(Student, col(Student.id) == IssuedCertificate.student_id)
        .join(ExamSession, col(ExamSession.id) == IssuedCertificate.session_id)
        .join(Certificate, col(Certificate.id) == ExamSession.certificate_id)
        .join(EvaluationOrg, col(EvaluationOrg.id) == ExamSession.evaluation_org_id)
        .where(IssuedCertificate.number == number)
    ).first()
    if row is None:
        raise NotFound(_("No certificate with this number"))
    issued, holder, exam, certificate_name, org_name = row
    return PublicCertificate(
        number=issued.number,
        holder=mask_name(holder),
        certificate=certificate_name,
        level=exam.level,
        evaluation_org=org_name,
        issue_date=issued.issue_date,
        status=issued.status,
    )
