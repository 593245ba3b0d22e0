"""Credit-bank rules: conversion rules and their versions, who may ask for a conversion and
why one is refused, the review (approve / reject / withdraw), the append-only ledger with its
reversals, the options a student may still claim and the registry report. Every change is
audited and committed here."""

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from app.applications.models import PilotApplication
from app.core.audit import record, snapshot
from app.core.auth import check_role
from app.core.errors import (
    AppError,
    Conflict,
    Forbidden,
    InvalidState,
    NotFound,
    UnprocessableEntity,
)
from app.core.legacy import RowListing as Listing
from app.core.legacy import fetch_for_export
from app.core.locks import lock_first, lock_row
from app.core.pagination import Page, PageParams, paginate
from app.core.roles import READ_ALL, READ_ALL_OR_COLLEGE, Principal, Role
from app.core.types import utcnow
from app.core.versions import check_version
from app.credits.models import (
    BulkApproveResult,
    BulkOutcome,
    ConversionMode,
    ConversionOption,
    ConversionOptions,
    ConversionReport,
    ConversionReportRow,
    ConversionRequest,
    ConversionRule,
    ConversionRuleMajor,
    CourseCount,
    CreditKind,
    CreditLine,
    CreditRecord,
    CreditRecordPublic,
    CreditTotals,
    Ledger,
    MajorRef,
    OptionChoice,
    RequestCreate,
    RequestPublic,
    RequestStatus,
    RuleCount,
    RuleCreate,
    RulePublic,
    RuleUpdate,
)
from app.exams.models import CertificateStatus, ExamSession, IssuedCertificate
from app.reference.models import Certificate, Course, EvaluationOrg, Level, Major, Student

RULE_ENTITY = "conversion_rule"
REQUEST_ENTITY = "conversion_request"
CREDIT_ENTITY = "credit_record"
ZERO = Decimal("0.0")


def in_force(rule: ConversionRule, day: date) -> bool:
    """True when ``day`` lies in the rule's period (an empty bound is open)."""
    if rule.effective_from is not None and day < rule.effective_from:
        return False
    return rule.effective_to is None or day <= rule.effective_to


def _period_text(start: date | None, end: date | None) -> str:
    return f"{start or '…'} – {end or '…'}"


# --- rules -----------------------------------------------------------------------------------


def _used() -> Any:
    return (
        select(ConversionRequest.id)
        .where(col(ConversionRequest.rule_id) == col(ConversionRule.id))
        .exists()
    )


_successor = sa.orm.aliased(ConversionRule)


def rule_statement(
    *,
    certificate_id: int | None = None,
    course_id: int | None = None,
    major_id: int | None = None,
    on: date | None = None,
    mode: ConversionMode | None = None,
) -> Any:
    statement = (
        select(  # type: ignore[call-overload]
            ConversionRule,
            col(Certificate.name),
            col(Course.code),
            col(Course.name),
            _used(),
            _successor.id,
        )
        .join(Certificate, col(Certificate.id) == ConversionRule.certificate_id)
        .join(Course, col(Course.id) == ConversionRule.course_id)
        .outerjoin(_successor, _successor.replaces_id == ConversionRule.id)
    )
    if certificate_id is not None:
        statement = statement.where(ConversionRule.certificate_id == certificate_id)
    if course_id is not None:
        statement = statement.where(ConversionRule.course_id == course_id)
    if major_id is not None:
        statement = statement.where(
            col(ConversionRule.id).in_(
                select(ConversionRuleMajor.rule_id).where(ConversionRuleMajor.major_id == major_id)
            )
        )
    if on is not None:
        statement = statement.where(
            sa.or_(
                col(ConversionRule.effective_from).is_(None),
                col(ConversionRule.effective_from) <= on,
            ),
            sa.or_(
                col(ConversionRule.effective_to).is_(None), col(ConversionRule.effective_to) >= on
            ),
        )
    if mode is not None:
        statement = statement.where(ConversionRule.mode == mode)
    return statement


RULE_ORDER = [col(Certificate.name), col(Course.code), col(ConversionRule.id)]


def _rule_majors(session: Session, rule_ids: list[int]) -> dict[int, list[MajorRef]]:
    majors: dict[int, list[MajorRef]] = defaultdict(list)
    if not rule_ids:
        return majors
    for rule_id, major_id, code, name in session.exec(
        select(ConversionRuleMajor.rule_id, Major.id, Major.code, Major.name)
        .join(Major, col(Major.id) == ConversionRuleMajor.major_id)
        .where(col(ConversionRuleMajor.rule_id).in_(rule_ids))
        .order_by(col(Major.code))
    ).all():
        majors[rule_id].append(MajorRef(id=major_id or 0, code=code, name=name))
    return majors


def _rules_public(session: Session, rows: list[Any]) -> list[RulePublic]:
    majors = _rule_majors(session, [row[0].id for row in rows])
    return [
        RulePublic.model_validate(
            {
                **rule.model_dump(),
                "certificate_name": certificate_name,
                "course_code": course_code,
                "course_name": course_name,
                "majors": majors.get(rule.id, []),
                "used": bool(used),
                "superseded_by_id": successor,
            }
        )
        for rule, certificate_name, course_code, course_name, used, successor in rows
    ]


def list_rules(session: Session, page: PageParams, **filters: Any) -> Page[RulePublic]:
    result = paginate(session, rule_statement(**filters), page, RULE_ORDER, lambda row: row)
    return Page[RulePublic](
        items=_rules_public(session, result.items),
        total=result.total,
        limit=result.limit,
        offset=result.offset,
    )


def export_rules(session: Session, **filters: Any) -> list[RulePublic]:
    return _rules_public(session, fetch_for_export(session, rule_statement(**filters), RULE_ORDER))


def get_rule(session: Session, rule_id: int) -> RulePublic:
    row = session.exec(rule_statement().where(ConversionRule.id == rule_id)).first()
    if row is None:
        raise NotFound(f"No conversion rule with id {rule_id}")
    return _rules_public(session, [row])[0]


def _check_refs(
    session: Session, certificate_id: int, course_id: int, major_ids: list[int]
) -> None:
    errors = []
    if session.get(Certificate, certificate_id) is None:
        errors.append({"field": "body.certificate_id", "message": "no such certificate"})
    if session.get(Course, course_id) is None:
        errors.append({"field": "body.course_id", "message": "no such course"})
    known = set(session.exec(select(Major.id).where(col(Major.id).in_(major_ids))).all())
    unknown = sorted(set(major_ids) - known)
    if unknown:
        errors.append(
            {
                "field": "body.major_ids",
                "message": f"no major with id {', '.join(map(str, unknown))}",
            }
        )
    if errors:
        raise UnprocessableEntity(
            "Unknown references: " + "; ".join(f"{e['field']}: {e['message']}" for e in errors),
            errors=errors,
        )


def _check_level_offered(session: Session, certificate_id: int, level: Level) -> None:
    certificate = session.get(Certificate, certificate_id)
    if certificate is not None and level not in certificate.level_list:
        offered = "、".join(lv.value for lv in certificate.level_list)
        raise UnprocessableEntity(
            f"The certificate {certificate.name} is offered at {offered}, not at {level.value}",
            errors=[{"field": "body.min_level", "message": f"one of {offered}"}],
        )


def _overlapping(
    session: Session,
    certificate_id: int,
    course_id: int,
    start: date | None,
    end: date | None,
    exclude: int | None = None,
) -> ConversionRule | None:
    """Another rule for the same certificate and course whose period meets ``start``–``end``."""
    statement = select(ConversionRule).where(
        ConversionRule.certificate_id == certificate_id, ConversionRule.course_id == course_id
    )
    if exclude is not None:
        statement = statement.where(ConversionRule.id != exclude)
    if end is not None:
        statement = statement.where(
            sa.or_(
                col(ConversionRule.effective_from).is_(None),
                col(ConversionRule.effective_from) <= end,
            )
        )
    if start is not None:
        statement = statement.where(
            sa.or_(
                col(ConversionRule.effective_to).is_(None),
                col(ConversionRule.effective_to) >= start,
            )
        )
    return session.exec(statement.order_by(col(ConversionRule.id))).first()


def _refuse_overlap(
    session: Session,
    certificate_id: int,
    course_id: int,
    start: date | None,
    end: date | None,
    exclude: int | None = None,
) -> None:
    other = _overlapping(session, certificate_id, course_id, start, end, exclude)
    if other is not None:
        raise Conflict(
            f"Conversion rule {other.id} already maps this certificate to this course for "
            f"{_period_text(other.effective_from, other.effective_to)}, which overlaps "
            f"{_period_text(start, end)}; change that rule (a used one gets a new version) or "
            "close it first",
            code="duplicate",
            existing_id=other.id,
        )


def _set_majors(session: Session, rule_id: int, major_ids: list[int]) -> None:
    session.execute(
        sa.delete(ConversionRuleMajor).where(col(ConversionRuleMajor.rule_id) == rule_id)
    )
    for major_id in sorted(set(major_ids)):
        session.add(ConversionRuleMajor(rule_id=rule_id, major_id=major_id))


def rule_major_ids(session: Session, rule_id: int) -> list[int]:
    return sorted(
        session.exec(
            select(ConversionRuleMajor.major_id).where(ConversionRuleMajor.rule_id == rule_id)
        ).all()
    )


def create_rule(session: Session, principal: Principal, data: RuleCreate) -> ConversionRule:
    """A new rule (academic office); one rule per certificate and course at any time."""
    check_role(principal, Role.academic_office, what="write conversion rules")
    _check_refs(session, data.certificate_id, data.course_id, data.major_ids)
    _check_level_offered(session, data.certificate_id, data.min_level)
    _refuse_overlap(
        session, data.certificate_id, data.course_id, data.effective_from, data.effective_to
    )
    rule = ConversionRule.model_validate(data.model_dump(exclude={"major_ids"}))
    session.add(rule)
    session.flush()
    assert rule.id is not None
    _set_majors(session, rule.id, data.major_ids)
    session.flush()
    record(
        session,
        principal,
        action="create",
        entity=RULE_ENTITY,
        entity_id=rule.id,
        after={**(snapshot(rule) or {}), "major_ids": sorted(set(data.major_ids))},
    )
    session.commit()
    return rule


def _rule_used(session: Session, rule_id: int) -> bool:
    return (
        session.exec(
            select(ConversionRequest.id).where(ConversionRequest.rule_id == rule_id)
        ).first()
        is not None
    )


def _successor_id(session: Session, rule_id: int) -> int | None:
    successor: int | None = session.exec(
        select(ConversionRule.id).where(ConversionRule.replaces_id == rule_id)
    ).first()
    return successor


def _locked_rule(session: Session, rule_id: int) -> ConversionRule:
    return lock_row(session, ConversionRule, rule_id, "conversion rule")


IN_PLACE_WHEN_USED = frozenset({"effective_to", "notes"})


def update_rule(
    session: Session,
    principal: Principal,
    rule_id: int,
    data: RuleUpdate,
    if_match: int | None,
    today: date,
) -> ConversionRule:
    """Change a rule. A rule no request used changes in place; a used one only gets its end
    date or notes changed in place, anything else closes it the day before the new version
    starts (``effective_from``, default today) and opens that new version."""
    check_role(principal, Role.academic_office, what="write conversion rules")
    rule = _locked_rule(session, rule_id)
    check_version(rule.version, if_match, "conversion rule")
    successor = _successor_id(session, rule_id)
    if successor is not None:
        raise InvalidState(
            f"Conversion rule {rule_id} was replaced by version {successor}; change that one",
            current_state="superseded",
            allowed_actions=[],
            superseded_by_id=successor,
        )
    changes = data.model_dump(exclude_unset=True)
    major_ids = changes.pop("major_ids", None)
    old_majors = rule_major_ids(session, rule_id)
    if major_ids is not None:
        _check_refs(session, rule.certificate_id, rule.course_id, major_ids)
        major_ids = sorted(set(major_ids))
    level = changes.get("min_level", rule.min_level)
    _check_level_offered(session, rule.certificate_id, level)
    real = {k: v for k, v in changes.items() if getattr(rule, k) != v}
    majors_change = major_ids is not None and major_ids != old_majors
    if not real and not majors_change:
        return rule
    used = _rule_used(session, rule_id)
    if not used or (set(real) <= IN_PLACE_WHEN_USED and not majors_change):
        merged = {**rule.model_dump(), **real}
        _check_period(merged["effective_from"], merged["effective_to"])
        _refuse_overlap(
            session,
            rule.certificate_id,
            rule.course_id,
            merged["effective_from"],
            merged["effective_to"],
            exclude=rule_id,
        )
        before = {**(snapshot(rule) or {}), "major_ids": old_majors}
        for name, value in real.items():
            setattr(rule, name, value)
        if majors_change and major_ids is not None:
            _set_majors(session, rule_id, major_ids)
        session.flush()
        record(
            session,
            principal,
            action="update",
            entity=RULE_ENTITY,
            entity_id=rule_id,
            before=before,
            after={**(snapshot(rule) or {}), "major_ids": major_ids or old_majors},
        )
        session.commit()
        return rule
    return _new_version(session, principal, rule, changes, major_ids or old_majors, today)


def _check_period(start: date | None, end: date | None) -> None:
    if start is not None and end is not None and start > end:
        raise UnprocessableEntity(
            f"effective_from ({start}) must be on or before effective_to ({end})",
            errors=[{"field": "body.effective_to", "message": "before effective_from"}],
        )


def _new_version(
    session: Session,
    principal: Principal,
    rule: ConversionRule,
    changes: dict[str, Any],
    major_ids: list[int],
    today: date,
) -> ConversionRule:
    starts = changes.get("effective_from") or today
    closes = starts - timedelta(days=1)
    if rule.effective_from is not None and closes < rule.effective_from:
        raise UnprocessableEntity(
            f"Conversion rule {rule.id} was used by a request, so a change opens a new version "
            f"and closes this one the day before; the new version must start after "
            f"{rule.effective_from} (this one's first day), not on {starts}",
            errors=[{"field": "body.effective_from", "message": f"after {rule.effective_from}"}],
        )
    ends = changes.get("effective_to", rule.effective_to)
    if ends is not None and ends < starts:
        ends = None if "effective_to" not in changes else ends
    _check_period(starts, ends)
    before = {**(snapshot(rule) or {}), "major_ids": rule_major_ids(session, rule.id or 0)}
    if rule.effective_to is None or rule.effective_to > closes:
        rule.effective_to = closes
    session.flush()
    _refuse_overlap(session, rule.certificate_id, rule.course_id, starts, ends, exclude=rule.id)
    values = {
        **rule.model_dump(
            exclude={"id", "created_at", "updated_at", "version", "effective_to", "replaces_id"}
        ),
        **{k: v for k, v in changes.items() if k not in ("effective_from", "effective_to")},
        "effective_from": starts,
        "effective_to": ends,
        "replaces_id": rule.id,
    }
    successor = ConversionRule.model_validate(values)
    session.add(successor)
    session.flush()
    assert successor.id is not None
    _set_majors(session, successor.id, major_ids)
    session.flush()
    record(
        session,
        principal,
        action="close",
        entity=RULE_ENTITY,
        entity_id=rule.id,
        before=before,
        after={**(snapshot(rule) or {}), "superseded_by_id": successor.id},
    )
    record(
        session,
        principal,
        action="create",
        entity=RULE_ENTITY,
        entity_id=successor.id,
        after={**(snapshot(successor) or {}), "major_ids": major_ids},
    )
    session.commit()
    return successor


def delete_rule(session: Session, principal: Principal, rule_id: int) -> None:
    """Only a rule no request used; a used rule is closed with ``effective_to`` instead."""
    check_role(principal, Role.academic_office, what="write conversion rules")
    rule = _locked_rule(session, rule_id)
    if _rule_used(session, rule_id):
        raise Conflict(
            f"Conversion rule {rule_id} was used by conversion requests and is kept; close it "
            "by setting effective_to instead",
            code="rule_in_use",
        )
    successor = _successor_id(session, rule_id)
    if successor is not None:
        raise Conflict(
            f"Conversion rule {rule_id} is the earlier version of rule {successor} and is kept",
            code="rule_in_use",
        )
    before = {**(snapshot(rule) or {}), "major_ids": rule_major_ids(session, rule_id)}
    session.execute(
        sa.delete(ConversionRuleMajor).where(col(ConversionRuleMajor.rule_id) == rule_id)
    )
    session.delete(rule)
    session.flush()
    record(
        session, principal, action="delete", entity=RULE_ENTITY, entity_id=rule_id, before=before
    )
    session.commit()


# --- eligibility ---------------------------------------------------------------------------------


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
    if issued.student_id != student.id:
        raise _refusal(
            f"Issued certificate {issued.number} is not student {student.student_no}'s own; a "
            "conversion uses the student's own certificate",
            "certificate_not_own",
            rule,
            issued_certificate_id=issued.id,
        )
    if issued.status != CertificateStatus.valid:
        raise _refusal(
            f"Issued certificate {issued.number} is revoked ({issued.revoke_reason}); only a "
            "valid certificate converts to credits",
            "certificate_revoked",
            rule,
            issued_certificate_id=issued.id,
        )
    exam = session.get(ExamSession, issued.session_id)
    assert exam is not None
    if exam.certificate_id != rule.certificate_id:
        held = session.get(Certificate, exam.certificate_id)
        wanted = session.get(Certificate, rule.certificate_id)
        raise _refusal(
            f"Conversion rule {rule.id} is for the certificate "
            f"{wanted.name if wanted else rule.certificate_id}; issued certificate "
            f"{issued.number} is {held.name if held else exam.certificate_id}",
            "certificate_mismatch",
            rule,
            issued_certificate_id=issued.id,
        )
    if not exam.level.at_or_above(rule.min_level):
        raise _refusal(
            f"Conversion rule {rule.id} needs the certificate at {rule.min_level.value} or "
            f"above; issued certificate {issued.number} is {exam.level.value}",
            "level_below_rule",
            rule,
            min_level=rule.min_level.value,
            level=exam.level.value,
        )
    majors = rule_major_ids(session, rule.id or 0)
    if student.major_id not in majors:
        own = session.get(Major, student.major_id)
        names = session.exec(
            select(Major.name).where(col(Major.id).in_(majors)).order_by(col(Major.code))
        ).all()
        raise _refusal(
            f"Conversion rule {rule.id} applies to {'、'.join(names)}; student "
            f"{student.student_no}'s major {own.name if own else student.major_id} is not one "
            "of them",
            "major_not_covered",
            rule,
            major_ids=majors,
        )
    if not in_force(rule, issued.issue_date):
        raise _refusal(
            f"Conversion rule {rule.id} is in force "
            f"{_period_text(rule.effective_from, rule.effective_to)}; issued certificate "
            f"{issued.number} was issued on {issued.issue_date}, outside it",
            "rule_not_in_force",
            rule,
            effective_from=rule.effective_from.isoformat() if rule.effective_from else None,
            effective_to=rule.effective_to.isoformat() if rule.effective_to else None,
            issue_date=issued.issue_date.isoformat(),
        )
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
            f"Student {student.student_no} already has an {existing.status.value} conversion "
            f"(request {existing.id}) for the course "
            f"{course.code + ' ' + course.name if course else rule.course_id}; one per course",
            "course_already_claimed",
            rule,
            existing_id=existing.id,
        )


# --- requests --------------------------------------------------------------------------------


def request_actions(status: RequestStatus) -> list[str]:
    if status == RequestStatus.submitted:
        return ["approve", "reject", "withdraw"]
    return []


def _scoped(statement: Any, principal: Principal, student_column: Any, what: str) -> Any:
    """``statement`` (joined to the student's Major) limited to what ``principal`` reads: the
    office, auditors and admins all; a college manager their college's students; a student
    their own; any other role is refused."""
    role = principal.role
    if role == Role.college_manager:
        return statement.where(Major.college_id == (principal.college_id or -1))
    if role == Role.student:
        return statement.where(student_column == (principal.student_id or -1))
    if role not in READ_ALL:
        raise Forbidden(
            f"Role {role.value} may not read {what}",
            allowed_roles=sorted(r.value for r in READ_ALL | {Role.college_manager, Role.student}),
        )
    return statement


def request_statement(
    principal: Principal,
    *,
    student_id: int | None = None,
    status: RequestStatus | None = None,
    course_id: int | None = None,
    certificate_id: int | None = None,
    rule_id: int | None = None,
    college_id: int | None = None,
) -> Any:
    statement = (
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
        .join(Student, col(Student.id) == ConversionRequest.student_id)
        .join(Major, col(Major.id) == Student.major_id)
        .join(
            IssuedCertificate, col(IssuedCertificate.id) == ConversionRequest.issued_certificate_id
        )
        .join(ExamSession, col(ExamSession.id) == IssuedCertificate.session_id)
        .join(Certificate, col(Certificate.id) == ExamSession.certificate_id)
        .join(ConversionRule, col(ConversionRule.id) == ConversionRequest.rule_id)
        .join(Course, col(Course.id) == ConversionRequest.course_id)
    )
    statement = _scoped(statement, principal, ConversionRequest.student_id, "conversion requests")
    if student_id is not None:
        statement = statement.where(ConversionRequest.student_id == student_id)
    if status is not None:
        statement = statement.where(ConversionRequest.status == status)
    if course_id is not None:
        statement = statement.where(ConversionRequest.course_id == course_id)
    if certificate_id is not None:
        statement = statement.where(ExamSession.certificate_id == certificate_id)
    if rule_id is not None:
        statement = statement.where(ConversionRequest.rule_id == rule_id)
    if college_id is not None:
        statement = statement.where(Major.college_id == college_id)
    return statement


REQUEST_ORDER = [col(ConversionRequest.created_at).desc(), col(ConversionRequest.id).desc()]


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


REQUESTS = Listing("conversion request", REQUEST_ORDER, request_public)


def list_requests(
    session: Session, principal: Principal, page: PageParams, **filters: Any
) -> Page[RequestPublic]:
    return REQUESTS.page(session, request_statement(principal, **filters), page)


def export_requests(session: Session, principal: Principal, **filters: Any) -> list[RequestPublic]:
    return REQUESTS.export(session, request_statement(principal, **filters))


def get_request(session: Session, principal: Principal, request_id: int) -> RequestPublic:
    statement = request_statement(principal).where(ConversionRequest.id == request_id)
    return REQUESTS.one(session, statement, request_id)


def _locked_student(session: Session, student_id: int, field: str = "body.student_id") -> Student:
    """The student's row, locked so that one student's requests are checked one after the
    other. ``FOR NO KEY UPDATE`` on PostgreSQL: rows that only reference the student (a
    revocation's reversal lines) are not held up, so a revocation waiting for the
    certificate's row never deadlocks with it."""
    return lock_row(session, Student, student_id, "student", field=field, no_key=True)


def _shared_rule(session: Session, rule_id: int) -> ConversionRule | None:
    """The rule, share-locked so that a concurrent change of it (which takes the row
    exclusively and asks whether a request used it) waits for this transaction."""
    rule: ConversionRule | None = lock_first(
        session, select(ConversionRule).where(ConversionRule.id == rule_id), share=True
    )
    return rule


def _shared_certificate(session: Session, issued_id: int) -> IssuedCertificate | None:
    """The issued certificate, share-locked: its revocation (which takes the row exclusively,
    then reverses its credits and rejects its waiting requests) waits for this transaction
    and then sees what it wrote."""
    issued: IssuedCertificate | None = lock_first(
        session, select(IssuedCertificate).where(IssuedCertificate.id == issued_id), share=True
    )
    return issued


def create_request(
    session: Session, principal: Principal, data: RequestCreate
) -> ConversionRequest:
    """A student for themself, or the academic office for a student. The student's row is
    locked first, so two requests of one student are checked one after the other."""
    check_role(principal, Role.academic_office, Role.student, what="file conversion requests")
    student_id = data.student_id
    if principal.role == Role.student:
        if student_id is not None and student_id != principal.student_id:
            raise Forbidden(
                "A student files conversion requests only for themself",
                code="out_of_scope",
                student_id=student_id,
            )
        student_id = principal.student_id
    if student_id is None:
        raise UnprocessableEntity(
            "student_id is required (only a student asking for themself may leave it out)",
            errors=[{"field": "body.student_id", "message": "required"}],
        )
    student = _locked_student(session, student_id)
    issued = _shared_certificate(session, data.issued_certificate_id)
    rule = _shared_rule(session, data.rule_id)
    errors = []
    if issued is None:
        errors.append({"field": "body.issued_certificate_id", "message": "no such certificate"})
    if rule is None:
        errors.append({"field": "body.rule_id", "message": "no such conversion rule"})
    if errors or issued is None or rule is None:
        raise UnprocessableEntity(
            "Unknown references: " + "; ".join(f"{e['field']}: {e['message']}" for e in errors),
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
    session.add(request)
    session.flush()
    record(
        session,
        principal,
        action="create",
        entity=REQUEST_ENTITY,
        entity_id=request.id,
        after=snapshot(request),
    )
    session.commit()
    return request


def _visible_request(session: Session, principal: Principal, request_id: int) -> ConversionRequest:
    row = session.exec(
        request_statement(principal).where(ConversionRequest.id == request_id)
    ).first()
    if row is None:
        raise NotFound(f"No conversion request with id {request_id}")
    request: ConversionRequest = row[0]
    return request


def _refuse_action(request: ConversionRequest, action: str) -> None:
    allowed = request_actions(request.status)
    raise InvalidState(
        f"Cannot {action} conversion request {request.id}: it is {request.status.value}; only "
        f"a submitted request can be {action}d. Allowed now: "
        f"{', '.join(allowed) if allowed else 'none'}",
        current_state=request.status.value,
        allowed_actions=allowed,
    )


def _lock_request(session: Session, request_id: int) -> ConversionRequest:
    return lock_row(session, ConversionRequest, request_id, "conversion request")


def approve(
    session: Session, principal: Principal, request_id: int, today: date
) -> ConversionRequest:
    """submitted → approved, checked again, and the credit written in the same transaction.
    The student's row, then the certificate's (shared, so a revocation waits), then the
    request's are locked: racing approvals queue, and a revocation sees the credit."""
    check_role(principal, Role.academic_office, what="approve conversion requests")
    visible = _visible_request(session, principal, request_id)
    student = _locked_student(session, visible.student_id)
    issued = _shared_certificate(session, visible.issued_certificate_id)
    request = _lock_request(session, request_id)
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
    credit = CreditRecord(
        student_id=request.student_id,
        course_id=request.course_id,
        request_id=request_id,
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
    record(
        session,
        principal,
        action="approve",
        entity=REQUEST_ENTITY,
        entity_id=request_id,
        before=before,
        after=snapshot(request),
    )
    record(
        session,
        principal,
        action="create",
        entity=CREDIT_ENTITY,
        entity_id=credit.id,
        after=snapshot(credit),
    )
    session.commit()
    return request


def _close_request(
    session: Session,
    principal: Principal,
    request: ConversionRequest,
    target: RequestStatus,
    action: str,
    today: date,
    reason: str | None = None,
    commit: bool = True,
) -> ConversionRequest:
    before = snapshot(request)
    request.status = target
    request.live = None
    request.decided_at = utcnow()
    request.decided_on = today
    request.decided_by = principal.label[:100]
    if reason is not None:
        request.reason = reason
    session.flush()
    record(
        session,
        principal,
        action=action,
        entity=REQUEST_ENTITY,
        entity_id=request.id,
        before=before,
        after=snapshot(request),
    )
    if commit:
        session.commit()
    return request


def reject(
    session: Session, principal: Principal, request_id: int, reason: str, today: date
) -> ConversionRequest:
    """submitted → rejected with a reason, by the academic office."""
    check_role(principal, Role.academic_office, what="reject conversion requests")
    _visible_request(session, principal, request_id)
    request = _lock_request(session, request_id)
    if request.status != RequestStatus.submitted:
        _refuse_action(request, "reject")
    return _close_request(
        session, principal, request, RequestStatus.rejected, "reject", today, reason
    )


def withdraw(
    session: Session, principal: Principal, request_id: int, today: date
) -> ConversionRequest:
    """submitted → withdrawn, by the student who asked."""
    check_role(principal, Role.student, what="withdraw conversion requests")
    _visible_request(session, principal, request_id)
    request = _lock_request(session, request_id)
    if request.status != RequestStatus.submitted:
        _refuse_action(request, "withdraw")
    return _close_request(session, principal, request, RequestStatus.withdrawn, "withdraw", today)


def bulk_approve(
    session: Session, principal: Principal, ids: list[int], today: date
) -> BulkApproveResult:
    """Approve each request on its own (its own transaction); say for each why not."""
    check_role(principal, Role.academic_office, what="approve conversion requests")
    results: list[BulkOutcome] = []
    for request_id in ids:
        try:
            request = approve(session, principal, request_id, today)
            results.append(
                BulkOutcome(
                    id=request_id, approved=True, status=request.status, code=None, detail=None
                )
            )
        except (AppError, IntegrityError) as exc:
            session.rollback()
            current = session.get(ConversionRequest, request_id)
            code = exc.code if isinstance(exc, AppError) else "conflict"
            detail = (
                exc.detail
                if isinstance(exc, AppError)
                else "a concurrent change got there first; reload and try again"
            )
            results.append(
                BulkOutcome(
                    id=request_id,
                    approved=False,
                    status=current.status if current is not None else None,
                    code=code,
                    detail=detail,
                )
            )
    approved = sum(1 for r in results if r.approved)
    return BulkApproveResult(approved=approved, refused=len(results) - approved, results=results)


# --- students' views ------------------------------------------------------------------------


def visible_student(session: Session, principal: Principal, student_id: int) -> Student:
    """The student, when ``principal`` may read their credit bank (404 outside the scope)."""
    role = principal.role
    if role not in READ_ALL | {Role.college_manager, Role.student}:
        raise Forbidden(
            f"Role {role.value} may not read students' credit banks",
            allowed_roles=sorted(r.value for r in READ_ALL | {Role.college_manager, Role.student}),
        )
    row = session.exec(
        select(Student, col(Major.college_id))
        .join(Major, col(Major.id) == Student.major_id)
        .where(Student.id == student_id)
    ).first()
    if row is None:
        raise NotFound(f"No student with id {student_id}")
    student, college_id = row
    if role == Role.student and principal.student_id != student_id:
        raise NotFound(f"No student with id {student_id}")
    if role == Role.college_manager and principal.college_id != college_id:
        raise NotFound(f"No student with id {student_id}")
    return student


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


def conversion_options(
    session: Session, principal: Principal, student_id: int
) -> ConversionOptions:
    """Every rule the student's valid certificates qualify for, on a course not yet claimed."""
    student = visible_student(session, principal, student_id)
    claimed = set(
        session.exec(
            select(ConversionRequest.course_id).where(
                ConversionRequest.student_id == student_id,
                col(ConversionRequest.live).is_(True),
            )
        ).all()
    )
    held = session.exec(
        select(IssuedCertificate, ExamSession, col(Certificate.name))
        .join(ExamSession, col(ExamSession.id) == IssuedCertificate.session_id)
        .join(Certificate, col(Certificate.id) == ExamSession.certificate_id)
        .where(
            IssuedCertificate.student_id == student_id,
            IssuedCertificate.status == CertificateStatus.valid,
        )
        .order_by(col(IssuedCertificate.issue_date), col(IssuedCertificate.id))
    ).all()
    certificate_ids = sorted({exam.certificate_id for _, exam, _ in held})
    if not certificate_ids:
        return ConversionOptions(student_id=student_id, items=[])
    rules = session.exec(
        select(ConversionRule, col(Course.code), col(Course.name))
        .join(Course, col(Course.id) == ConversionRule.course_id)
        .join(ConversionRuleMajor, col(ConversionRuleMajor.rule_id) == ConversionRule.id)
        .where(
            col(ConversionRule.certificate_id).in_(certificate_ids),
            ConversionRuleMajor.major_id == student.major_id,
        )
        .order_by(col(Course.code), col(ConversionRule.id))
    ).all()
    by_course: dict[int, list[OptionChoice]] = defaultdict(list)
    courses: dict[int, tuple[str, str]] = {}
    for issued, exam, certificate_name in held:
        for rule, code, name in rules:
            if (
                rule.certificate_id != exam.certificate_id
                or not exam.level.at_or_above(rule.min_level)
                or not in_force(rule, issued.issue_date)
                or rule.course_id in claimed
            ):
                continue
            courses[rule.course_id] = (code, name)
            by_course[rule.course_id].append(
                OptionChoice(
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
            )
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


_reversal = sa.orm.aliased(CreditRecord)


def credit_statement(
    principal: Principal,
    *,
    student_id: int | None = None,
    course_id: int | None = None,
    issued_certificate_id: int | None = None,
    certificate_id: int | None = None,
    college_id: int | None = None,
    kind: CreditKind | None = None,
    reversed: bool | None = None,
    certificate_status: CertificateStatus | None = None,
    recorded_from: date | None = None,
    recorded_to: date | None = None,
) -> Any:
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
    statement = _scoped(statement, principal, CreditRecord.student_id, "credit records")
    if student_id is not None:
        statement = statement.where(CreditRecord.student_id == student_id)
    if course_id is not None:
        statement = statement.where(CreditRecord.course_id == course_id)
    if issued_certificate_id is not None:
        statement = statement.where(CreditRecord.issued_certificate_id == issued_certificate_id)
    if certificate_id is not None:
        statement = statement.where(ExamSession.certificate_id == certificate_id)
    if college_id is not None:
        statement = statement.where(Major.college_id == college_id)
    if kind is not None:
        statement = statement.where(CreditRecord.kind == kind)
    if reversed is not None:
        statement = statement.where(
            CreditRecord.kind == CreditKind.credit,
            col(_reversal.id).is_not(None) if reversed else col(_reversal.id).is_(None),
        )
    if certificate_status is not None:
        statement = statement.where(IssuedCertificate.status == certificate_status)
    if recorded_from is not None:
        statement = statement.where(col(CreditRecord.recorded_on) >= recorded_from)
    if recorded_to is not None:
        statement = statement.where(col(CreditRecord.recorded_on) <= recorded_to)
    return statement


LEDGER_ORDER = [col(CreditRecord.recorded_on), col(CreditRecord.id)]
RECORD_ORDER = [col(CreditRecord.recorded_on).desc(), col(CreditRecord.id).desc()]


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


RECORDS = Listing("credit record", RECORD_ORDER, credit_public)


def list_credits(
    session: Session, principal: Principal, page: PageParams, **filters: Any
) -> Page[CreditRecordPublic]:
    return RECORDS.page(session, credit_statement(principal, **filters), page)


def export_credits(
    session: Session, principal: Principal, **filters: Any
) -> list[CreditRecordPublic]:
    return RECORDS.export(session, credit_statement(principal, **filters))


def get_credit(session: Session, principal: Principal, record_id: int) -> CreditRecordPublic:
    statement = credit_statement(principal).where(CreditRecord.id == record_id)
    return RECORDS.one(session, statement, record_id)


def ledger(session: Session, principal: Principal, student_id: int) -> Ledger:
    """The student's ledger, oldest first, reversals included, and the net totals."""
    student = visible_student(session, principal, student_id)
    rows = session.exec(
        credit_statement(principal, student_id=student_id).order_by(*LEDGER_ORDER)
    ).all()
    items = [CreditLine.model_validate(credit_public(row).model_dump()) for row in rows]
    total = sum((line.credits for line in items), ZERO)
    by_mode = {
        mode: sum((line.credits for line in items if line.mode == mode), ZERO)
        for mode in ConversionMode
    }
    courses = {
        line.course_id
        for line in items
        if line.kind == CreditKind.credit and line.reversed_by_id is None
    }
    return Ledger(
        student_id=student_id,
        student_no=student.student_no,
        student_name=student.name,
        items=items,
        totals=CreditTotals(
            credits=total,
            exemption_credits=by_mode[ConversionMode.exemption],
            substitution_credits=by_mode[ConversionMode.substitution],
            courses=len(courses),
        ),
    )


def _write_reversal(
    session: Session,
    principal: Principal,
    credit: CreditRecord,
    reason: str,
    today: date,
) -> CreditRecord:
    """The negative line cancelling ``credit`` (locked by the caller); its request becomes
    ``reversed`` so the course can be claimed again. Audited, not committed."""
    request = _lock_request(session, credit.request_id)
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
    record(
        session,
        principal,
        action="reverse",
        entity=CREDIT_ENTITY,
        entity_id=reversal.id,
        after=snapshot(reversal),
    )
    record(
        session,
        principal,
        action="reverse",
        entity=REQUEST_ENTITY,
        entity_id=request.id,
        before=before,
        after=snapshot(request),
    )
    return reversal


def _reversal_of(session: Session, record_id: int | None) -> int | None:
    existing: int | None = session.exec(
        select(CreditRecord.id).where(CreditRecord.reverses_id == record_id)
    ).first()
    return existing


def reverse_credit(
    session: Session, principal: Principal, record_id: int, reason: str, today: date
) -> CreditRecord:
    """Write the negative line that cancels a credit, once; the request becomes ``reversed``
    and the course can be claimed again."""
    check_role(principal, Role.academic_office, what="reverse credits")
    credit = lock_row(session, CreditRecord, record_id, "credit record")
    if credit.kind != CreditKind.credit:
        raise InvalidState(
            f"Credit record {record_id} is itself a reversal (of record {credit.reverses_id}); "
            "only a credit is reversed",
            current_state=credit.kind.value,
            allowed_actions=[],
        )
    existing = _reversal_of(session, record_id)
    if existing is not None:
        raise InvalidState(
            f"Credit record {record_id} was already reversed by record {existing}",
            code="already_reversed",
            current_state="reversed",
            allowed_actions=[],
            reversal_id=existing,
        )
    reversal = _write_reversal(session, principal, credit, reason, today)
    session.commit()
    return reversal


def revocation_reason(number: str, reason: str) -> str:
    return f"证书 {number} 已撤销 (certificate revoked): {reason}"[:1000]


def settle_revoked_certificate(
    session: Session, principal: Principal, issued: IssuedCertificate, today: date
) -> None:
    """Called by the certificate's revocation, in its transaction, with the certificate's row
    locked: every credit converted from it that is not reversed yet gets its reversal line,
    and every request still waiting for review is rejected, both with the revocation's reason.
    So the ledger never counts credits a revoked certificate no longer backs. Approval and
    filing share-lock the certificate, so none can slip in between."""
    reason = revocation_reason(issued.number, issued.revoke_reason or "")
    credits = session.exec(
        select(CreditRecord)
        .where(
            CreditRecord.issued_certificate_id == issued.id,
            CreditRecord.kind == CreditKind.credit,
        )
        .order_by(col(CreditRecord.id))
        .with_for_update()
    ).all()
    for credit in credits:
        if _reversal_of(session, credit.id) is None:
            _write_reversal(session, principal, credit, reason, today)
    waiting = session.exec(
        select(ConversionRequest)
        .where(
            ConversionRequest.issued_certificate_id == issued.id,
            ConversionRequest.status == RequestStatus.submitted,
        )
        .order_by(col(ConversionRequest.id))
        .with_for_update()
    ).all()
    for request in waiting:
        _close_request(
            session, principal, request, RequestStatus.rejected, "reject", today, reason, False
        )


# --- the report ------------------------------------------------------------------------------


def conversion_report(
    session: Session, principal: Principal, *, year: int | None
) -> ConversionReport:
    """One row per approved (not reversed) conversion, by approval date, and the counts per
    rule and per course; a college manager sees their college's students."""
    scope = principal.college_id if principal.role == Role.college_manager else None
    if principal.role not in READ_ALL and principal.role != Role.college_manager:
        raise Forbidden(
            f"Role {principal.role.value} may not read the conversion report; allowed roles: "
            + ", ".join(sorted(r.value for r in READ_ALL))
            + ", college_manager (own college)",
            allowed_roles=sorted(r.value for r in READ_ALL_OR_COLLEGE),
        )
    statement = (
        select(  # type: ignore[call-overload]
            ConversionRequest,
            Student,
            Major,
            IssuedCertificate,
            ExamSession,
            col(Certificate.name),
            col(EvaluationOrg.name),
            ConversionRule,
            Course,
        )
        .join(Student, col(Student.id) == ConversionRequest.student_id)
        .join(Major, col(Major.id) == Student.major_id)
        .join(
            IssuedCertificate, col(IssuedCertificate.id) == ConversionRequest.issued_certificate_id
        )
        .join(ExamSession, col(ExamSession.id) == IssuedCertificate.session_id)
        .join(Certificate, col(Certificate.id) == ExamSession.certificate_id)
        .join(EvaluationOrg, col(EvaluationOrg.id) == ExamSession.evaluation_org_id)
        .join(ConversionRule, col(ConversionRule.id) == ConversionRequest.rule_id)
        .join(Course, col(Course.id) == ConversionRequest.course_id)
        .where(ConversionRequest.status == RequestStatus.approved)
    )
    if year is not None:
        statement = statement.where(
            col(ConversionRequest.decided_on) >= date(year, 1, 1),
            col(ConversionRequest.decided_on) <= date(year, 12, 31),
        )
    if scope is not None:
        statement = statement.where(Major.college_id == scope)
    statement = statement.order_by(
        col(ConversionRequest.decided_on), col(Student.student_no), col(Course.code)
    )
    rows: list[ConversionReportRow] = []
    per_rule: dict[int, RuleCount] = {}
    per_course: dict[int, CourseCount] = {}
    for request, student, major, issued, exam, cert_name, org_name, rule, course in session.exec(
        statement
    ).all():
        rows.append(
            ConversionReportRow(
                request_id=request.id,
                student_no=student.student_no,
                student_name=student.name,
                major_code=major.code,
                major_name=major.name,
                cohort=student.cohort,
                certificate_name=cert_name,
                level=exam.level,
                evaluation_org_name=org_name,
                certificate_number=issued.number,
                issue_date=issued.issue_date,
                course_code=course.code,
                course_name=course.name,
                credits=rule.credits,
                mode=rule.mode,
                approved_on=request.decided_on,
            )
        )
        by_rule = per_rule.setdefault(
            rule.id,
            RuleCount(
                rule_id=rule.id,
                certificate_name=cert_name,
                course_code=course.code,
                course_name=course.name,
                conversions=0,
                credits=ZERO,
            ),
        )
        by_rule.conversions += 1
        by_rule.credits += rule.credits
        by_course = per_course.setdefault(
            course.id,
            CourseCount(
                course_id=course.id,
                course_code=course.code,
                course_name=course.name,
                conversions=0,
                credits=ZERO,
            ),
        )
        by_course.conversions += 1
        by_course.credits += rule.credits
    return ConversionReport(
        year=year,
        rows=rows,
        per_rule=sorted(per_rule.values(), key=lambda r: r.rule_id),
        per_course=sorted(per_course.values(), key=lambda c: c.course_code),
        conversions=len(rows),
        credits=sum((r.credits for r in rows), ZERO),
    )


# --- for the annual evaluation ---------------------------------------------------------------


def _approved_by_pilot_year(year: int | None) -> Any:
    statement = (
        select(
            ExamSession.application_id,
            func.count(col(ConversionRequest.id)),
            func.sum(ConversionRule.credits),
        )
        .join(
            IssuedCertificate, col(IssuedCertificate.id) == ConversionRequest.issued_certificate_id
        )
        .join(ExamSession, col(ExamSession.id) == IssuedCertificate.session_id)
        .join(ConversionRule, col(ConversionRule.id) == ConversionRequest.rule_id)
        .join(PilotApplication, col(PilotApplication.id) == ExamSession.application_id)
        .where(ConversionRequest.status == RequestStatus.approved)
        .group_by(col(ExamSession.application_id))
    )
    if year is not None:
        statement = statement.where(PilotApplication.year == year)
    return statement


def approved_conversions_by_application(session: Session, year: int | None) -> dict[int, int]:
    """Approved conversions that are not reversed, per pilot application (the pilot whose exam
    session issued the certificate), for the pilots of ``year`` (all years when None)."""
    return {
        app_id: int(count)
        for app_id, count, _credits in session.exec(_approved_by_pilot_year(year)).all()
    }


def credit_totals(session: Session, year: int | None) -> tuple[int, Decimal]:
    """(approved conversions not reversed, their credits) for the pilots of ``year``."""
    conversions = 0
    credits = ZERO
    for _app_id, count, total in session.exec(_approved_by_pilot_year(year)).all():
        conversions += int(count)
        credits += Decimal(total or 0)
    return conversions, credits.quantize(Decimal("0.1"))
