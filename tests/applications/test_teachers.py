"""Teachers assigned to a pilot as trainer and/or evaluator."""

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.applications.models import ApplicationStatus, PilotTeacher
from app.core.roles import Role
from tests.applications.factories import make_application
from tests.factories import assert_answered_as_missing
from tests.reference.factories import (
    headers_for,
    make_college,
    make_major,
    make_teacher,
    manager_of,
    office,
)

URL = "/api/v1/applications"


def test_office_assigns_a_teacher_as_trainer_and_evaluator_and_lists_them(
    client: TestClient, db: Session
) -> None:
    application = make_application(db, status=ApplicationStatus.approved)
    teacher = make_teacher(db)
    headers = office(db)

    created = client.post(
        f"{URL}/{application.id}/teachers",
        json={"teacher_id": teacher.id, "roles": ["trainer", "evaluator"]},
        headers=headers,
    )
    listed = client.get(f"{URL}/{application.id}/teachers", headers=headers)

    assert created.status_code == 201, created.text
    assert created.json()["roles"] == ["trainer", "evaluator"]
    assert created.json()["staff_no"] == teacher.staff_no
    assert listed.json()["total"] == 1
    assert listed.json()["items"][0]["teacher_id"] == teacher.id
    row = db.exec(select(PilotTeacher)).one()
    assert (row.trainer, row.evaluator) == (True, True)


def test_assigning_the_same_teacher_twice_is_409(client: TestClient, db: Session) -> None:
    application = make_application(db)
    teacher = make_teacher(db)
    headers = office(db)
    url = f"{URL}/{application.id}/teachers"
    client.post(url, json={"teacher_id": teacher.id, "roles": ["trainer"]}, headers=headers)

    again = client.post(
        url, json={"teacher_id": teacher.id, "roles": ["evaluator"]}, headers=headers
    )

    assert again.status_code == 409
    assert "already assigned" in again.json()["detail"]


def test_a_role_is_required_and_must_be_trainer_or_evaluator(
    client: TestClient, db: Session
) -> None:
    application = make_application(db)
    teacher = make_teacher(db)
    headers = office(db)
    url = f"{URL}/{application.id}/teachers"

    none = client.post(url, json={"teacher_id": teacher.id, "roles": []}, headers=headers)
    wrong = client.post(
        url, json={"teacher_id": teacher.id, "roles": ["examiner"]}, headers=headers
    )
    unknown = client.post(url, json={"teacher_id": 999999, "roles": ["trainer"]}, headers=headers)

    assert none.status_code == 422
    assert wrong.status_code == 422
    assert unknown.status_code == 422
    assert "No teacher with id 999999" in unknown.json()["detail"]


def test_teachers_are_not_assigned_to_a_closed_pilot(client: TestClient, db: Session) -> None:
    application = make_application(db, status=ApplicationStatus.closed)
    teacher = make_teacher(db)

    response = client.post(
        f"{URL}/{application.id}/teachers",
        json={"teacher_id": teacher.id, "roles": ["trainer"]},
        headers=office(db),
    )

    assert response.status_code == 409
    assert response.json()["code"] == "invalid_state"
    assert response.json()["current_state"] == "closed"


def test_a_closed_pilot_keeps_its_teachers(client: TestClient, db: Session) -> None:
    application = make_application(db, status=ApplicationStatus.approved)
    teacher = make_teacher(db)
    headers = office(db)
    url = f"{URL}/{application.id}"
    client.post(
        f"{url}/teachers", json={"teacher_id": teacher.id, "roles": ["trainer"]}, headers=headers
    )
    assert client.post(f"{url}/close", headers=headers).status_code == 200

    response = client.delete(f"{url}/teachers/{teacher.id}", headers=headers)

    assert response.status_code == 409, response.text
    assert response.json()["code"] == "invalid_state"
    assert response.json()["current_state"] == "closed"
    assert "removed only while it is draft, submitted or approved" in response.json()["detail"]
    db.expire_all()
    assert [t.teacher_id for t in db.exec(select(PilotTeacher)).all()] == [teacher.id]


def test_college_manager_assigns_own_teachers_to_a_pilot_of_their_college_only(
    client: TestClient, db: Session
) -> None:
    college = make_college(db)
    own_pilot = make_application(db, majors=[make_major(db, college)])
    other_pilot = make_application(db, majors=[make_major(db)])
    own_teacher = make_teacher(db, college)
    other_teacher = make_teacher(db)
    headers = manager_of(db, college)

    ok = client.post(
        f"{URL}/{own_pilot.id}/teachers",
        json={"teacher_id": own_teacher.id, "roles": ["trainer"]},
        headers=headers,
    )
    foreign_teacher = client.post(
        f"{URL}/{own_pilot.id}/teachers",
        json={"teacher_id": other_teacher.id, "roles": ["trainer"]},
        headers=headers,
    )
    foreign_pilot = client.post(
        f"{URL}/{other_pilot.id}/teachers",
        json={"teacher_id": own_teacher.id, "roles": ["trainer"]},
        headers=headers,
    )

    missing_teacher = client.post(
        f"{URL}/{own_pilot.id}/teachers",
        json={"teacher_id": 999999, "roles": ["trainer"]},
        headers=headers,
    )

    assert ok.status_code == 201
    # Another college's teacher is answered as a missing one: no staff number, no college id.
    assert foreign_teacher.status_code == 422
    assert_answered_as_missing(foreign_teacher, missing_teacher, other_teacher.id, 999999)
    assert other_teacher.staff_no not in foreign_teacher.text
    assert foreign_pilot.status_code == 404


def test_a_teacher_sees_the_pilots_they_are_assigned_to(client: TestClient, db: Session) -> None:
    assigned = make_application(db)
    make_application(db)
    teacher = make_teacher(db)
    client.post(
        f"{URL}/{assigned.id}/teachers",
        json={"teacher_id": teacher.id, "roles": ["evaluator"]},
        headers=office(db),
    )
    headers = headers_for(db, Role.teacher, teacher_id=teacher.id)

    listed = client.get(URL, headers=headers).json()
    refused = client.post(
        f"{URL}/{assigned.id}/teachers",
        json={"teacher_id": teacher.id, "roles": ["trainer"]},
        headers=headers,
    )

    assert [a["id"] for a in listed["items"]] == [assigned.id]
    assert refused.status_code == 403


def test_removing_an_assignment_deletes_it_and_removing_it_again_is_404(
    client: TestClient, db: Session
) -> None:
    application = make_application(db)
    teacher = make_teacher(db)
    headers = office(db)
    client.post(
        f"{URL}/{application.id}/teachers",
        json={"teacher_id": teacher.id, "roles": ["trainer"]},
        headers=headers,
    )

    removed = client.delete(f"{URL}/{application.id}/teachers/{teacher.id}", headers=headers)
    again = client.delete(f"{URL}/{application.id}/teachers/{teacher.id}", headers=headers)

    assert removed.status_code == 204
    assert again.status_code == 404
    assert db.exec(select(PilotTeacher)).all() == []


@pytest.mark.usefixtures("chinese")
def test_the_teacher_list_pages_and_exports_csv_and_xlsx(client: TestClient, db: Session) -> None:
    application = make_application(db, status=ApplicationStatus.approved)
    teachers = sorted((make_teacher(db) for _ in range(3)), key=lambda t: t.staff_no)
    headers = office(db)
    url = f"{URL}/{application.id}/teachers"
    for teacher in teachers:
        client.post(url, json={"teacher_id": teacher.id, "roles": ["trainer"]}, headers=headers)

    page = client.get(url, params={"limit": 2, "offset": 1}, headers=headers)
    csv = client.get(url, params={"format": "csv"}, headers=headers)
    xlsx = client.get(url, params={"format": "xlsx"}, headers=headers)
    missing = client.get(f"{URL}/99999/teachers", params={"format": "csv"}, headers=headers)

    assert page.json()["total"] == 3
    assert [t["staff_no"] for t in page.json()["items"]] == [t.staff_no for t in teachers[1:]]
    assert csv.status_code == 200, csv.text
    name = f"application-{application.id}-teachers.csv"
    assert f'filename="{name}"' in csv.headers["content-disposition"]
    lines = csv.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "申报序号,工号,姓名,角色,指派时间"
    assert [line.split(",")[1] for line in lines[1:]] == [t.staff_no for t in teachers]
    assert lines[1].split(",")[3] == "培训教师"
    assert xlsx.status_code == 200 and xlsx.content.startswith(b"PK")
    assert missing.status_code == 404
