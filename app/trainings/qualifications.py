"""Evaluator (考评员) qualifications: a teacher's qualification to evaluate a certificate at a
level, with its own number, issuing organisation and validity. The office records any
teacher's; a college manager their college's teachers'; a teacher reads their own; the
office, auditors and admins read all. Every change is audited and committed here; the
evaluator coverage of a pilot is in :mod:`app.trainings.reports`."""

from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from app.applications.service import check_certificate_level
from app.core.audit import apply_changes, delete_row, save_new
from app.core.errors import Forbidden, UnprocessableEntity
from app.core.export import ExportColumn
from app.core.i18n import N_, _
from app.core.labels import label
from app.core.listing import Listing, each, where_equal
from app.core.locks import lock_one
from app.core.roles import OFFICE_OR_COLLEGE, READ_ALL, Principal, Role
from app.core.scopes import limit_to_scope
from app.core.versions import check_version
from app.reference.models import Certificate, Teacher
from app.trainings.models import (
    EvaluatorQualification,
    QualificationCreate,
    QualificationFilters,
    QualificationPublic,
    QualificationUpdate,
)
from app.trainings.rules import validity_problem
from app.trainings.service import _teacher_or_422, refuse_number_taken

QUALIFICATION_ENTITY = "evaluator_qualification"
READERS = READ_ALL | {Role.college_manager, Role.teacher}
WRITERS = OFFICE_OR_COLLEGE


def visible_qualifications(statement: Any, principal: Principal) -> Any:
    """Limit ``statement`` (joined to Teacher) to what ``principal`` may read."""
    return limit_to_scope(
        statement,
        principal,
        N_("evaluator qualifications"),
        college_manager=Teacher.college_id,
        teacher=EvaluatorQualification.teacher_id,
    )


def _require_writer(principal: Principal) -> None:
    if principal.role not in WRITERS:
        raise Forbidden(
            _(
                "Role {role} may not record evaluator qualifications; allowed roles: "
                "academic_office, college_manager (own college's teachers)",
                role=label(principal.role),
            ),
            allowed_roles=sorted(r.value for r in WRITERS),
        )


def qualification_statement(
    _session: Session, principal: Principal, filters: QualificationFilters
) -> Any:
    statement = (
        select(EvaluatorQualification, Teacher, Certificate.name)
        .join(Teacher, col(Teacher.id) == EvaluatorQualification.teacher_id)
        .join(Certificate, col(Certificate.id) == EvaluatorQualification.certificate_id)
    )
    statement = visible_qualifications(statement, principal)
    statement = where_equal(
        statement,
        filters,
        teacher_id=EvaluatorQualification.teacher_id,
        certificate_id=EvaluatorQualification.certificate_id,
        college_id=Teacher.college_id,
        level=EvaluatorQualification.level,
    )
    if filters.valid_on is not None:
        day = filters.valid_on
        statement = statement.where(
            col(EvaluatorQualification.issued_on) <= day,
            sa.or_(
                col(EvaluatorQualification.valid_until).is_(None),
                col(EvaluatorQualification.valid_until) >= day,
            ),
        )
    return statement


def qualification_public(row: Any) -> QualificationPublic:
    qualification, teacher, certificate_name = row
    return QualificationPublic.model_validate(
        {
            **qualification.model_dump(),
            "staff_no": teacher.staff_no,
            "teacher_name": teacher.name,
            "college_id": teacher.college_id,
            "certificate_name": certificate_name,
        }
    )


QUALIFICATIONS = Listing(
    noun="evaluator qualification",
    statement=qualification_statement,
    order=[col(Teacher.staff_no), col(EvaluatorQualification.id)],
    to_items=each(qualification_public),
    filters=QualificationFilters,
    key=EvaluatorQualification.id,
    columns=[
        ExportColumn("staff_no", N_("Staff number")),
        ExportColumn("teacher_name", N_("Full name")),
        ExportColumn("certificate_name", N_("Certificate name")),
        ExportColumn("level", N_("Level")),
        ExportColumn("qualification_no", N_("Evaluator certificate number")),
        ExportColumn("issuer", N_("Issuing organisation")),
        ExportColumn("issued_on", N_("Issue date")),
        ExportColumn("valid_until", N_("Valid until")),
        ExportColumn("notes", N_("Notes")),
    ],
    filename="evaluator-qualifications",
    sheet=N_("Evaluator qualifications"),
    updated=[EvaluatorQualification.updated_at],
)
"""Evaluator qualifications by staff number."""


def _check_number_free(session: Session, number: str, own_id: int | None) -> None:
    refuse_number_taken(
        session,
        EvaluatorQualification,
        EvaluatorQualification.qualification_no,
        number,
        own_id,
        lambda other_id, name, staff_no: _(
            "考评员 qualification number {number} is already held by {name} ({staff_no}), "
            "qualification {id}; numbers are unique",
            number=number,
            name=name,
            staff_no=staff_no,
            id=other_id,
        ),
    )


def create_qualification(
    session: Session, principal: Principal, data: QualificationCreate
) -> EvaluatorQualification:
    _require_writer(principal)
    teacher = _teacher_or_422(session, principal, data.teacher_id, "body.teacher_id")
    if principal.role == Role.college_manager and teacher.college_id != principal.college_id:
        raise Forbidden(_("A college manager records their own college's teachers only"))
    check_certificate_level(session, data.certificate_id, data.level)
    _check_number_free(session, data.qualification_no, None)
    qualification = EvaluatorQualification.model_validate(data.model_dump())
    save_new(session, principal, qualification, QUALIFICATION_ENTITY)
    return qualification


def _locked(
    session: Session, principal: Principal, qualification_id: int
) -> EvaluatorQualification:
    """The qualification, locked, when ``principal`` writes it; 404 when they may not read it."""
    _require_writer(principal)
    statement = visible_qualifications(
        select(EvaluatorQualification)
        .join(Teacher, col(Teacher.id) == EvaluatorQualification.teacher_id)
        .where(EvaluatorQualification.id == qualification_id),
        principal,
    )
    qualification: EvaluatorQualification = lock_one(
        session,
        statement,
        "evaluator qualification",
        qualification_id,
        of=EvaluatorQualification,
    )
    return qualification


def update_qualification(
    session: Session,
    principal: Principal,
    qualification_id: int,
    data: QualificationUpdate,
    if_match: int | None,
) -> EvaluatorQualification:
    qualification = _locked(session, principal, qualification_id)
    check_version(qualification.version, if_match, "evaluator qualification")
    changes = data.model_dump(exclude_unset=True)
    for field, value in changes.items():
        if value is None and field not in QualificationUpdate.NULLABLE:
            raise UnprocessableEntity(
                _("{field} cannot be null", field=field),
                errors=[{"field": f"body.{field}", "message": _("cannot be null")}],
            )
    merged = {**qualification.model_dump(), **changes}
    problem = validity_problem(merged["issued_on"], merged["valid_until"])
    if problem:
        raise UnprocessableEntity(
            _("Qualification {id}: {problem}", id=qualification_id, problem=problem),
            errors=[{"field": "body.valid_until", "message": problem}],
        )
    if "certificate_id" in changes or "level" in changes:
        check_certificate_level(session, merged["certificate_id"], merged["level"])
    if "qualification_no" in changes:
        _check_number_free(session, changes["qualification_no"], qualification_id)
    apply_changes(session, principal, qualification, changes, QUALIFICATION_ENTITY)
    return qualification


def delete_qualification(session: Session, principal: Principal, qualification_id: int) -> None:
    qualification = _locked(session, principal, qualification_id)
    delete_row(session, principal, qualification, QUALIFICATION_ENTITY)
