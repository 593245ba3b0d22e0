"""On PostgreSQL an upload's new rows go in with one COPY on the upload's own connection:
no INSERT per row, the same stored values, and a constraint that refuses a row refuses the
whole upload with 409."""

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.imports import engine as import_engine
from app.imports.models import ImportBatch
from app.reference.models import Major, Student
from tests.imports.helpers import count, upload
from tests.reference.factories import make_major, make_student, office


@pytest.fixture(autouse=True)
def _postgres_only(is_postgres: bool) -> None:
    if not is_postgres:
        pytest.skip("COPY is PostgreSQL's")


@pytest.fixture
def statements(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", before)
    yield seen
    sa.event.remove(engine, "before_cursor_execute", before)


def _students_csv(major: Major, numbers: list[str]) -> bytes:
    lines = ["学号,姓名,专业代码,年级,班级"]
    lines += [f"{n},学生{n},{major.code},2023级,软件1班" for n in numbers]
    return ("\n".join(lines) + "\n").encode()


def test_new_students_arrive_by_copy_with_version_and_timestamps(
    client: TestClient, db: Session, statements: list[str]
) -> None:
    major = make_major(db, code="510203")
    make_student(db, major=major, student_no="S0")
    before = datetime.now(UTC)
    content = _students_csv(major, ["S0", "S1", "S2", "S3"])
    response = upload(client, office(db), "students", "s.csv", content)
    assert response.status_code == 200, response.text
    assert (response.json()["created"], response.json()["updated"]) == (3, 1)
    assert not [s for s in statements if s.lstrip().upper().startswith("INSERT INTO STUDENTS")]
    stored = db.exec(select(Student).where(Student.student_no != "S0")).all()
    assert sorted(s.student_no for s in stored) == ["S1", "S2", "S3"]
    for student in stored:
        assert (student.name, student.major_id, student.cohort) == (
            f"学生{student.student_no}",
            major.id,
            2023,
        )
        assert (student.class_name, student.version) == ("软件1班", 1)
        assert student.created_at == student.updated_at
        assert student.created_at >= before.replace(microsecond=0)


def test_a_row_refused_by_a_constraint_during_the_copy_refuses_the_upload(
    client: TestClient,
    db: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Someone adds S2 after the upload compared its rows: the COPY meets the unique student
    number, the upload answers 409 and none of its rows is kept."""
    major = make_major(db, code="510203")
    compare = import_engine._compare

    def compare_then_someone_adds_s2(*args: Any, **kwargs: Any) -> Any:
        changes = compare(*args, **kwargs)
        make_student(db, major=major, student_no="S2")
        return changes

    monkeypatch.setattr(import_engine, "_compare", compare_then_someone_adds_s2)
    content = _students_csv(major, ["S1", "S2", "S3"])
    response = upload(client, office(db), "students", "s.csv", content)
    assert response.status_code == 409, response.text
    assert response.json()["code"] == "conflict"
    assert [s.student_no for s in db.exec(select(Student)).all()] == ["S2"]
    assert count(db, ImportBatch) == 0
