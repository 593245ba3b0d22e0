"""Work plans: one per (approved application, major), filed by the major's college with 3–5 core
courses, acknowledged or returned by the academic office."""

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.applications.models import ApplicationStatus, PilotPlan, PlanStatus
from app.core.roles import Role
from app.reference.models import College, Major
from tests.applications.factories import major_courses, make_application
from tests.factories import assert_answered_as_missing
from tests.reference.factories import (
    counting,
    headers_for,
    make_college,
    make_course,
    make_major,
    manager_of,
    office,
)

URL = "/api/v1/plans"


def _plan(
    client: TestClient,
    headers: dict[str, str],
    application_id: int | None,
    major: Major,
    course_ids: list[int],
    **fields: Any,
) -> Any:
    return client.post(
        URL,
        json={
            "application_id": application_id,
            "major_id": major.id,
            "core_course_ids": course_ids,
            "programme_revision": "修订人才培养方案，融入证书标准",
            "budget_amount": "12000.50",
            **fields,
        },
        headers=headers,
    )


def _setup(
    db: Session, status: ApplicationStatus = ApplicationStatus.approved, courses: int = 4
) -> tuple[College, Major, int, list[int]]:
    college = make_college(db)
    major = make_major(db, college)
    application = make_application(db, majors=[major], status=status)
    course_ids = [c.id for c in major_courses(db, major, courses) if c.id is not None]
    assert application.id is not None
    return college, major, application.id, course_ids


def test_college_creates_a_draft_plan_that_the_application_shows(
    client: TestClient, db: Session
) -> None:
    college, major, application_id, course_ids = _setup(db)

    response = _plan(client, manager_of(db, college), application_id, major, course_ids)

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "draft"
    assert body["budget_amount"] == "12000.50"
    assert sorted(c["id"] for c in body["core_courses"]) == sorted(course_ids)
    assert body["allowed_actions"] == ["update", "file"]
    shown = client.get(f"/api/v1/applications/{application_id}", headers=office(db)).json()
    assert shown["majors"][0]["plan_id"] == body["id"]
    assert shown["majors"][0]["plan_status"] == "draft"
    stored = db.exec(select(PilotPlan)).one()
    assert stored.budget_amount == Decimal("12000.50")


def test_a_plan_for_an_application_not_yet_approved_is_409(client: TestClient, db: Session) -> None:
    _, major, application_id, course_ids = _setup(db, ApplicationStatus.submitted)

    response = _plan(client, office(db), application_id, major, course_ids)

    assert response.status_code == 409
    assert response.json()["current_state"] == "submitted"
    assert "approved applications" in response.json()["detail"]


def test_a_second_plan_for_the_same_major_is_409_naming_the_first(
    client: TestClient, db: Session
) -> None:
    _, major, application_id, course_ids = _setup(db)
    headers = office(db)
    first = _plan(client, headers, application_id, major, course_ids).json()

    again = _plan(client, headers, application_id, major, course_ids)

    assert again.status_code == 409
    assert again.json()["existing_id"] == first["id"]


def test_a_plan_for_a_major_outside_the_application_or_another_college_is_refused(
    client: TestClient, db: Session
) -> None:
    college, major, application_id, course_ids = _setup(db)
    outsider = make_major(db, college)
    other_college = make_college(db)

    not_in_application = _plan(client, office(db), application_id, outsider, course_ids)
    other_manager = _plan(client, manager_of(db, other_college), application_id, major, [])
    auditor = _plan(client, headers_for(db, Role.auditor), application_id, major, [])

    assert not_in_application.status_code == 422
    assert "not one of application" in not_in_application.json()["detail"]
    assert other_manager.status_code == 422
    assert "No pilot application" in other_manager.json()["detail"]
    assert auditor.status_code == 403


def test_filing_needs_three_to_five_core_courses_of_the_major(
    client: TestClient, db: Session
) -> None:
    college, major, application_id, course_ids = _setup(db, courses=6)
    headers = manager_of(db, college)
    two = _plan(client, headers, application_id, major, course_ids[:2]).json()

    refused = client.post(f"{URL}/{two['id']}/file", headers=headers)

    assert refused.status_code == 422
    assert refused.json()["code"] == "plan_incomplete"
    assert "3 to 5 core courses; this one lists 2" in refused.json()["detail"]
    six = client.patch(f"{URL}/{two['id']}", json={"core_course_ids": course_ids}, headers=headers)
    assert six.status_code == 200
    assert client.post(f"{URL}/{two['id']}/file", headers=headers).status_code == 422
    foreign = make_course(db, college)
    mixed = [*course_ids[:3], foreign.id]
    client.patch(f"{URL}/{two['id']}", json={"core_course_ids": mixed}, headers=headers)
    not_the_majors = client.post(f"{URL}/{two['id']}/file", headers=headers)
    assert not_the_majors.status_code == 422
    assert foreign.code in not_the_majors.json()["detail"]
    client.patch(f"{URL}/{two['id']}", json={"core_course_ids": course_ids[:4]}, headers=headers)
    filed = client.post(f"{URL}/{two['id']}/file", headers=headers)
    assert filed.status_code == 200, filed.text
    assert filed.json()["status"] == "filed"
    assert filed.json()["filed_at"] is not None


def test_office_returns_a_filed_plan_with_a_reason_and_the_college_refiles_it(
    client: TestClient, db: Session
) -> None:
    college, major, application_id, course_ids = _setup(db)
    college_headers = manager_of(db, college)
    office_headers = office(db)
    plan = _plan(client, college_headers, application_id, major, course_ids).json()
    client.post(f"{URL}/{plan['id']}/file", headers=college_headers)

    no_reason = client.post(f"{URL}/{plan['id']}/return", json={}, headers=office_headers)
    by_college = client.post(
        f"{URL}/{plan['id']}/return", json={"reason": "x"}, headers=college_headers
    )
    returned = client.post(
        f"{URL}/{plan['id']}/return", json={"reason": "预算说明不足"}, headers=office_headers
    )

    assert no_reason.status_code == 422
    assert by_college.status_code == 403
    assert returned.status_code == 200
    assert returned.json()["status"] == "returned"
    assert returned.json()["return_reason"] == "预算说明不足"
    edited = client.patch(
        f"{URL}/{plan['id']}",
        json={"budget_text": "设备 8000 元，培训 4000.50 元"},
        headers={**college_headers, "If-Match": f'"{returned.json()["version"]}"'},
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["status"] == "draft"
    refiled = client.post(f"{URL}/{plan['id']}/file", headers=college_headers)
    assert refiled.json()["status"] == "filed"
    acknowledged = client.post(f"{URL}/{plan['id']}/acknowledge", headers=office_headers)
    assert acknowledged.json()["status"] == "acknowledged"
    assert acknowledged.json()["allowed_actions"] == []


def test_a_filed_plan_cannot_be_changed_or_filed_again(client: TestClient, db: Session) -> None:
    _, major, application_id, course_ids = _setup(db)
    headers = office(db)
    plan = _plan(client, headers, application_id, major, course_ids).json()
    client.post(f"{URL}/{plan['id']}/file", headers=headers)

    changed = client.patch(f"{URL}/{plan['id']}", json={"budget_text": "x"}, headers=headers)
    filed_again = client.post(f"{URL}/{plan['id']}/file", headers=headers)
    acknowledged = client.post(f"{URL}/{plan['id']}/acknowledge", headers=headers)

    assert changed.status_code == 409
    assert changed.json()["current_state"] == "filed"
    assert filed_again.status_code == 409
    assert filed_again.json()["allowed_actions"] == ["acknowledge", "return"]
    assert acknowledged.status_code == 200


def test_filing_after_the_application_was_closed_is_409(client: TestClient, db: Session) -> None:
    _, major, application_id, course_ids = _setup(db)
    headers = office(db)
    plan = _plan(client, headers, application_id, major, course_ids).json()
    client.post(f"/api/v1/applications/{application_id}/close", headers=headers)

    response = client.post(f"{URL}/{plan['id']}/file", headers=headers)

    assert response.status_code == 409
    assert response.json()["application_status"] == "closed"
    assert "Closed" in response.json()["detail"]
    db.expire_all()
    assert db.exec(select(PilotPlan.status)).one() == PlanStatus.draft


def test_a_plan_of_a_closed_application_is_kept_as_it_is(client: TestClient, db: Session) -> None:
    _, major, application_id, course_ids = _setup(db)
    headers = office(db)
    plan = _plan(client, headers, application_id, major, course_ids).json()
    client.post(f"/api/v1/applications/{application_id}/close", headers=headers)

    shown = client.get(f"{URL}/{plan['id']}", headers=headers)
    changed = client.patch(
        f"{URL}/{plan['id']}",
        json={"budget_text": "追加", "core_course_ids": course_ids[:3]},
        headers={**headers, "If-Match": shown.headers["ETag"]},
    )

    assert shown.json()["allowed_actions"] == []
    assert changed.status_code == 409, changed.text
    assert changed.json()["code"] == "invalid_state"
    assert changed.json()["application_status"] == "closed"
    assert "changed and filed only while it is approved" in changed.json()["detail"]
    db.expire_all()
    stored = db.exec(select(PilotPlan)).one()
    assert (stored.budget_text, stored.version) == (None, plan["version"])
    again = client.get(f"{URL}/{plan['id']}", headers=headers).json()
    assert sorted(c["id"] for c in again["core_courses"]) == sorted(course_ids)


def test_stale_if_match_on_a_plan_is_412(client: TestClient, db: Session) -> None:
    _, major, application_id, course_ids = _setup(db)
    headers = office(db)
    plan = _plan(client, headers, application_id, major, course_ids).json()

    response = client.patch(
        f"{URL}/{plan['id']}", json={"budget_text": "x"}, headers={**headers, "If-Match": '"9"'}
    )

    assert response.status_code == 412


def test_college_manager_lists_only_their_colleges_plans(client: TestClient, db: Session) -> None:
    college, major, application_id, course_ids = _setup(db)
    _, other_major, other_app, other_courses = _setup(db)
    headers = office(db)
    mine = _plan(client, headers, application_id, major, course_ids).json()
    _plan(client, headers, other_app, other_major, other_courses)

    listed = client.get(URL, headers=manager_of(db, college)).json()
    everything = client.get(URL, headers=headers).json()

    assert [p["id"] for p in listed["items"]] == [mine["id"]]
    assert everything["total"] == 2
    assert client.get(URL, params={"status": "filed"}, headers=headers).json()["total"] == 0


def test_a_college_manager_may_not_plan_for_another_colleges_major_in_a_shared_pilot(
    client: TestClient, db: Session
) -> None:
    college, other = make_college(db), make_college(db)
    own_major, other_major = make_major(db, college), make_major(db, other)
    application = make_application(
        db, majors=[own_major, other_major], status=ApplicationStatus.approved
    )

    response = _plan(client, manager_of(db, college), application.id, other_major, [])

    assert response.status_code == 403
    assert response.json()["code"] == "out_of_scope"


def test_only_the_academic_office_acknowledges_a_plan(client: TestClient, db: Session) -> None:
    college, major, application_id, course_ids = _setup(db)
    headers = manager_of(db, college)
    plan = _plan(client, headers, application_id, major, course_ids).json()
    client.post(f"{URL}/{plan['id']}/file", headers=headers)

    response = client.post(f"{URL}/{plan['id']}/acknowledge", headers=headers)

    assert response.status_code == 403
    assert response.json()["allowed_roles"] == ["academic_office"]


def test_plan_list_uses_the_same_number_of_statements_for_a_page_of_1_and_of_19_plans(
    client: TestClient, db: Session, engine: Engine
) -> None:
    college = make_college(db)
    majors = [make_major(db, college) for _ in range(20)]
    application = make_application(db, majors=majors, status=ApplicationStatus.approved)
    headers = office(db)
    for major in majors:
        course_ids = [c.id for c in major_courses(db, major, 3)]
        assert _plan(client, headers, application.id, major, course_ids).status_code == 201
    counts = []
    for limit in (1, 19):  # rows follow both pages (a last page is not counted)
        with counting(engine) as statements:
            response = client.get(URL, params={"limit": limit}, headers=headers)
        assert len(response.json()["items"]) == limit
        assert len(response.json()["items"][-1]["core_courses"]) == 3
        counts.append(len(statements))
    assert counts[0] == counts[1]


def test_a_section_may_be_cleared_with_null_but_the_course_list_may_not(
    client: TestClient, db: Session
) -> None:
    _, major, application_id, course_ids = _setup(db)
    headers = office(db)
    plan = _plan(client, headers, application_id, major, course_ids).json()

    cleared = client.patch(f"{URL}/{plan['id']}", json={"budget_amount": None}, headers=headers)
    refused = client.patch(f"{URL}/{plan['id']}", json={"core_course_ids": None}, headers=headers)

    assert cleared.status_code == 200
    assert cleared.json()["budget_amount"] is None
    assert refused.status_code == 422
    assert "core_course_ids cannot be null" in refused.json()["detail"]


@pytest.mark.usefixtures("chinese")
def test_plan_list_exports_csv_and_xlsx_with_the_core_courses(
    client: TestClient, db: Session
) -> None:
    college, major, application_id, course_ids = _setup(db, courses=3)
    headers = manager_of(db, college)
    plan = _plan(client, headers, application_id, major, course_ids).json()
    _setup(db)  # another college's pilot, without a plan

    csv = client.get(URL, params={"format": "csv"}, headers=headers)
    xlsx = client.get(URL, params={"format": "xlsx", "status": "filed"}, headers=headers)

    assert csv.status_code == 200, csv.text
    assert csv.headers["content-type"].startswith("text/csv")
    assert 'filename="plans.csv"' in csv.headers["content-disposition"]
    lines = csv.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "序号,申报序号,专业,状态,书证融通核心课程,经费预算(元),报备时间,退回原因"
    assert len(lines) == 2
    assert lines[1].startswith(f"{plan['id']},{application_id},{major.name},草稿,")
    names = "、".join(c["name"] for c in plan["core_courses"])
    assert names in lines[1] and "12000.50" in lines[1]
    assert xlsx.status_code == 200
    assert xlsx.content.startswith(b"PK")


def test_a_core_course_of_another_college_is_answered_to_a_manager_as_a_missing_one(
    client: TestClient, db: Session
) -> None:
    college, major, application_id, course_ids = _setup(db)
    theirs = make_course(db, make_college(db))
    headers = manager_of(db, college)

    refused = _plan(client, headers, application_id, major, [*course_ids[:2], theirs.id])
    missing = _plan(client, headers, application_id, major, [*course_ids[:2], 999999])
    created = _plan(client, headers, application_id, major, course_ids[:3])
    assert created.status_code == 201, created.text
    plan_url = f"{URL}/{created.json()['id']}"
    changed = client.patch(plan_url, json={"core_course_ids": [theirs.id]}, headers=headers)
    changed_missing = client.patch(plan_url, json={"core_course_ids": [999999]}, headers=headers)

    # A course the manager may not read is refused as a missing one, and never read back.
    assert refused.status_code == 422
    assert_answered_as_missing(refused, missing, theirs.id, 999999)
    assert_answered_as_missing(changed, changed_missing, theirs.id, 999999)
    assert theirs.name not in refused.text + changed.text
