"""Who sees and changes which reference rows."""

from sqlmodel import Session
from starlette.testclient import TestClient

from app.core.roles import Role
from tests.factories import assert_answered_as_missing
from tests.reference.factories import (
    headers_for,
    make_certificate,
    make_college,
    make_course,
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


def test_a_major_of_another_college_is_answered_to_a_manager_as_a_missing_one(
    client: TestClient, db: Session
) -> None:
    college = make_college(db)
    ours, theirs = make_major(db, college), make_major(db, make_college(db))
    student = make_student(db, ours)
    course = make_course(db, college)
    headers = manager_of(db, college)
    new_student = {"student_no": "S-NEW-1", "name": "新生", "cohort": 2022}
    new_course = {"code": "C-NEW-1", "name": "新课", "college_id": college.id}

    def both(method: str, url: str, body: dict[str, object], field: str) -> None:
        many = field.endswith("_ids")
        named = {**body, field: [theirs.id] if many else theirs.id}
        missing = {**body, field: [999999] if many else 999999}
        refused = client.request(method, url, json=named, headers=headers)
        absent = client.request(method, url, json=missing, headers=headers)
        assert refused.status_code == 422, refused.text
        assert_answered_as_missing(refused, absent, theirs.id, 999999)
        assert theirs.name not in refused.text

    both("POST", "/api/v1/students", new_student, "major_id")
    both("PATCH", f"/api/v1/students/{student.id}", {}, "major_id")
    both("POST", "/api/v1/courses", new_course, "major_ids")
    both("PATCH", f"/api/v1/courses/{course.id}", {}, "major_ids")
