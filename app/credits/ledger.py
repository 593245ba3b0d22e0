"""The append-only credit ledger: the list of credit records across students, one student's
ledger with its totals, and reversals (a negative line cancelling a credit; nothing is ever
deleted). Every change is audited; a reversal by hand is committed here."""

from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from app.core.audit import record_row, snapshot
from app.core.auth import check_role
from app.core.errors import InvalidState, NotFound
from app.core.export import ExportColumn
from app.core.i18n import N_, _
from app.core.listing import Listing, each
from app.core.roles import Principal, Role
from app.credits.access import scoped, visible_student
from app.credits.models import (
    CREDIT_ENTITY,
    REQUEST_ENTITY,
    ZERO,
    ConversionMode,
    CreditFilters,
    CreditKind,
    CreditLine,
    CreditRecord,
    CreditRecordPublic,
    CreditTotals,
    Ledger,
    RequestStatus,
)
from app.credits.requests import lock_request
from app.exams.models import ExamSession, IssuedCertificate
from app.reference.models import Certificate, Course, Major, Student

LEDGER_ORDER = [col(CreditRecord.recorded_on), col(CreditRecord.id)]
"""One student's ledger: oldest first."""

_reversal = sa.orm.aliased(CreditRecord)


def credit_statement(session: Session, principal: Principal, filters: CreditFilters) -> Any:
    """Ledger lines with their student, course and certificate, scoped to what ``principal``
    reads (the office, auditors, admins all; a college manager their college; a student
    their own)."""
    statement = (
        select(  # type: ignore[call-overload]
            CreditRecord,
            Student,
            col(Major.college_id),
            col(Course.code),
            col(Course.name),
            IssuedCertificate,
            col(Certificate.name),
            col(ExamSession.level),
            _reversal.id,
        )
        .join(Student, col(Student.id) == CreditRecord.student_id)
        .join(Major, col(Major.id) == Student.major_id)
        .join(Course, col(Course.id) == CreditRecord.course_id)
        .join(IssuedCertificate, col(IssuedCertificate.id) == CreditRecord.issued_certificate_id)
        .join(ExamSession, col(ExamSession.id) == IssuedCertificate.session_id)
        .join(Certificate, col(Certificate.id) == ExamSession.certificate_id)
        .outerjoin(_reversal, _reversal.reverses_id == CreditRecord.id)
    )
    statement = scoped(statement, principal, CreditRecord.student_id, N_("credit records"))
    return statement.where(*_credit_conditions(filters))


def _credit_conditions(filters: CreditFilters) -> list[Any]:
    """The WHERE terms of ``filters`` on the credit statement."""
    equal: list[tuple[Any, Any]] = [
        (CreditRecord.student_id, filters.student_id),
        (CreditRecord.course_id, filters.course_id),
        (CreditRecord.issued_certificate_id, filters.issued_certificate_id),
        (ExamSession.certificate_id, filters.certificate_id),
        (Major.college_id, filters.college_id),
        (CreditRecord.kind, filters.kind),
        (IssuedCertificate.status, filters.certificate_status),
    ]
    conditions: list[Any] = [column == value for column, value in equal if value is not None]
    if filters.reversed is not None:
        reversal_id = col(_reversal.id)
        conditions.append(CreditRecord.kind == CreditKind.credit)
        conditions.append(reversal_id.is_not(None) if filters.reversed else reversal_id.is_(None))
    if filters.recorded_from is not None:
        conditions.append(col(CreditRecord.recorded_on) >= filters.recorded_from)
    if filters.recorded_to is not None:
        conditions.append(col(CreditRecord.recorded_on) <= filters.recorded_to)
    return conditions


def credit_public(row: Any) -> CreditRecordPublic:
    credit, student, college_id, code, name, issued, certificate_name, level, reversal = row
    return CreditRecordPublic.model_validate(
        {
            **credit.model_dump(),
            "student_no": student.student_no,
            "student_name": student.name,
            "major_id": student.major_id,
            "college_id": college_id,
            "course_code": code,
            "course_name": name,
            "certificate_number": issued.number,
            "certificate_name": certificate_name,
            "certificate_status": issued.status,
            "level": level,
            "reversed_by_id": reversal,
        }
    )


CREDITS = Listing(
    noun=N_("credit record"),
    statement=credit_statement,
    order=[col(CreditRecord.recorded_on).desc(), col(CreditRecord.id).desc()],
    to_items=each(credit_public),
    filters=CreditFilters,
    key=CreditRecord.id,
    columns=[
        ExportColumn("id", N_("Record ID"), CreditRecord.id),
        ExportColumn("recorded_on", N_("Recorded on"), CreditRecord.recorded_on),
        ExportColumn("kind", N_("Type"), CreditRecord.kind),
        ExportColumn("student_no", N_("Student number"), Student.student_no),
        ExportColumn("student_name", N_("Full name"), Student.name),
        ExportColumn("course_code", N_("Course code"), Course.code),
        ExportColumn("course_name", N_("Course name"), Course.name),
        ExportColumn("credits", N_("Credits"), CreditRecord.credits),
        ExportColumn("mode", N_("Conversion mode"), CreditRecord.mode),
        ExportColumn("certificate_name", N_("Certificate name"), Certificate.name),
        ExportColumn("level", N_("Level"), ExamSession.level),
        ExportColumn("certificate_number", N_("Certificate number"), IssuedCertificate.number),
        ExportColumn("certificate_status", N_("Certificate status"), IssuedCertificate.status),
        ExportColumn("request_id", N_("Request ID"), CreditRecord.request_id),
        ExportColumn("reverses_id", N_("Reverses record ID"), CreditRecord.reverses_id),
        ExportColumn("reversed_by_id", N_("Reversed by record"), _reversal.id),
        ExportColumn("reason", N_("Reason"), CreditRecord.reason),
        ExportColumn("recorded_by", N_("Recorded by"), CreditRecord.recorded_by),
    ],
    filename="credit-records",
    sheet=N_("Credit records"),
    updated=[CreditRecord.updated_at],
)


def ledger(session: Session, principal: Principal, student_id: int) -> Ledger:
    """The student's ledger, oldest first, reversals included, and the net totals."""
    student = visible_student(session, principal, student_id)
    statement = credit_statement(session, principal, CreditFilters(student_id=student_id))
    rows = session.exec(statement.order_by(*LEDGER_ORDER)).all()
    items = [CreditLine.model_validate(credit_public(row).model_dump()) for row in rows]
    return Ledger(
        student_id=student_id,
        student_no=student.student_no,
        student_name=student.name,
        items=items,
        totals=_totals(items),
    )


def _totals(items: list[CreditLine]) -> CreditTotals:
    by_mode = {
        mode: sum((line.credits for line in items if line.mode == mode), ZERO)
        for mode in ConversionMode
    }
    courses = {
        line.course_id
        for line in items
        if line.kind == CreditKind.credit and line.reversed_by_id is None
    }
    return CreditTotals(
        credits=sum((line.credits for line in items), ZERO),
        exemption_credits=by_mode[ConversionMode.exemption],
        substitution_credits=by_mode[ConversionMode.substitution],
        courses=len(courses),
    )


# --- reversals -------------------------------------------------------------------------------


def write_reversal(
    session: Session,
    principal: Principal,
    credit: CreditRecord,
    reason: str,
    today: date,
) -> CreditRecord:
    """The negative line cancelling ``credit`` (locked by the caller); its request becomes
    ``reversed`` so the course can be claimed again. Audited, not committed."""
    request = lock_request(session, credit.request_id)
    reversal = CreditRecord(
        student_id=credit.student_id,
        course_id=credit.course_id,
        request_id=credit.request_id,
        issued_certificate_id=credit.issued_certificate_id,
        rule_id=credit.rule_id,
        kind=CreditKind.reversal,
        credits=-credit.credits,
        mode=credit.mode,
        recorded_on=today,
        reverses_id=credit.id,
        reason=reason,
        recorded_by=principal.label[:100],
    )
    session.add(reversal)
    before = snapshot(request)
    request.status = RequestStatus.reversed
    request.live = None
    session.flush()
    record_row(session, principal, reversal, CREDIT_ENTITY, action="reverse")
    record_row(session, principal, request, REQUEST_ENTITY, action="reverse", before=before)
    return reversal


def reversal_of(session: Session, record_id: int | None) -> int | None:
    """The id of the line reversing credit ``record_id``, if any."""
    existing: int | None = session.exec(
        select(CreditRecord.id).where(CreditRecord.reverses_id == record_id)
    ).first()
    return existing


def reverse_credit(
    session: Session, principal: Principal, record_id: int, reason: str, today: date
) -> CreditRecord:
    """Write the negative line that cancels a credit, once; the request becomes ``reversed``
    and the course can be claimed again."""
    check_role(principal, Role.academic_office, what=N_("reverse credits"))
    credit = session.exec(
        select(CreditRecord).where(CreditRecord.id == record_id).with_for_update()
    ).first()
    if credit is None:
        raise NotFound(_("No credit record with id {record_id}", record_id=record_id))
    if credit.kind != CreditKind.credit:
        raise InvalidState(
            _(
                "Credit record {record_id} is itself a reversal (of record "
                "{reverses_id}); only a credit is reversed",
                record_id=record_id,
                reverses_id=credit.reverses_id,
            ),
            current_state=credit.kind.value,
            allowed_actions=[],
        )
    existing = reversal_of(session, record_id)
    if existing is not None:
        raise InvalidState(
            _(
                "Credit record {record_id} was already reversed by record {existing}",
                record_id=record_id,
                existing=existing,
            ),
            code="already_reversed",
            current_state="reversed",
            allowed_actions=[],
            reversal_id=existing,
        )
    reversal = write_reversal(session, principal, credit, reason, today)
    session.commit()
    return reversal
