"""Small helpers that put reference data in the database, and a SQL statement counter."""

import io
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.core.roles import Role
from app.reference.models import (
    Certificate,
    College,
    Course,
    EvaluationOrg,
    Level,
    Major,
    Student,
    Teacher,
    levels_to_text,
    normalise_certificate_name,
)
from tests.factories import login_as

_counter = itertools.count(1)


def _save(db: Session, row: Any) -> Any:
    db.add(row)
    db.commit()
    db.refresh(row)
    return row


def make_college(db: Session, name: str | None = None, code: str | None = None) -> College:
    return _save(db, College(name=name or f"学院{next(_counter)}", code=code))


def make_major(
    db: Session, college: College | None = None, code: str | None = None, name: str | None = None
) -> Major:
    college = college or make_college(db)
    n = next(_counter)
    return _save(
        db, Major(code=code or f"M{n:05d}", name=name or f"专业{n}", college_id=college.id)
    )


def make_course(db: Session, college: College | None = None, code: str | None = None) -> Course:
    college = college or make_college(db)
    n = next(_counter)
    return _save(
        db,
        Course(
            code=code or f"C{n:05d}", name=f"课程{n}", credits=Decimal("2.0"), college_id=college.id
        ),
    )


def make_teacher(
    db: Session, college: College | None = None, staff_no: str | None = None
) -> Teacher:
    college = college or make_college(db)
    n = next(_counter)
    return _save(
        db, Teacher(staff_no=staff_no or f"T{n:05d}", name=f"老师{n}", college_id=college.id)
    )


def make_student(
    db: Session, major: Major | None = None, student_no: str | None = None, cohort: int = 2022
) -> Student:
    major = major or make_major(db)
    n = next(_counter)
    return _save(
        db,
        Student(
            student_no=student_no or f"S{n:08d}",
            name=f"学生{n}",
            major_id=major.id,
            cohort=cohort,
            class_name="1班",
        ),
    )


def make_org(db: Session, name: str | None = None) -> EvaluationOrg:
    return _save(db, EvaluationOrg(name=name or f"评价组织{next(_counter)}"))


def make_certificate(
    db: Session, org: EvaluationOrg | None = None, name: str | None = None
) -> Certificate:
    org = org or make_org(db)
    name = name or f"证书{next(_counter)}"
    return _save(
        db,
        Certificate(
            name=name,
            normalized_name=normalise_certificate_name(name),
            evaluation_org_id=org.id,
            levels=levels_to_text([Level.junior, Level.intermediate]),
        ),
    )


def headers_for(db: Session, role: Role, **scope: Any) -> dict[str, str]:
    return login_as(db, role, **scope)


def office(db: Session) -> dict[str, str]:
    return headers_for(db, Role.academic_office)


def manager_of(db: Session, college: College) -> dict[str, str]:
    return headers_for(db, Role.college_manager, college_id=college.id)


def xlsx_bytes(rows: list[list[Any]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def default_scope_rows(db: Session) -> dict[str, int]:
    """A college, teacher, student and evaluation organisation with id 1: the ids that
    ``tests.factories.DEFAULT_SCOPE`` gives scoped users, which now must exist (foreign keys).
    Call it first in a test, while the tables are empty."""
    college = make_college(db)
    rows = {
        "college_id": college.id,
        "teacher_id": make_teacher(db, college).id,
        "student_id": make_student(db, make_major(db, college)).id,
        "evaluation_org_id": make_org(db).id,
    }
    assert set(rows.values()) == {1}, "call default_scope_rows() before creating other rows"
    return {name: int(value) for name, value in rows.items() if value is not None}


@contextmanager
def counting(engine: Engine) -> Iterator[list[str]]:
    """Collect the SQL of every statement ``engine`` runs inside the ``with`` block."""
    statements: list[str] = []

    def _count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", _count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", _count)
