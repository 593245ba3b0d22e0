"""The summary: count and Σ headcount per certificate, college, major, level or tier."""

from typing import Any

import pytest
from sqlmodel import Session
from starlette.testclient import TestClient

from app.applications.models import ApplicationStatus, Tier
from app.reference.models import Level
from tests.applications.factories import make_application
from tests.reference.factories import (
    make_certificate,
    make_college,
    make_major,
    manager_of,
    office,
)

URL = "/api/v1/reports/applications"


def _rows(body: dict[str, Any]) -> dict[str, tuple[int, int]]:
    return {row["label"]: (row["applications"], row["headcount"]) for row in body["rows"]}


def test_an_application_spanning_two_colleges_counts_in_each_and_once_in_the_totals(
    client: TestClient, db: Session
) -> None:
    a, b = make_college(db, "甲学院"), make_college(db, "乙学院")
    make_application(db, majors=[make_major(db, a), make_major(db, b)], headcount=100)
    make_application(db, majors=[make_major(db, a), make_major(db, a)], headcount=30)

    body = client.get(URL, params={"group_by": "college"}, headers=office(db)).json()

    assert _rows(body) == {"甲学院": (2, 130), "乙学院": (1, 100)}
    assert (body["total_applications"], body["total_headcount"]) == (2, 130)


def test_groups_by_certificate_level_tier_and_major(client: TestClient, db: Session) -> None:
    certificate = make_certificate(db, name="云服务操作管理")
    major = make_major(db, name="云计算技术")
    make_application(db, certificate=certificate, majors=[major], headcount=10)
    make_application(
        db,
        certificate=certificate,
        majors=[major],
        level=Level.junior,
        tier=Tier.secondary_vocational,
        headcount=5,
    )
    headers = office(db)

    def report(group_by: str) -> dict[str, tuple[int, int]]:
        response = client.get(URL, params={"group_by": group_by}, headers=headers)
        assert response.status_code == 200, response.text
        return _rows(response.json())

    assert report("certificate") == {"云服务操作管理": (2, 15)}
    assert report("level") == {"中级": (1, 10), "初级": (1, 5)}
    assert report("tier") == {"中职": (1, 5), "高职": (1, 10)}
    assert report("major") == {"云计算技术": (2, 15)}


def test_rejected_applications_and_other_years_are_left_out_unless_asked_for(
    client: TestClient, db: Session
) -> None:
    make_application(db, headcount=10, year=2022, cohorts=(2021,))
    make_application(db, headcount=20, year=2022, status=ApplicationStatus.rejected)
    make_application(db, headcount=40, year=2023, cohorts=(2022,))
    headers = office(db)

    this_year = client.get(URL, params={"year": 2022}, headers=headers).json()
    rejected = client.get(URL, params={"status": "rejected"}, headers=headers).json()

    assert this_year["total_headcount"] == 10
    assert rejected["total_headcount"] == 20


def test_a_college_manager_sees_the_summary_of_their_colleges_applications(
    client: TestClient, db: Session
) -> None:
    college = make_college(db)
    make_application(db, majors=[make_major(db, college)], headcount=12)
    make_application(db, headcount=99)

    body = client.get(URL, headers=manager_of(db, college)).json()

    assert body["total_headcount"] == 12


@pytest.mark.usefixtures("chinese")
def test_the_summary_exports_as_csv_with_a_totals_row_and_as_xlsx(
    client: TestClient, db: Session
) -> None:
    make_application(db, headcount=25)
    headers = office(db)

    csv = client.get(URL, params={"format": "csv", "group_by": "tier"}, headers=headers)
    xlsx = client.get(URL, params={"format": "xlsx"}, headers=headers)

    assert csv.status_code == 200
    lines = csv.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "本科/高职/中职,申报数,申报人数"
    assert lines[-1] == "合计,1,25"
    assert xlsx.status_code == 200
    assert xlsx.content.startswith(b"PK")


def test_an_unknown_grouping_is_422(client: TestClient, db: Session) -> None:
    response = client.get(URL, params={"group_by": "teacher"}, headers=office(db))

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "query.group_by"
