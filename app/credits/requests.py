"""Conversion requests: who may ask for a conversion and why one is refused, filing, the review
(approve / reject / withdraw, one by one or in bulk) and the options a student may still claim.
Every change is audited and committed here."""

from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.audit.labels import action_label, action_labels
from app.core.audit import record, record_row, save_new, snapshot
from app.core.auth import check_role
from app.core.errors import (
    AppError,
    Conflict,
    Forbidden,
    InvalidState,
    NotFound,
    UnprocessableEntity,
)
from app.core.export import ExportColumn
from app.core.i18n import N_, _
from app.core.labels import label
from app.core.listing import Listing, each, where_equal
from app.core.roles import Principal, Role
from app.core.types import utcnow
from app.credits.access import scoped, visible_student
from app.credits.checks import period_text
from app.credits.models import (
    CREDIT_ENTITY,
    REQUEST_ENTITY,
    BulkApproveResult,
    BulkOutcome,
    ConversionMode,
    ConversionOption,
    ConversionOptions,
    ConversionRequest,
    ConversionRule,
    ConversionRuleMajor,
    CreditKind,
    CreditRecord,
    OptionChoice,
    RequestCreate,
    RequestFilters,
    RequestPublic,
    RequestStatus,
)
from app.credits.rules import in_force, rule_major_ids
from app.exams.models import CertificateStatus, ExamSession, IssuedCertificate
from app.reference.models import Certificate, Course, Major, Student

# --- eligibility -----------------------------------------------------------------------------


def _refusal(detail: str, code: str, rule: ConversionRule, **extra: Any) -> Conflict:
    return Conflict(detail, code=code, rule_id=rule.id, **extra)


def check_conversion(
    session: Session,
    student: Student,
    issued: IssuedCertificate,
    rule: ConversionRule,
    exclude_request: int | None = None,
) -> None:
    """Every rule for a conversion; the 409 names the rule broken (``code``, ``rule_id``)."""
    _check_certificate(student, issued, rule)
    exam = session.get(ExamSession, issued.session_id)
    assert exam is not None
    _check_certificate_fits(session, issued, exam, rule)
    _check_major(session, student, rule)
    if not in_force(rule, issued.issue_date):
        raise _refusal(
            _(
                "Conversion rule {id} is in force {period}; "
                "issued certificate {number} was issued on {issue_date}, outside it",
                id=rule.id,
                period=period_text(rule.effective_from, rule.effective_to),
                number=issued.number,
                issue_date=issued.issue_date,
            ),
            "rule_not_in_force",
            rule,
            effective_from=rule.effective_from.isoformat() if rule.effective_from else None,
            effective_to=rule.effective_to.isoformat() if rule.effective_to else None,
            issue_date=issued.issue_date.isoformat(),
        )
    _check_course_unclaimed(session, student, rule, exclude_request)


def _check_certificate(student: Student, issued: IssuedCertificate, rule: ConversionRule) -> None:
    """The certificate is the student's own and valid."""
    if issued.student_id != student.id:
        raise _refusal(
            _(
                "Issued certificate {number} is not student {student_no}'s own; a "
                "conversion uses the student's own certificate",
                number=issued.number,
                student_no=student.student_no,
            ),
            "certificate_not_own",
            rule,
            issued_certificate_id=issued.id,
        )
    if issued.status != CertificateStatus.valid:
        raise _refusal(
            _(
                "Issued certificate {number} is revoked ({revoke_reason}); only a valid "
                "certificate converts to credits",
                number=issued.number,
                revoke_reason=issued.revoke_reason,
            ),
            "certificate_revoked",
            rule,
            issued_certificate_id=issued.id,
        )


def _check_certificate_fits(
    session: Session, issued: IssuedCertificate, exam: ExamSession, rule: ConversionRule
) -> None:
    """The certificate is the rule's, at the rule's level or above."""
    if exam.certificate_id != rule.certificate_id:
        held = session.get(Certificate, exam.certificate_id)
        wanted = session.get(Certificate, rule.certificate_id)
        raise _refusal(
            _(
                "Conversion rule {id} is for the certificate "
                "{wanted}; issued certificate {number} is "
                "{held}",
                id=rule.id,
                wanted=wanted.name if wanted else rule.certificate_id,
                number=issued.number,
                held=held.name if held else exam.certificate_id,
            ),
            "certificate_mismatch",
            rule,
            issued_certificate_id=issued.id,
        )
    if not exam.level.at_or_above(rule.min_level):
        raise _refusal(
            _(
                "Conversion rule {id} needs the certificate at {min_level} or above; "
                "issued certificate {number} is {level}",
                id=rule.id,
                min_level=label(rule.min_level),
                number=issued.number,
                level=label(exam.level),
            ),
            "level_below_rule",
            rule,
            min_level=rule.min_level.value,
            level=exam.level.value,
        )


def _check_major(session: Session, student: Student, rule: ConversionRule) -> None:
    """The rule covers the student's major."""
    majors = rule_major_ids(session, rule.id or 0)
    if student.major_id not in majors:
        own = session.get(Major, student.major_id)
        names = session.exec(
            select(Major.name).where(col(Major.id).in_(majors)).order_by(col(Major.code))
        ).all()
        raise _refusal(
            _(
                "Conversion rule {id} applies to {names}; student {student_no}'s major "
                "{major} is not one of them",
                id=rule.id,
                names="、".join(names),
                student_no=student.student_no,
                major=own.name if own else student.major_id,
            ),
            "major_not_covered",
            rule,
            major_ids=majors,
        )


def _check_course_unclaimed(
    session: Session, student: Student, rule: ConversionRule, exclude_request: int | None
) -> None:
    """No other submitted or approved conversion of the student for the rule's course."""
    statement = select(ConversionRequest).where(
        ConversionRequest.student_id == student.id,
        ConversionRequest.course_id == rule.course_id,
        col(ConversionRequest.live).is_(True),
    )
    if exclude_request is not None:
        statement = statement.where(ConversionRequest.id != exclude_request)
    existing = session.exec(statement).first()
    if existing is not None:
        course = session.get(Course, rule.course_id)
        raise _refusal(
            _(
                "Student {student_no} already has an {status} conversion (request {id}) "
                "for the course {course}; one per course",
                student_no=student.student_no,
                status=label(existing.status),
                id=existing.id,
                course=course.code + " " + course.name if course else rule.course_id,
            ),
            "course_already_claimed",
            rule,
            existing_id=existing.id,
        )


# --- the list --------------------------------------------------------------------------------


def request_actions(status: RequestStatus) -> list[str]:
    if status == RequestStatus.submitted:
        return ["approve", "reject", "withdraw"]
    return []


def with_request_parents(statement: Any) -> Any:
    """``statement`` (over conversion requests) joined to each request's student and major, its
    certificate (the issued one, its session and its certificate), its rule and its course."""
    return (
        statement.join(Student, col(Student.id) == ConversionRequest.student_id)
        .join(Major, col(Major.id) == Student.major_id)
        .join(
            IssuedCertificate, col(IssuedCertificate.id) == ConversionRequest.issued_certificate_id
        )
        .join(ExamSession, col(ExamSession.id) == IssuedCertificate.session_id)
        .join(Certificate, col(Certificate.id) == ExamSession.certificate_id)
        .join(ConversionRule, col(ConversionRule.id) == ConversionRequest.rule_id)
        .join(Course, col(Course.id) == ConversionRequest.course_id)
    )


def request_statement(session: Session, principal: Principal, filters: RequestFilters) -> Any:
    """Requests with their student, certificate, rule and course, scoped to what ``principal``
    reads (the office, auditors, admins all; a college manager their college; a student their
    own)."""
    statement = with_request_parents(
        select(  # type: ignore[call-overload]
            ConversionRequest,
            Student,
            col(Major.college_id),
            IssuedCertificate,
            ExamSession,
            col(Certificate.name),
            ConversionRule,
            col(Course.code),
            col(Course.name),
        )
    )
    statement = scoped(
        statement, principal, ConversionRequest.student_id, N_("conversion requests")
    )
    statement = where_equal(
        statement,
        filters,
        student_id=ConversionRequest.student_id,
        status=ConversionRequest.status,
        course_id=ConversionRequest.course_id,
        certificate_id=ExamSession.certificate_id,
        rule_id=ConversionRequest.rule_id,
        college_id=Major.college_id,
    )
    return statement


def request_public(row: Any) -> RequestPublic:
    request, student, college_id, issued, exam, certificate_name, rule, code, name = row
    return RequestPublic.model_validate(
        {
            **request.model_dump(),
            "student_no": student.student_no,
            "student_name": student.name,
            "major_id": student.major_id,
            "college_id": college_id,
            "certificate_number": issued.number,
            "certificate_id": exam.certificate_id,
            "certificate_name": certificate_name,
            "level": exam.level,
            "course_code": code,
            "course_name": name,
            "credits": rule.credits,
            "mode": rule.mode,
            "allowed_actions": request_actions(request.status),
        }
    )


REQUESTS = Listing(
    noun=N_("conversion request"),
    statement=request_statement,
    order=[col(ConversionRequest.created_at).desc(), col(ConversionRequest.id).desc()],
    to_items=each(request_public),
    filters=RequestFilters,
    key=ConversionRequest.id,
    columns=[
        ExportColumn("id", N_("Request ID")),
        ExportColumn("student_no", N_("Student number")),
        ExportColumn("student_name", N_("Full name")),
        ExportColumn("certificate_name", N_("Certificate name")),
        ExportColumn("level", N_("Level")),
        ExportColumn("certificate_number", N_("Certificate number")),
        ExportColumn("course_code", N_("Course code")),
        ExportColumn("course_name", N_("Course name")),
        ExportColumn("credits", N_("Credits")),
        ExportColumn("mode", N_("Conversion mode")),
        ExportColumn("status", N_("Status")),
        ExportColumn("reason", N_("Rejection reason")),
        ExportColumn("created_at", N_("Requested at")),
        ExportColumn("decided_on", N_("Decided on")),
    ],
    filename="conversion-requests",
    sheet=N_("Credit conversion requests"),
)


# --- locks -----------------------------------------------------------------------------------


def _locked_student(session: Session, student_id: int, field: str = "body.student_id") -> Student:
    """The student's row, locked so that one student's requests are checked one after the
    other. ``FOR NO KEY UPDATE`` on PostgreSQL: rows that only reference the student (a
    revocation's reversal lines) are not held up, so a revocation waiting for the
    certificate's row never deadlocks with it."""
    student = session.exec(
        select(Student).where(Student.id == student_id).with_for_update(key_share=True)
    ).first()
    if student is None:
        raise UnprocessableEntity(
            _("No student with id {student_id}", student_id=student_id),
            errors=[{"field": field, "message": _("no such student")}],
        )
    return student


def _shared_rule(session: Session, rule_id: int) -> ConversionRule | None:
    """The rule, share-locked so that a concurrent change of it (which takes the row
    exclusively and asks whether a request used it) waits for this transaction."""
    rule: ConversionRule | None = session.exec(
        select(ConversionRule).where(ConversionRule.id == rule_id).with_for_update(read=True)
    ).first()
    return rule


def _shared_certificate(session: Session, issued_id: int) -> IssuedCertificate | None:
    """The issued certificate, share-locked: its revocation (which takes the row exclusively,
    then reverses its credits and rejects its waiting requests) waits for this transaction
    and then sees what it wrote."""
    issued: IssuedCertificate | None = session.exec(
        select(IssuedCertificate)
        .where(IssuedCertificate.id == issued_id)
        .with_for_update(read=True)
    ).first()
    return issued


def lock_request(session: Session, request_id: int) -> ConversionRequest:
    return session.exec(
        select(ConversionRequest).where(ConversionRequest.id == request_id).with_for_update()
    ).one()


# --- filing ----------------------------------------------------------------------------------


def _filed_for(principal: Principal, data: RequestCreate) -> int:
    """The student a request is filed for: a student files for themself only."""
    student_id = data.student_id
    if principal.role == Role.student:
        if student_id is not None and student_id != principal.student_id:
            raise Forbidden(
                _("A student files conversion requests only for themself"),
                code="out_of_scope",
                student_id=student_id,
            )
        student_id = principal.student_id
    if student_id is None:
        raise UnprocessableEntity(
            _("student_id is required (only a student asking for themself may leave it out)"),
            errors=[{"field": "body.student_id", "message": _("required")}],
        )
    return student_id


REQUESTERS = (Role.academic_office, Role.student)
"""Who files a conversion request: a student for themself, the academic office for anyone."""


def create_request(
    session: Session, principal: Principal, data: RequestCreate
) -> ConversionRequest:
    """A student for themself, or the academic office for a student. The student's row is
    locked first, so two requests of one student are checked one after the other."""
    check_role(principal, *REQUESTERS, what=N_("file conversion requests"))
    student_id = _filed_for(principal, data)
    student = _locked_student(session, student_id)
    issued = _shared_certificate(session, data.issued_certificate_id)
    rule = _shared_rule(session, data.rule_id)
    errors = []
    if issued is None or (principal.role == Role.student and issued.student_id != student_id):
        # A certificate the student may not read is answered as one that does not exist.
        errors.append({"field": "body.issued_certificate_id", "message": _("no such certificate")})
    if rule is None:
        errors.append({"field": "body.rule_id", "message": _("no such conversion rule")})
    if errors or issued is None or rule is None:
        raise UnprocessableEntity(
            _(
                "Unknown references: {problems}",
                problems="; ".join(f"{e['field']}: {e['message']}" for e in errors),
            ),
            errors=errors,
        )
    check_conversion(session, student, issued, rule)
    request = ConversionRequest(
        student_id=student_id,
        issued_certificate_id=data.issued_certificate_id,
        rule_id=data.rule_id,
        course_id=rule.course_id,
        status=RequestStatus.submitted,
        live=True,
        note=data.note or None,
    )
    save_new(session, principal, request, REQUEST_ENTITY)
    return request


# --- the review ------------------------------------------------------------------------------


def _visible_request(session: Session, principal: Principal, request_id: int) -> ConversionRequest:
    """The request, when ``principal`` reads it (404 otherwise)."""
    row = session.exec(
        request_statement(session, principal, RequestFilters()).where(
            ConversionRequest.id == request_id
        )
    ).first()
    if row is None:
        raise NotFound(_("No conversion request with id {request_id}", request_id=request_id))
    request: ConversionRequest = row[0]
    return request


def _refuse_action(request: ConversionRequest, action: str) -> None:
    allowed = request_actions(request.status)
    raise InvalidState(
        _(
            "Cannot {action} conversion request {id}: it is {status}; only a "
            "submitted request can be {action}d. Allowed now: {allowed}",
            action=action_label(action),
            id=request.id,
            status=label(request.status),
            allowed=action_labels(allowed) if allowed else _("none"),
        ),
        current_state=request.status.value,
        allowed_actions=allowed,
    )


def approve(
    session: Session, principal: Principal, request_id: int, today: date
) -> ConversionRequest:
    """submitted → approved, checked again, and the credit written in the same transaction.
    The student's row, then the certificate's (shared, so a revocation waits), then the
    request's are locked: racing approvals queue, and a revocation sees the credit."""
    check_role(principal, Role.academic_office, what=N_("approve conversion requests"))
    visible = _visible_request(session, principal, request_id)
    student = _locked_student(session, visible.student_id)
    issued = _shared_certificate(session, visible.issued_certificate_id)
    request = lock_request(session, request_id)
    if request.status != RequestStatus.submitted:
        _refuse_action(request, "approve")
    rule = _shared_rule(session, request.rule_id)
    assert issued is not None and rule is not None
    check_conversion(session, student, issued, rule, exclude_request=request_id)
    before = snapshot(request)
    request.status = RequestStatus.approved
    request.decided_at = utcnow()
    request.decided_on = today
    request.decided_by = principal.label[:100]
    session.flush()
    credit = _write_credit(session, principal, request, rule, today)
    record(
        session,
        principal,
        action="approve",
        entity=REQUEST_ENTITY,
        entity_id=request_id,
        before=before,
        after=snapshot(request),
    )
    record_row(session, principal, credit, CREDIT_ENTITY)
    session.commit()
    return request


def _write_credit(
    session: Session,
    principal: Principal,
    request: ConversionRequest,
    rule: ConversionRule,
    today: date,
) -> CreditRecord:
    """The ledger line an approval writes (flushed, not audited)."""
    assert request.id is not None
    credit = CreditRecord(
        student_id=request.student_id,
        course_id=request.course_id,
        request_id=request.id,
        issued_certificate_id=request.issued_certificate_id,
        rule_id=request.rule_id,
        kind=CreditKind.credit,
        credits=rule.credits,
        mode=rule.mode,
        recorded_on=today,
        recorded_by=principal.label[:100],
    )
    session.add(credit)
    session.flush()
    return credit


def close_request(
    session: Session,
    principal: Principal,
    request: ConversionRequest,
    target: RequestStatus,
    action: str,
    today: date,
    reason: str | None = None,
    commit: bool = True,
) -> ConversionRequest:
    """``request`` (locked by the caller) decided as ``target``, audited as ``action``;
    committed unless ``commit`` is false (the caller's transaction goes on)."""
    before = snapshot(request)
    request.status = target
    request.live = None
    request.decided_at = utcnow()
    request.decided_on = today
    request.decided_by = principal.label[:100]
    if reason is not None:
        request.reason = reason
    session.flush()
    record_row(session, principal, request, REQUEST_ENTITY, action=action, before=before)
    if commit:
        session.commit()
    return request


def reject(
    session: Session, principal: Principal, request_id: int, reason: str, today: date
) -> ConversionRequest:
    """submitted → rejected with a reason, by the academic office."""
    check_role(principal, Role.academic_office, what=N_("reject conversion requests"))
    _visible_request(session, principal, request_id)
    request = lock_request(session, request_id)
    if request.status != RequestStatus.submitted:
        _refuse_action(request, "reject")
    return close_request(
        session, principal, request, RequestStatus.rejected, "reject", today, reason
    )


def withdraw(
    session: Session, principal: Principal, request_id: int, today: date
) -> ConversionRequest:
    """submitted → withdrawn, by the student who asked."""
    check_role(principal, Role.student, what=N_("withdraw conversion requests"))
    _visible_request(session, principal, request_id)
    request = lock_request(session, request_id)
    if request.status != RequestStatus.submitted:
        _refuse_action(request, "withdraw")
    return close_request(session, principal, request, RequestStatus.withdrawn, "withdraw", today)


def _bulk_refusal(session: Session, request_id: int, exc: Exception) -> BulkOutcome:
    """Why ``request_id`` was not approved (its transaction rolled back)."""
    session.rollback()
    current = session.get(ConversionRequest, request_id)
    code = exc.code if isinstance(exc, AppError) else "conflict"
    detail = (
        exc.detail
        if isinstance(exc, AppError)
        else "a concurrent change got there first; reload and try again"
    )
    return BulkOutcome(
        id=request_id,
        approved=False,
        status=current.status if current is not None else None,
        code=code,
        detail=detail,
    )


def bulk_approve(
    session: Session, principal: Principal, ids: list[int], today: date
) -> BulkApproveResult:
    """Approve each request on its own (its own transaction); say for each why not."""
    check_role(principal, Role.academic_office, what=N_("approve conversion requests"))
    results: list[BulkOutcome] = []
    for request_id in ids:
        try:
            request = approve(session, principal, request_id, today)
        except (AppError, IntegrityError) as exc:
            results.append(_bulk_refusal(session, request_id, exc))
            continue
        results.append(
            BulkOutcome(id=request_id, approved=True, status=request.status, code=None, detail=None)
        )
    approved = sum(1 for r in results if r.approved)
    return BulkApproveResult(approved=approved, refused=len(results) - approved, results=results)


# --- the options a student may still claim ---------------------------------------------------


def _choice_rank(choice: OptionChoice) -> tuple[Any, ...]:
    """Best first: most credits, 替换 before 免修, higher level, earlier certificate, rule."""
    return (
        -choice.credits,
        choice.mode != ConversionMode.substitution,
        -choice.level.rank,
        choice.issue_date,
        choice.issued_certificate_id,
        choice.rule_id,
    )


def _claimed_courses(session: Session, student_id: int) -> set[int]:
    return set(
        session.exec(
            select(ConversionRequest.course_id).where(
                ConversionRequest.student_id == student_id,
                col(ConversionRequest.live).is_(True),
            )
        ).all()
    )


def _held_certificates(session: Session, student_id: int) -> Sequence[Any]:
    """(issued certificate, exam session, certificate name) of the student's valid ones."""
    return session.exec(
        select(IssuedCertificate, ExamSession, col(Certificate.name))
        .join(ExamSession, col(ExamSession.id) == IssuedCertificate.session_id)
        .join(Certificate, col(Certificate.id) == ExamSession.certificate_id)
        .where(
            IssuedCertificate.student_id == student_id,
            IssuedCertificate.status == CertificateStatus.valid,
        )
        .order_by(col(IssuedCertificate.issue_date), col(IssuedCertificate.id))
    ).all()


def _major_rules(session: Session, certificate_ids: list[int], major_id: int) -> Sequence[Any]:
    """(rule, course code, course name) of the certificates' rules covering the major."""
    return session.exec(
        select(ConversionRule, col(Course.code), col(Course.name))
        .join(Course, col(Course.id) == ConversionRule.course_id)
        .join(ConversionRuleMajor, col(ConversionRuleMajor.rule_id) == ConversionRule.id)
        .where(
            col(ConversionRule.certificate_id).in_(certificate_ids),
            ConversionRuleMajor.major_id == major_id,
        )
        .order_by(col(Course.code), col(ConversionRule.id))
    ).all()


def _qualifies(
    issued: IssuedCertificate, exam: ExamSession, rule: ConversionRule, claimed: set[int]
) -> bool:
    return (
        rule.certificate_id == exam.certificate_id
        and exam.level.at_or_above(rule.min_level)
        and in_force(rule, issued.issue_date)
        and rule.course_id not in claimed
    )


def _choice(
    issued: IssuedCertificate, exam: ExamSession, certificate_name: str, rule: ConversionRule
) -> OptionChoice:
    return OptionChoice(
        rule_id=rule.id or 0,
        issued_certificate_id=issued.id or 0,
        certificate_number=issued.number,
        certificate_name=certificate_name,
        level=exam.level,
        min_level=rule.min_level,
        issue_date=issued.issue_date,
        credits=rule.credits,
        mode=rule.mode,
    )


def conversion_options(
    session: Session, principal: Principal, student_id: int
) -> ConversionOptions:
    """Every rule the student's valid certificates qualify for, on a course not yet claimed."""
    student = visible_student(session, principal, student_id)
    claimed = _claimed_courses(session, student_id)
    held = _held_certificates(session, student_id)
    certificate_ids = sorted({exam.certificate_id for _issued, exam, _student in held})
    if not certificate_ids:
        return ConversionOptions(student_id=student_id, items=[])
    rules = _major_rules(session, certificate_ids, student.major_id)
    by_course: dict[int, list[OptionChoice]] = defaultdict(list)
    courses: dict[int, tuple[str, str]] = {}
    for issued, exam, certificate_name in held:
        for rule, code, name in rules:
            if _qualifies(issued, exam, rule, claimed):
                courses[rule.course_id] = (code, name)
                by_course[rule.course_id].append(_choice(issued, exam, certificate_name, rule))
    items = []
    for course_id, (code, name) in sorted(courses.items(), key=lambda c: (c[1][0], c[0])):
        best, *others = sorted(by_course[course_id], key=_choice_rank)
        items.append(
            ConversionOption(
                **best.model_dump(),
                course_id=course_id,
                course_code=code,
                course_name=name,
                alternatives=others,
            )
        )
    return ConversionOptions(student_id=student_id, items=items)
