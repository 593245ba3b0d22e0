"""Who sees and changes which reference rows."""

from sqlmodel import Session
from starlette.testclient import TestClient

from app.core.roles import Role
from tests.reference.factories import (
    headers_for,
    make_certificate,
    make_college,
    make_major,
    make_student,
    manager_of,
)


def test_college_manager_lists_only_their_own_colleges_majors(
    client: TestClient, db: Session
) -> None:
    own, other = make_college(db), make_college(db)
    mine = make_major(db, own)
    make_major(db, other)
    body = client.get("/api/v1/majors", headers=manager_of(db, own)).json()
    assert [m["id"] for m in body["items"]] == [mine.id]


def test_college_manager_cannot_read_another_colleges_student(
    client: TestClient, db: Session
) -> None:
    own, other = make_college(db), make_college(db)
    student = make_student(db, make_major(db, other))
    response = client.get(f"/api/v1/students/{student.id}", headers=manager_of(db, own))
    assert response.status_code == 404


def test_college_manager_cannot_create_a_major_in_another_college(
    client: TestClient, db: Session
) -> None:
    own, other = make_college(db), make_college(db)
    response = client.post(
        "/api/v1/majors",
        json={"code": "X1", "name": "别人的专业", "college_id": other.id},
        headers=manager_of(db, own),
    )
    assert response.status_code == 403
    assert response.json()["code"] == "out_of_scope"


def test_college_manager_creates_a_major_in_their_college(client: TestClient, db: Session) -> None:
    own = make_college(db)
    response = client.post(
        "/api/v1/majors",
        json={"code": "X1", "name": "自己的专业", "college_id": own.id},
        headers=manager_of(db, own),
    )
    assert response.status_code == 201
    assert response.json()["college_name"] == own.name


def test_student_reads_only_their_own_record(client: TestClient, db: Session) -> None:
    major = make_major(db)
    me = make_student(db, major)
    someone = make_student(db, major)
    headers = headers_for(db, Role.student, student_id=me.id)
    body = client.get("/api/v1/students", headers=headers).json()
    assert [s["id"] for s in body["items"]] == [me.id]
    assert client.get(f"/api/v1/students/{someone.id}", headers=headers).status_code == 404


def test_certificates_are_readable_by_every_role(client: TestClient, db: Session) -> None:
    make_certificate(db)
    major = make_major(db)
    student = make_student(db, major)
    headers = headers_for(db, Role.student, student_id=student.id)
    assert client.get("/api/v1/certificates", headers=headers).json()["total"] == 1
    assert client.get("/api/v1/evaluation-orgs", headers=headers).json()["total"] == 1


def test_evaluation_org_may_not_list_students(client: TestClient, db: Session) -> None:
    cert = make_certificate(db)
    headers = headers_for(db, Role.evaluation_org, evaluation_org_id=cert.evaluation_org_id)
    assert client.get("/api/v1/students", headers=headers).status_code == 403
