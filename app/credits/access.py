"""Who may read what in the credit bank: the scope of what a
principal reads (the office, auditors and admins all; a college manager their college's
students; a student their own)."""

from typing import Any

from sqlmodel import Session, col, select

from app.core.errors import Forbidden, NotFound
from app.core.i18n import _
from app.core.labels import label
from app.core.roles import READ_ALL, Principal, Role
from app.core.scopes import limit_to_scope
from app.reference.models import Major, Student

READERS = READ_ALL | {Role.college_manager, Role.student}


def scoped(statement: Any, principal: Principal, student_column: Any, what: str) -> Any:
    """``statement`` (joined to the student's Major) limited to what ``principal`` reads: the
    office, auditors and admins all; a college manager their college's students; a student
    their own; any other role is refused."""
    return limit_to_scope(
        statement, principal, what, college_manager=Major.college_id, student=student_column
    )


def visible_student(session: Session, principal: Principal, student_id: int) -> Student:
    """The student, when ``principal`` may read their credit bank (404 outside the scope)."""
    role = principal.role
    if role not in READERS:
        raise Forbidden(
            _("Role {role} may not read students' credit banks", role=label(role)),
            allowed_roles=sorted(r.value for r in READERS),
        )
    row = session.exec(
        select(Student, col(Major.college_id))
        .join(Major, col(Major.id) == Student.major_id)
        .where(Student.id == student_id)
    ).first()
    if row is None:
        raise NotFound(_("No student with id {student_id}", student_id=student_id))
    student, college_id = row
    if role == Role.student and principal.student_id != student_id:
        raise NotFound(_("No student with id {student_id}", student_id=student_id))
    if role == Role.college_manager and principal.college_id != college_id:
        raise NotFound(_("No student with id {student_id}", student_id=student_id))
    return student
