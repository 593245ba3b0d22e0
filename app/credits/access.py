"""Who may read what in the credit bank: the scope of what a
principal reads (the office, auditors and admins all; a college manager their college's
students; a student their own)."""

from typing import Any

from sqlmodel import Session, col, select

from app.core.errors import NotFound
from app.core.i18n import N_, _
from app.core.roles import Principal
from app.core.scopes import limit_to_scope
from app.reference.models import Major, Student


def scoped(statement: Any, principal: Principal, student_column: Any, what: str) -> Any:
    """``statement`` (joined to the student's Major) limited to what ``principal`` reads: the
    office, auditors and admins all; a college manager their college's students; a student
    their own; any other role is refused."""
    return limit_to_scope(
        statement, principal, what, college_manager=Major.college_id, student=student_column
    )


def visible_student(session: Session, principal: Principal, student_id: int) -> Student:
    """The student, when ``principal`` may read their credit bank (403 for a role that reads
    none, 404 outside the caller's scope as for a student that does not exist)."""
    statement = (
        select(Student)
        .join(Major, col(Major.id) == Student.major_id)
        .where(Student.id == student_id)
    )
    student: Student | None = session.exec(
        scoped(statement, principal, Student.id, N_("students' credit banks"))
    ).first()
    if student is None:
        raise NotFound(_("No student with id {student_id}", student_id=student_id))
    return student
