"""An audited single-row update is a handful of statements: the principal, the locked row (with
what its answer joins), the UPDATE and the audit event's INSERT; its answer is built from what
the write already read, and equals what a GET reads afterwards."""

from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.testclient import TestClient

from app.applications.models import PilotApplication
from app.core.audit import AuditEvent
from app.reference.models import Student
from tests.applications.factories import make_application
from tests.reference.factories import counting, make_college, make_major, make_student, office

MAX_STATEMENTS = 6
"""Every statement the database runs for the request, ``BEGIN IMMEDIATE`` on SQLite included."""


def _patch_counted(
    client: TestClient, engine: Engine, path: str, headers: dict[str, str], body: dict[str, Any]
) -> tuple[Any, list[str]]:
    etag = client.get(path, headers=headers).headers["etag"]
    with counting(engine) as statements:
        response = client.patch(path, headers={**headers, "If-Match": etag}, json=body)
    assert response.status_code == 200, response.text
    return response, statements


def test_an_application_patch_runs_at_most_six_statements_and_answers_as_a_get_does(
    client: TestClient, db: Session, engine: Engine
) -> None:
    application = make_application(db)
    headers = office(db)
    path = f"/api/v1/applications/{application.id}"

    response, statements = _patch_counted(
        client, engine, path, headers, {"headcount": 44, "contact": "王老师"}
    )

    assert len(statements) <= MAX_STATEMENTS, "\n".join(statements)
    again = client.get(path, headers=headers)
    body = response.json()
    assert body["headcount"] == 44 and body["contact"] == "王老师"
    assert body["version"] == application.version + 1
    assert response.headers["etag"] == again.headers["etag"] == f'"{body["version"]}"'
    assert {k: v for k, v in again.json().items() if k in body} == body
    stored = db.get(PilotApplication, application.id, populate_existing=True)
    assert stored is not None and stored.headcount == 44
    event = db.exec(  # type: ignore[call-overload]
        AuditEvent.__table__.select().where(AuditEvent.entity == "pilot_application")
    ).all()[-1]
    assert event.before["headcount"] == 40 and event.after["headcount"] == 44
    assert event.after["major_ids"] == event.before["major_ids"]


def test_a_student_and_a_college_patch_run_at_most_six_statements(
    client: TestClient, db: Session, engine: Engine
) -> None:
    student = make_student(db)
    college = make_college(db)
    headers = office(db)

    student_response, student_statements = _patch_counted(
        client, engine, f"/api/v1/students/{student.id}", headers, {"name": "李雷"}
    )
    college_response, college_statements = _patch_counted(
        client, engine, f"/api/v1/colleges/{college.id}", headers, {"name": "新学院"}
    )

    assert len(student_statements) <= MAX_STATEMENTS, "\n".join(student_statements)
    assert len(college_statements) <= MAX_STATEMENTS, "\n".join(college_statements)
    assert (
        student_response.json()
        == client.get(f"/api/v1/students/{student.id}", headers=headers).json()
    )
    assert student_response.json()["name"] == "李雷"
    assert college_response.json()["name"] == "新学院"
    stored = db.get(Student, student.id, populate_existing=True)
    assert stored is not None and stored.name == "李雷"


def test_an_application_patch_that_moves_its_majors_answers_the_new_majors(
    client: TestClient, db: Session
) -> None:
    application = make_application(db)
    new_major = make_major(db)
    headers = office(db)
    path = f"/api/v1/applications/{application.id}"

    response = client.patch(path, headers=headers, json={"major_ids": [new_major.id]})

    assert response.status_code == 200, response.text
    body = response.json()
    assert [m["id"] for m in body["majors"]] == [new_major.id]
    again = client.get(path, headers=headers).json()
    assert {k: v for k, v in again.items() if k in body} == body
