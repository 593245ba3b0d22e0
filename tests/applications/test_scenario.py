"""Done-when, as a new user would do it through the API: import the majors, import the 2022
table, approve it, file plans for two majors with 4 core courses each, return one, refile it,
and check the summary against the table (3,300)."""

import pytest
from sqlmodel import Session
from starlette.testclient import TestClient

from app.core.roles import Role
from tests.applications.factories import import_table, load_sample_majors
from tests.factories import DEFAULT_PASSWORD, make_user


def _login(client: TestClient, username: str) -> dict[str, str]:
    response = client.post(
        "/api/v1/auth/token", data={"username": username, "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _one(client: TestClient, headers: dict[str, str], path: str, **params: object) -> dict:  # type: ignore[type-arg]
    response = client.get(f"/api/v1/{path}", params=params, headers=headers)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert len(items) == 1, items
    result: dict = items[0]  # type: ignore[type-arg]
    return result


@pytest.mark.usefixtures("chinese")
def test_import_approve_file_return_refile_and_summarise_the_2022_pilots(
    client: TestClient, db: Session
) -> None:
    make_user(db, Role.academic_office, username="office")
    office = _login(client, "office")

    # 1. majors, then the table as the office typed it
    load_sample_majors(client, office)
    imported = import_table(client, office, year=2022)
    assert imported.status_code == 200, imported.text
    assert imported.json()["created"] == 32

    # 2. submit and approve every application
    listed = client.get(
        "/api/v1/applications", params={"year": 2022, "limit": 100}, headers=office
    ).json()
    assert listed["total"] == 32
    for application in listed["items"]:
        for action in ("submit", "approve"):
            response = client.post(
                f"/api/v1/applications/{application['id']}/{action}", headers=office
            )
            assert response.status_code == 200, response.text
    approved = client.get(
        "/api/v1/applications", params={"status": "approved", "limit": 1}, headers=office
    )
    assert approved.json()["total"] == 32

    # 3. two majors of 计算机与软件学院 in the Web front-end pilot, with 4 courses each
    college = _one(client, office, "colleges", q="计算机与软件学院")
    software = _one(client, office, "majors", q="510203")
    applied = _one(client, office, "majors", q="510201")
    web = client.get(
        "/api/v1/applications",
        params={"major_id": software["id"], "year": 2022, "limit": 10},
        headers=office,
    ).json()
    pilot = next(a for a in web["items"] if a["certificate_name"] == "Web前端开发")
    assert {software["id"], applied["id"]} <= {m["id"] for m in pilot["majors"]}
    courses: dict[int, list[int]] = {}
    for major in (software, applied):
        courses[major["id"]] = []
        for n in range(4):
            created = client.post(
                "/api/v1/courses",
                json={
                    "code": f"{major['code']}-{n}",
                    "name": f"{major['name']}核心课{n}",
                    "credits": "4",
                    "college_id": college["id"],
                    "major_ids": [major["id"]],
                },
                headers=office,
            )
            assert created.status_code == 201, created.text
            courses[major["id"]].append(created.json()["id"])

    make_user(db, Role.college_manager, username="cs-secretary", college_id=college["id"])
    db.commit()
    secretary = _login(client, "cs-secretary")

    # 4. the college files a plan for each major
    plans = {}
    for major in (software, applied):
        created = client.post(
            "/api/v1/plans",
            json={
                "application_id": pilot["id"],
                "major_id": major["id"],
                "core_course_ids": courses[major["id"]],
                "programme_revision": "将Web前端开发证书标准融入人才培养方案",
                "teacher_training": "2名教师参加师资培训",
                "student_training": "第三学期集中培训32学时",
                "exam_arrangements": "2022年12月校内考点",
                "training_resources": "前端实训室",
                "course_resources": "在线课程资源",
                "budget_amount": "20000.00",
                "budget_text": "设备与培训",
            },
            headers=secretary,
        )
        assert created.status_code == 201, created.text
        plans[major["id"]] = created.json()["id"]
        filed = client.post(f"/api/v1/plans/{plans[major['id']]}/file", headers=secretary)
        assert filed.status_code == 200, filed.text
        assert filed.json()["status"] == "filed"

    # 5. the office returns one, the college fixes and refiles it, the office acknowledges both
    returned_id = plans[applied["id"]]
    returned = client.post(
        f"/api/v1/plans/{returned_id}/return",
        json={"reason": "考核安排不具体"},
        headers=office,
    )
    assert returned.json()["status"] == "returned"
    overview = client.get(f"/api/v1/applications/{pilot['id']}", headers=office).json()
    status_by_major = {m["id"]: m["plan_status"] for m in overview["majors"]}
    assert status_by_major[applied["id"]] == "returned"
    assert status_by_major[software["id"]] == "filed"
    assert [m for m in overview["majors"] if m["plan_status"] is None]  # who has not filed

    current = client.get(f"/api/v1/plans/{returned_id}", headers=secretary)
    fixed = client.patch(
        f"/api/v1/plans/{returned_id}",
        json={"exam_arrangements": "2022年12月10日 校内考点 A301"},
        headers={**secretary, "If-Match": current.headers["ETag"]},
    )
    assert fixed.status_code == 200, fixed.text
    refiled = client.post(f"/api/v1/plans/{returned_id}/file", headers=secretary)
    assert refiled.json()["status"] == "filed"
    for plan_id in plans.values():
        acknowledged = client.post(f"/api/v1/plans/{plan_id}/acknowledge", headers=office)
        assert acknowledged.json()["status"] == "acknowledged"

    # 6. the summary matches the table
    for group_by in ("certificate", "college", "major", "level", "tier"):
        report = client.get(
            "/api/v1/reports/applications",
            params={"year": 2022, "group_by": group_by},
            headers=office,
        )
        assert report.status_code == 200, report.text
        assert report.json()["total_applications"] == 32
        assert report.json()["total_headcount"] == 3300
    by_tier = client.get(
        "/api/v1/reports/applications", params={"year": 2022, "group_by": "tier"}, headers=office
    ).json()
    assert by_tier["rows"] == [
        {"key": "高职", "label": "高职", "applications": 32, "headcount": 3300}
    ]
    by_major = client.get(
        "/api/v1/reports/applications", params={"year": 2022, "group_by": "major"}, headers=office
    ).json()
    assert len(by_major["rows"]) == 37
    csv = client.get(
        "/api/v1/reports/applications",
        params={"year": 2022, "group_by": "college", "format": "csv"},
        headers=office,
    )
    assert csv.content.decode("utf-8-sig").splitlines()[-1] == "合计,32,3300"

    # uploading the table again changes nothing
    again = import_table(client, office, year=2022)
    assert (again.json()["created"], again.json()["updated"], again.json()["unchanged"]) == (
        0,
        0,
        32,
    )
