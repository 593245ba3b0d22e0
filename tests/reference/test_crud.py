"""Reference data CRUD: natural keys, If-Match, referenced deletes, audit."""

from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.core.audit import AuditEvent
from app.core.roles import Role
from app.reference.models import College, Major
from tests.reference.factories import (
    headers_for,
    make_certificate,
    make_college,
    make_major,
    make_org,
    make_student,
    office,
)


def test_office_creates_a_college_and_the_change_is_audited(
    client: TestClient, db: Session
) -> None:
    response = client.post(
        "/api/v1/colleges", json={"name": " 外国语学院 ", "code": "FL"}, headers=office(db)
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["name"], body["code"], body["version"]) == ("外国语学院", "FL", 1)
    assert response.headers["etag"] == '"1"'
    event = db.exec(select(AuditEvent).where(AuditEvent.entity == "college")).one()
    assert (event.action, event.entity_id) == ("create", str(body["id"]))


def test_duplicate_college_name_is_409(client: TestClient, db: Session) -> None:
    make_college(db, "外国语学院")
    response = client.post("/api/v1/colleges", json={"name": "外国语学院"}, headers=office(db))
    assert response.status_code == 409
    assert response.json()["code"] == "duplicate"


def test_stale_if_match_is_412(client: TestClient, db: Session) -> None:
    college = make_college(db)
    headers = office(db)
    url = f"/api/v1/colleges/{college.id}"
    first = client.patch(url, json={"code": "A1"}, headers={**headers, "If-Match": '"1"'})
    assert first.status_code == 200
    assert first.headers["etag"] == '"2"'
    stale = client.patch(url, json={"code": "A2"}, headers={**headers, "If-Match": '"1"'})
    assert stale.status_code == 412


def test_deleting_a_college_still_referenced_names_what_refers_to_it(
    client: TestClient, db: Session
) -> None:
    college = make_college(db)
    make_major(db, college)
    make_major(db, college)
    response = client.delete(f"/api/v1/colleges/{college.id}", headers=office(db))
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "still_referenced"
    assert body["referenced_by"] == [{"entity": "majors", "count": 2}]
    assert db.get(College, college.id) is not None


def test_deleting_an_unreferenced_major_removes_it(client: TestClient, db: Session) -> None:
    major_id = make_major(db).id
    response = client.delete(f"/api/v1/majors/{major_id}", headers=office(db))
    assert response.status_code == 204
    assert db.exec(select(Major).where(Major.id == major_id)).first() is None


def test_major_with_unknown_college_is_422_naming_the_field(
    client: TestClient, db: Session
) -> None:
    response = client.post(
        "/api/v1/majors",
        json={"code": "510203", "name": "软件技术", "college_id": 999},
        headers=office(db),
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.college_id"


def test_course_lists_the_majors_that_teach_it(client: TestClient, db: Session) -> None:
    college = make_college(db)
    a = make_major(db, college, code="A1")
    b = make_major(db, college, code="B1")
    headers = office(db)
    created = client.post(
        "/api/v1/courses",
        json={
            "code": "C1",
            "name": "数据库",
            "credits": "3.5",
            "college_id": college.id,
            "major_ids": [b.id, a.id],
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    assert [m["code"] for m in created.json()["majors"]] == ["A1", "B1"]
    updated = client.patch(
        f"/api/v1/courses/{created.json()['id']}", json={"major_ids": [a.id]}, headers=headers
    )
    assert [m["code"] for m in updated.json()["majors"]] == ["A1"]
    assert updated.json()["version"] == 2


def test_certificate_names_are_unique_after_normalising(client: TestClient, db: Session) -> None:
    org = make_org(db)
    headers = office(db)
    first = client.post(
        "/api/v1/certificates",
        json={"name": "Web前端开发", "evaluation_org_id": org.id, "levels": ["高级", "初级"]},
        headers=headers,
    )
    assert first.status_code == 201
    assert first.json()["levels"] == ["初级", "高级"]
    second = client.post(
        "/api/v1/certificates",
        json={"name": "1+X Web 前端开发证书", "evaluation_org_id": org.id, "levels": ["初级"]},
        headers=headers,
    )
    assert second.status_code == 409


def test_certificates_filter_by_level(client: TestClient, db: Session) -> None:
    make_certificate(db)
    headers = office(db)
    assert client.get("/api/v1/certificates?level=中级", headers=headers).json()["total"] == 1
    assert client.get("/api/v1/certificates?level=高级", headers=headers).json()["total"] == 0


def test_students_filter_and_search(client: TestClient, db: Session) -> None:
    major = make_major(db)
    make_student(db, major, student_no="2020001", cohort=2020)
    make_student(db, major, student_no="2021001", cohort=2021)
    headers = office(db)
    body = client.get("/api/v1/students", params={"cohort": 2020}, headers=headers).json()
    assert [s["student_no"] for s in body["items"]] == ["2020001"]
    body = client.get("/api/v1/students", params={"q": "2021"}, headers=headers).json()
    assert [s["student_no"] for s in body["items"]] == ["2021001"]
    assert body["items"][0]["major_code"] == major.code


def test_teacher_may_not_create_colleges(client: TestClient, db: Session) -> None:
    college = make_college(db)
    from tests.reference.factories import make_teacher

    teacher = make_teacher(db, college)
    headers = headers_for(db, Role.teacher, teacher_id=teacher.id)
    response = client.post("/api/v1/colleges", json={"name": "新学院"}, headers=headers)
    assert response.status_code == 403


def test_user_scope_naming_a_missing_college_is_422(client: TestClient, db: Session) -> None:
    admin = headers_for(db, Role.admin)
    response = client.post(
        "/api/v1/users",
        json={
            "username": "manager1",
            "password": "long-enough-password",
            "role": "college_manager",
            "college_id": 4242,
        },
        headers=admin,
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.college_id"


def test_college_referenced_by_a_user_cannot_be_deleted(client: TestClient, db: Session) -> None:
    college = make_college(db)
    headers_for(db, Role.college_manager, college_id=college.id)
    response = client.delete(f"/api/v1/colleges/{college.id}", headers=office(db))
    assert response.status_code == 409
    assert response.json()["referenced_by"] == [{"entity": "users", "count": 1}]


def test_patch_refuses_null_for_a_required_field_but_clears_an_optional_one(
    client: TestClient, db: Session
) -> None:
    college = make_college(db, code="OLD")
    headers = office(db)
    url = f"/api/v1/colleges/{college.id}"
    assert client.patch(url, json={"name": None}, headers=headers).status_code == 422
    cleared = client.patch(url, json={"code": None}, headers=headers)
    assert cleared.status_code == 200
    assert cleared.json()["code"] is None


def test_course_credits_take_one_decimal_place(client: TestClient, db: Session) -> None:
    college = make_college(db)
    headers = office(db)
    body = {"code": "C9", "name": "课", "college_id": college.id}
    assert (
        client.post(
            "/api/v1/courses", json={**body, "credits": "3.25"}, headers=headers
        ).status_code
        == 422
    )
    created = client.post("/api/v1/courses", json={**body, "credits": 2.5}, headers=headers)
    assert created.json()["credits"] == "2.5"
