"""Exam rules: who creates sessions and registers whom, the eligibility rules and the limits
(capacity, the pilot's headcount) that hold under concurrent requests, the registration
state machine, results, issued certificates and their public verification. Every change is
audited and committed here."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from app.accounts.service import check_version
from app.applications.models import (
    ApplicationCohort,
    ApplicationMajor,
    ApplicationStatus,
    PilotApplication,
)
from app.core.audit import apply_changes, record, snapshot
from app.core.errors import (
    Conflict,
    Forbidden,
    InvalidState,
    NotFound,
    TooManyRequests,
    UnprocessableEntity,
)
from app.core.legacy import RowListing as Listing
from app.core.legacy import fetch_for_export
from app.core.pagination import Page, PageParams, paginate
from app.core.roles import Principal, Role
from app.core.types import utcnow
from app.exams.hooks import certificate_revoked
from app.exams.models import (
    CertificateStatus,
    ExamRegistration,
    ExamResult,
    ExamSession,
    ExamSessionCreate,
    ExamSessionPublic,
    ExamSessionUpdate,
    FunnelGroupBy,
    FunnelReport,
    FunnelRow,
    IssuedCertificate,
    IssuedCertificatePublic,
    PublicCertificate,
    PublicLookup,
    RegistrationPublic,
    RegistrationStatus,
    ResultPublic,
    ResultPut,
    SessionStatus,
)
from app.funding.models import Expenditure
from app.funding.service import not_reversed
from app.reference.models import Certificate, College, EvaluationOrg, Level, Major, Student
from app.trainings.models import TrainingBatch, TrainingEnrollment

READ_ALL = frozenset({Role.admin, Role.academic_office, Role.auditor})
SESSION_ENTITY = "exam_session"
REGISTRATION_ENTITY = "exam_registration"
RESULT_ENTITY = "exam_result"
CERTIFICATE_ENTITY = "issued_certificate"
PUBLIC_LOOKUPS_PER_MINUTE = 60
PUBLIC_LOOKUP_WINDOW = timedelta(minutes=1)
PUBLIC_LOOKUP_PRUNE_BATCH = 500
PUBLIC_LOCK_KEY = 0x0E7E_C3A7


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


def _require(principal: Principal, *roles: Role, what: str) -> None:
    if principal.role not in roles:
        allowed = ", ".join(r.value for r in roles)
        raise Forbidden(
            f"Role {principal.role.value} may not {what}; allowed roles: {allowed}",
            allowed_roles=[r.value for r in roles],
        )


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
    principal: Principal,
    *,
    certificate_id: int | None = None,
    level: Level | None = None,
    application_id: int | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    status: SessionStatus | None = None,
    today: date | None = None,
) -> Any:
    statement = (
        select(ExamSession, Certificate.name, EvaluationOrg.name, _live_count())
        .join(Certificate, col(Certificate.id) == ExamSession.certificate_id)
        .join(EvaluationOrg, col(EvaluationOrg.id) == ExamSession.evaluation_org_id)
    )
    if principal.role == Role.evaluation_org:
        statement = statement.where(
            ExamSession.evaluation_org_id == (principal.evaluation_org_id or -1)
        )
    if certificate_id is not None:
        statement = statement.where(ExamSession.certificate_id == certificate_id)
    if level is not None:
        statement = statement.where(ExamSession.level == level)
    if application_id is not None:
        statement = statement.where(ExamSession.application_id == application_id)
    if date_from is not None:
        statement = statement.where(col(ExamSession.exam_date) >= date_from)
    if date_to is not None:
        statement = statement.where(col(ExamSession.exam_date) <= date_to)
    if status is not None and today is not None:
        statement = statement.where(_status_filter(status, today))
    return statement


SESSION_ORDER = [col(ExamSession.exam_date).desc(), col(ExamSession.id)]


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


def list_sessions(
    session: Session, principal: Principal, page: PageParams, today: date, **filters: Any
) -> Page[ExamSessionPublic]:
    statement = session_statement(principal, today=today, **filters)
    return paginate(session, statement, page, SESSION_ORDER, lambda r: _session_public(r, today))


def export_sessions(
    session: Session, principal: Principal, today: date, **filters: Any
) -> list[ExamSessionPublic]:
    statement = session_statement(principal, today=today, **filters)
    rows = fetch_for_export(session, statement, SESSION_ORDER)
    return [_session_public(r, today) for r in rows]


def get_session(
    session: Session, principal: Principal, session_id: int, today: date
) -> ExamSessionPublic:
    row = session.exec(session_statement(principal).where(ExamSession.id == session_id)).first()
    if row is None:
        raise NotFound(f"No exam session with id {session_id}")
    return _session_public(row, today)


def create_session(session: Session, principal: Principal, data: ExamSessionCreate) -> ExamSession:
    """A session for an approved pilot; its certificate, level and organisation come from it."""
    _require(principal, Role.academic_office, what="create exam sessions")
    application = session.get(PilotApplication, data.application_id)
    if application is None:
        raise UnprocessableEntity(
            f"No pilot application with id {data.application_id}",
            errors=[{"field": "body.application_id", "message": "no such application"}],
        )
    if application.status != ApplicationStatus.approved:
        raise InvalidState(
            f"Exam sessions are made for approved pilots; application {application.id} is "
            f"{application.status.value}",
            current_state=application.status.value,
            allowed_actions=[],
        )
    certificate = session.get(Certificate, application.certificate_id)
    assert certificate is not None
    exam = ExamSession(
        **data.model_dump(),
        certificate_id=application.certificate_id,
        level=application.level,
        evaluation_org_id=certificate.evaluation_org_id,
    )
    session.add(exam)
    session.flush()
    record(
        session,
        principal,
        action="create",
        entity=SESSION_ENTITY,
        entity_id=exam.id,
        after=snapshot(exam),
    )
    session.commit()
    return exam


def _locked_session(session: Session, session_id: int) -> ExamSession:
    exam: ExamSession | None = session.exec(
        select(ExamSession).where(ExamSession.id == session_id).with_for_update()
    ).first()
    if exam is None:
        raise NotFound(f"No exam session with id {session_id}")
    return exam


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
    _require(principal, Role.academic_office, what="change exam sessions")
    exam = _locked_session(session, session_id)
    check_version(exam.version, if_match, "exam session")
    changes = data.model_dump(exclude_unset=True)
    merged = {**exam.model_dump(), **changes}
    if not merged["registration_opens"] <= merged["registration_closes"] <= merged["exam_date"]:
        raise UnprocessableEntity(
            "The registration window must open on or before it closes, and close on or before "
            f"the exam date; this would give {merged['registration_opens']} – "
            f"{merged['registration_closes']}, exam {merged['exam_date']}",
            errors=[{"field": "body", "message": "opens ≤ closes ≤ exam_date"}],
        )
    taken = live_in_session(session, session_id)
    if merged["capacity"] < taken:
        raise Conflict(
            f"Session {session_id} has {taken} live registrations; capacity cannot go below "
            f"that (asked for {merged['capacity']})",
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
    problems = []
    if application.status != ApplicationStatus.approved:
        problems.append(
            f"pilot application {application.id} is {application.status.value}, not approved"
        )
    majors = session.exec(
        select(Major.id, Major.name)
        .join(ApplicationMajor, col(ApplicationMajor.major_id) == Major.id)
        .where(ApplicationMajor.application_id == application.id)
        .order_by(col(Major.name))
    ).all()
    if student.major_id not in {m for m, _ in majors}:
        own = session.get(Major, student.major_id)
        problems.append(
            f"the student's major {own.name if own else student.major_id} is not among the "
            f"pilot's majors ({'、'.join(n for _, n in majors)})"
        )
    cohorts = sorted(
        session.exec(
            select(ApplicationCohort.cohort).where(
                ApplicationCohort.application_id == application.id
            )
        ).all()
    )
    if student.cohort not in cohorts:
        problems.append(
            f"the student's cohort {student.cohort}级 is not among the pilot's cohorts "
            f"({'、'.join(f'{c}级' for c in cohorts)})"
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


def window_problem(exam: ExamSession, today: date) -> str | None:
    if today < exam.registration_opens:
        return (
            f"registration for session {exam.id} opens on {exam.registration_opens}; "
            f"today is {today}"
        )
    if today > exam.registration_closes:
        return (
            f"registration for session {exam.id} closed at the end of "
            f"{exam.registration_closes}; today is {today}"
        )
    return None


def lock_session_and_application(
    session: Session, session_id: int
) -> tuple[ExamSession, PilotApplication]:
    """Lock the session's row, then its application's: every writer that counts seats or
    headcount takes them in this order, so concurrent registrations queue, never deadlock."""
    exam = _locked_session(session, session_id)
    application = session.exec(
        select(PilotApplication).where(PilotApplication.id == exam.application_id).with_for_update()
    ).one()
    return exam, application


REGISTRARS = (Role.academic_office, Role.college_manager, Role.student)


def _require_registrar_role(principal: Principal) -> None:
    if principal.role not in REGISTRARS:
        raise Forbidden(
            f"Role {principal.role.value} may not register or cancel; allowed roles: "
            "academic_office, college_manager (own college), student (themself)",
            allowed_roles=[r.value for r in REGISTRARS],
        )


def _require_registrar(principal: Principal, student: Student, college_id: int) -> None:
    _require_registrar_role(principal)
    if principal.role == Role.academic_office:
        return
    if principal.role == Role.student:
        if principal.student_id == student.id:
            return
        raise Forbidden(
            "A student registers only themself", code="out_of_scope", student_id=student.id
        )
    if principal.role == Role.college_manager:
        if principal.college_id == college_id:
            return
        raise Forbidden(
            f"A college manager registers only students of their own college (college id "
            f"{principal.college_id}); student {student.student_no} is in college id "
            f"{college_id}",
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
                "student_id is required (only a student registering themself may leave it out)",
                errors=[{"field": "body.student_id", "message": "required"}],
            )
        student_id = principal.student_id
    _require_registrar_role(principal)
    exam, application = lock_session_and_application(session, session_id)
    student = session.get(Student, student_id)
    if student is None:
        raise UnprocessableEntity(
            f"No student with id {student_id}",
            errors=[{"field": "body.student_id", "message": "no such student"}],
        )
    _require_registrar(principal, student, _college_of(session, student))
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
    record(
        session,
        principal,
        action="register",
        entity=REGISTRATION_ENTITY,
        entity_id=registration.id,
        after=snapshot(registration),
    )
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
    problem = window_problem(exam, today)
    if problem:
        raise Conflict(
            f"Cannot register: {problem}",
            code="registration_closed",
            registration_opens=exam.registration_opens.isoformat(),
            registration_closes=exam.registration_closes.isoformat(),
        )
    problems = eligibility_problems(session, application, student)
    if problems:
        raise Conflict(
            f"Student {student.student_no} is not eligible for session {exam.id}: "
            + "; ".join(problems),
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
            f"Student {student.student_no} already has registration {existing} in session "
            f"{exam.id}",
            code="already_registered",
            existing_id=existing,
        )
    taken = live_in_session(session, exam.id or 0)
    if taken >= exam.capacity:
        raise Conflict(
            f"Session {exam.id} is full: all {exam.capacity} seats are taken",
            code="session_full",
            capacity=exam.capacity,
        )
    if not _has_live_in_application(session, application.id or 0, student.id or 0):
        counted = _registered_students(session, application.id or 0)
        if counted >= application.headcount:
            raise Conflict(
                f"Pilot application {application.id}'s headcount of {application.headcount} "
                "students is reached across its sessions",
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
    principal: Principal,
    *,
    session_id: int | None = None,
    student_id: int | None = None,
    application_id: int | None = None,
    college_id: int | None = None,
    status: RegistrationStatus | None = None,
) -> Any:
    statement = (
        select(ExamRegistration, ExamSession, Student, col(Major.college_id), ExamResult)  # type: ignore[call-overload]
        .join(ExamSession, col(ExamSession.id) == ExamRegistration.session_id)
        .join(Student, col(Student.id) == ExamRegistration.student_id)
        .join(Major, col(Major.id) == Student.major_id)
        .outerjoin(ExamResult, col(ExamResult.registration_id) == ExamRegistration.id)
    )
    role = principal.role
    if role == Role.college_manager:
        statement = statement.where(Major.college_id == (principal.college_id or -1))
    elif role == Role.student:
        statement = statement.where(ExamRegistration.student_id == (principal.student_id or -1))
    elif role == Role.evaluation_org:
        statement = statement.where(
            ExamSession.evaluation_org_id == (principal.evaluation_org_id or -1)
        )
    elif role not in READ_ALL:
        raise Forbidden(
            f"Role {role.value} may not read exam registrations",
            allowed_roles=sorted(
                r.value
                for r in READ_ALL | {Role.college_manager, Role.student, Role.evaluation_org}
            ),
        )
    if session_id is not None:
        statement = statement.where(ExamRegistration.session_id == session_id)
    if student_id is not None:
        statement = statement.where(ExamRegistration.student_id == student_id)
    if application_id is not None:
        statement = statement.where(ExamRegistration.application_id == application_id)
    if college_id is not None:
        statement = statement.where(Major.college_id == college_id)
    if status is not None:
        statement = statement.where(ExamRegistration.status == status)
    return statement


REGISTRATION_ORDER = [col(ExamRegistration.session_id), col(ExamRegistration.id)]


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


def list_registrations(
    session: Session, principal: Principal, page: PageParams, **filters: Any
) -> Page[RegistrationPublic]:
    statement = registration_statement(principal, **filters)
    return paginate(session, statement, page, REGISTRATION_ORDER, registration_public)


def export_registrations(
    session: Session, principal: Principal, **filters: Any
) -> list[RegistrationPublic]:
    rows = fetch_for_export(
        session, registration_statement(principal, **filters), REGISTRATION_ORDER
    )
    return [registration_public(r) for r in rows]


def get_registration(
    session: Session, principal: Principal, registration_id: int
) -> RegistrationPublic:
    row = session.exec(
        registration_statement(principal).where(ExamRegistration.id == registration_id)
    ).first()
    if row is None:
        raise NotFound(f"No exam registration with id {registration_id}")
    return registration_public(row)


def _visible_registration(
    session: Session, principal: Principal, registration_id: int
) -> tuple[ExamRegistration, ExamSession, Student, int]:
    row = session.exec(
        registration_statement(principal).where(ExamRegistration.id == registration_id)
    ).first()
    if row is None:
        raise NotFound(f"No exam registration with id {registration_id}")
    registration, exam, student, college_id, _result = row
    return registration, exam, student, college_id


def _refuse(registration: ExamRegistration, action: str, needs: str) -> None:
    allowed = registration_actions(registration.status)
    raise InvalidState(
        f"Cannot {action} registration {registration.id}: it is {registration.status.value}; "
        f"{action} needs {needs}. Allowed now: {', '.join(allowed) if allowed else 'none'}",
        current_state=registration.status.value,
        allowed_actions=allowed,
    )


def _require_org_or_office(principal: Principal, exam: ExamSession, what: str) -> None:
    if principal.role == Role.academic_office:
        return
    if principal.role == Role.evaluation_org:
        if principal.evaluation_org_id == exam.evaluation_org_id:
            return
        raise Forbidden(
            f"Session {exam.id} belongs to evaluation organisation {exam.evaluation_org_id}; "
            f"organisation {principal.evaluation_org_id} may not {what}",
            code="out_of_scope",
        )
    raise Forbidden(
        f"Role {principal.role.value} may not {what}; allowed roles: academic_office, "
        "evaluation_org (its own sessions)",
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
    registration = session.exec(
        select(ExamRegistration).where(ExamRegistration.id == registration_id).with_for_update()
    ).one()
    if registration.status != RegistrationStatus.registered:
        _refuse(registration, "cancel", "registered")
    problem = window_problem(exam, today)
    if problem:
        raise InvalidState(
            f"Cannot cancel registration {registration_id}: {problem}; a registration is "
            "cancelled only while the window is open",
            current_state=registration.status.value,
            allowed_actions=[a for a in registration_actions(registration.status) if a != "cancel"],
        )
    return _move(session, principal, registration, RegistrationStatus.cancelled, "cancel")


def exam_held_problem(exam: ExamSession, today: date) -> str | None:
    if today < exam.exam_date:
        return (
            f"session {exam.id}'s exam is on {exam.exam_date} (today is {today}); absences and "
            "results are recorded from the exam date on"
        )
    return None


def _require_exam_held(registration: ExamRegistration, exam: ExamSession, today: date) -> None:
    problem = exam_held_problem(exam, today)
    if problem:
        raise InvalidState(
            f"Registration {registration.id}: {problem}",
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
    _require_org_or_office(principal, exam, "mark candidates absent")
    _require_exam_held(registration, exam, today)
    registration = session.exec(
        select(ExamRegistration).where(ExamRegistration.id == registration_id).with_for_update()
    ).one()
    if registration.status != RegistrationStatus.registered:
        _refuse(registration, "absent", "registered")
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
    record(
        session,
        principal,
        action=action,
        entity=REGISTRATION_ENTITY,
        entity_id=registration.id,
        before=before,
        after=snapshot(registration),
    )
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


def standing_subsidies(session: Session, result_ids: list[int]) -> dict[int, str]:
    """result id → the voucher of its pass subsidy that stands (paid and not reversed)."""
    if not result_ids:
        return {}
    return dict(
        session.execute(
            sa.select(Expenditure.exam_result_id, Expenditure.voucher_no).where(  # type: ignore[call-overload]
                col(Expenditure.exam_result_id).in_(sorted(result_ids)), not_reversed()
            )
        ).all()
    )


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
    voucher = standing_subsidies(session, [result_id]).get(result_id)
    if voucher is not None:
        raise Conflict(
            f"Registration {registration_id}'s pass has the standing subsidy payment {voucher}; "
            "reverse the payment (红冲, POST /api/v1/expenditures/{id}/reverse) before changing "
            "the result to not passed",
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
    _require_org_or_office(principal, exam, "record results")
    _require_exam_held(registration, exam, today)
    share_sessions(session, [exam.id or 0])
    registration = session.exec(
        select(ExamRegistration).where(ExamRegistration.id == registration_id).with_for_update()
    ).one()
    if registration.status not in RESULT_STATES:
        _refuse(registration, "record a result for", "registered or sat")
    result = session.exec(
        select(ExamResult).where(ExamResult.registration_id == registration_id)
    ).first()
    if result is not None and result.passed and not data.passed:
        number = valid_certificate_number(session, result.id or 0)
        if number is not None:
            raise Conflict(
                f"Registration {registration_id}'s result has the valid certificate {number}; "
                "revoke it before changing the result to not passed",
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
        record(
            session,
            principal,
            action="update" if before else "create",
            entity=RESULT_ENTITY,
            entity_id=result.id,
            before=before,
            after=snapshot(result),
        )
    session.commit()
    return result


# --- issued certificates -------------------------------------------------------------------------


def certificate_statement(
    principal: Principal,
    *,
    student_id: int | None = None,
    session_id: int | None = None,
    certificate_id: int | None = None,
    status: CertificateStatus | None = None,
    number: str | None = None,
) -> Any:
    statement = (
        select(  # type: ignore[call-overload]
            IssuedCertificate, Student, ExamSession, col(Certificate.name), col(EvaluationOrg.name)
        )
        .join(Student, col(Student.id) == IssuedCertificate.student_id)
        .join(ExamSession, col(ExamSession.id) == IssuedCertificate.session_id)
        .join(Certificate, col(Certificate.id) == ExamSession.certificate_id)
        .join(EvaluationOrg, col(EvaluationOrg.id) == ExamSession.evaluation_org_id)
    )
    role = principal.role
    if role == Role.student:
        statement = statement.where(IssuedCertificate.student_id == (principal.student_id or -1))
    elif role == Role.evaluation_org:
        statement = statement.where(
            ExamSession.evaluation_org_id == (principal.evaluation_org_id or -1)
        )
    elif role == Role.college_manager:
        statement = statement.join(Major, col(Major.id) == Student.major_id).where(
            Major.college_id == (principal.college_id or -1)
        )
    elif role not in READ_ALL:
        raise Forbidden(f"Role {role.value} may not read issued certificates")
    if student_id is not None:
        statement = statement.where(IssuedCertificate.student_id == student_id)
    if session_id is not None:
        statement = statement.where(IssuedCertificate.session_id == session_id)
    if certificate_id is not None:
        statement = statement.where(ExamSession.certificate_id == certificate_id)
    if status is not None:
        statement = statement.where(IssuedCertificate.status == status)
    if number is not None:
        statement = statement.where(IssuedCertificate.number == number)
    return statement


CERTIFICATE_ORDER = [col(IssuedCertificate.issue_date).desc(), col(IssuedCertificate.id)]


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


CERTIFICATES = Listing("issued certificate", CERTIFICATE_ORDER, certificate_public)


def list_certificates(
    session: Session, principal: Principal, page: PageParams, **filters: Any
) -> Page[IssuedCertificatePublic]:
    return CERTIFICATES.page(session, certificate_statement(principal, **filters), page)


def export_certificates(
    session: Session, principal: Principal, **filters: Any
) -> list[IssuedCertificatePublic]:
    return CERTIFICATES.export(session, certificate_statement(principal, **filters))


def get_certificate(
    session: Session, principal: Principal, certificate_id: int
) -> IssuedCertificatePublic:
    statement = certificate_statement(principal).where(IssuedCertificate.id == certificate_id)
    return CERTIFICATES.one(session, statement, certificate_id)


def revoke(
    session: Session, principal: Principal, certificate_id: int, reason: str, today: date
) -> IssuedCertificate:
    """valid → revoked with a reason, by the office or the issuing organisation; the credit
    bank reverses the credits converted from it in the same transaction."""
    row = session.exec(
        certificate_statement(principal).where(IssuedCertificate.id == certificate_id)
    ).first()
    if row is None:
        raise NotFound(f"No issued certificate with id {certificate_id}")
    _issued, _student, exam, _name, _org = row
    _require_org_or_office(principal, exam, "revoke certificates")
    issued = session.exec(
        select(IssuedCertificate).where(IssuedCertificate.id == certificate_id).with_for_update()
    ).one()
    if issued.status != CertificateStatus.valid:
        raise InvalidState(
            f"Certificate {issued.number} is already revoked ({issued.revoke_reason})",
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


def count_public_lookup(session: Session, client: str) -> None:
    """Count this look-up against ``client``'s 60 a minute, in the database (so the limit
    holds across workers); 429 with ``Retry-After`` past it."""
    client = client[:64]
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            sa.text("SELECT pg_advisory_xact_lock(:k, hashtext(:c))"),
            {"k": PUBLIC_LOCK_KEY, "c": client},
        )
    now = utcnow()
    session.add(PublicLookup(client=client, created_at=now, updated_at=now))
    session.flush()
    since = now - PUBLIC_LOOKUP_WINDOW
    recent = session.exec(
        select(PublicLookup.created_at)
        .where(PublicLookup.client == client, col(PublicLookup.created_at) > since)
        .order_by(col(PublicLookup.created_at))
    ).all()
    if len(recent) > PUBLIC_LOOKUPS_PER_MINUTE:
        session.rollback()
        oldest = recent[len(recent) - PUBLIC_LOOKUPS_PER_MINUTE - 1]
        retry_after = max(1, int((oldest + PUBLIC_LOOKUP_WINDOW - now).total_seconds()) + 1)
        raise TooManyRequests(
            f"More than {PUBLIC_LOOKUPS_PER_MINUTE} look-ups a minute from this client; try "
            f"again in {retry_after} seconds",
            headers={"Retry-After": str(retry_after)},
            retry_after=retry_after,
        )
    # Forget every client's look-ups older than the window (not only this client's, or the rows
    # of one-off clients would stay for ever), a bounded number at a time; on PostgreSQL rows
    # another look-up is deleting right now are skipped rather than waited for.
    expired = (
        select(PublicLookup.id)
        .where(col(PublicLookup.created_at) <= since)
        .limit(PUBLIC_LOOKUP_PRUNE_BATCH)
        .with_for_update(skip_locked=True)
    )
    session.execute(
        sa.delete(PublicLookup).where(col(PublicLookup.id).in_(expired.scalar_subquery()))
    )
    session.commit()


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
        raise NotFound("No certificate with this number")
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


# --- the funnel --------------------------------------------------------------------------------

FUNNEL_READERS = frozenset({Role.admin, Role.academic_office, Role.auditor})
DECIDED = (ApplicationStatus.approved, ApplicationStatus.closed)


@dataclass
class _Tally:
    label: str
    applications: set[int] = field(default_factory=set)
    trained: set[tuple[int, int]] = field(default_factory=set)
    registered: set[tuple[int, int]] = field(default_factory=set)
    sat: set[tuple[int, int]] = field(default_factory=set)
    passed: set[tuple[int, int]] = field(default_factory=set)
    certified: set[tuple[int, int]] = field(default_factory=set)

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


def funnel(
    session: Session, principal: Principal, *, year: int | None, group_by: FunnelGroupBy
) -> FunnelReport:
    """Declared headcount → trained → registered → sat → passed → certified per group and
    overall, in candidates (a student in a pilot), for approved and closed pilots."""
    scope = principal.college_id if principal.role == Role.college_manager else None
    if principal.role not in FUNNEL_READERS and scope is None:
        raise Forbidden(
            f"Role {principal.role.value} may not read the funnel; allowed roles: "
            + ", ".join(sorted(r.value for r in FUNNEL_READERS))
            + ", college_manager (own college)",
            allowed_roles=sorted(r.value for r in FUNNEL_READERS),
        )
    applications = select(  # type: ignore[call-overload]
        PilotApplication.id,
        PilotApplication.year,
        PilotApplication.level,
        PilotApplication.tier,
        PilotApplication.headcount,
        Certificate.id,
        Certificate.name,
    ).join(Certificate, col(Certificate.id) == PilotApplication.certificate_id)
    applications = applications.where(col(PilotApplication.status).in_(DECIDED))
    if year is not None:
        applications = applications.where(PilotApplication.year == year)
    if scope is not None:
        applications = applications.where(
            col(PilotApplication.id).in_(
                select(ApplicationMajor.application_id)
                .join(Major, col(Major.id) == ApplicationMajor.major_id)
                .where(Major.college_id == scope)
            )
        )
    pilots = {row[0]: row for row in session.exec(applications).all()}
    ids = list(pilots)
    headcount_of = {a: row[4] for a, row in pilots.items()}
    majors: dict[int, list[tuple[int, str, int, str]]] = defaultdict(list)
    cohorts: dict[int, list[int]] = defaultdict(list)
    candidates: list[Any] = []
    trainees: list[Any] = []
    if ids:
        for app_id, major_id, major_name, college_id, college_name in session.exec(
            select(  # type: ignore[call-overload]
                ApplicationMajor.application_id, Major.id, Major.name, College.id, College.name
            )
            .join(Major, col(Major.id) == ApplicationMajor.major_id)
            .join(College, col(College.id) == Major.college_id)
            .where(col(ApplicationMajor.application_id).in_(ids))
        ).all():
            majors[app_id].append((major_id, major_name, college_id, college_name))
        for app_id, cohort in session.exec(
            select(ApplicationCohort.application_id, ApplicationCohort.cohort).where(
                col(ApplicationCohort.application_id).in_(ids)
            )
        ).all():
            cohorts[app_id].append(cohort)
        certified = (
            select(IssuedCertificate.id)
            .where(
                col(IssuedCertificate.result_id) == col(ExamResult.id),
                IssuedCertificate.status == CertificateStatus.valid,
            )
            .exists()
        )
        candidates = list(
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
                    (Major.college_id == scope) if scope is not None else sa.true(),
                )
            ).all()
        )
        trainees = list(
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
                .where(
                    col(TrainingBatch.application_id).in_(ids),
                    (Major.college_id == scope) if scope is not None else sa.true(),
                )
                .distinct()
            ).all()
        )
    names: dict[str, str] = {}
    for app_id, pilot in pilots.items():
        names[f"application:{app_id}"] = (
            f"{pilot[6]} {pilot[2].value} ({pilot[3].value} {pilot[1]})"
        )
        names[f"certificate:{pilot[5]}"] = pilot[6]
        for major_id, major_name, college_id, college_name in majors[app_id]:
            names[f"major:{major_id}"] = major_name
            names[f"college:{college_id}"] = college_name
        for cohort in cohorts[app_id]:
            names[f"cohort:{cohort}"] = f"{cohort}级"

    def pilot_groups(app_id: int) -> set[str]:
        if group_by == FunnelGroupBy.application:
            return {f"application:{app_id}"}
        if group_by == FunnelGroupBy.certificate:
            return {f"certificate:{pilots[app_id][5]}"}
        if group_by == FunnelGroupBy.major:
            return {f"major:{m[0]}" for m in majors[app_id]}
        if group_by == FunnelGroupBy.college:
            return {f"college:{m[2]}" for m in majors[app_id]}
        return {f"cohort:{c}" for c in cohorts[app_id]}

    tallies: dict[str, _Tally] = {}
    total = _Tally(label="合计")

    def tally(key: str) -> _Tally:
        if key not in tallies:
            tallies[key] = _Tally(label=names.get(key, key.split(":", 1)[1]))
        return tallies[key]

    for app_id in pilots:
        total.applications.add(app_id)
        for key in pilot_groups(app_id):
            tally(key).applications.add(app_id)

    def candidate_group(app_id: int, major_id: int, cohort: int, college_id: int) -> str:
        own = {
            FunnelGroupBy.major: f"major:{major_id}",
            FunnelGroupBy.college: f"college:{college_id}",
            FunnelGroupBy.cohort: f"cohort:{cohort}",
        }
        return own.get(group_by) or next(iter(pilot_groups(app_id)))

    for app_id, student_id, major_id, cohort, college_id in trainees:
        for target in (tally(candidate_group(app_id, major_id, cohort, college_id)), total):
            target.trained.add((app_id, student_id))
    for (
        app_id,
        student_id,
        status,
        passed,
        has_certificate,
        major_id,
        cohort,
        college_id,
    ) in candidates:
        key = candidate_group(app_id, major_id, cohort, college_id)
        candidate = (app_id, student_id)
        for target in (tally(key), total):
            target.registered.add(candidate)
            if status == RegistrationStatus.sat:
                target.sat.add(candidate)
            if passed:
                target.passed.add(candidate)
            if has_certificate:
                target.certified.add(candidate)
    rows = [tally.row(key.split(":", 1)[1], headcount_of) for key, tally in tallies.items()]
    rows.sort(key=lambda r: (r.label, r.key))
    return FunnelReport(
        year=year, group_by=group_by, rows=rows, total=total.row("total", headcount_of)
    )
