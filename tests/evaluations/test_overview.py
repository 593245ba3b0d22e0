"""The year's overview: each figure from the report that owns it."""

from sqlmodel import Session
from starlette.testclient import TestClient

from app.applications.models import ApplicationStatus
from app.core.roles import Role
from tests.evaluations.factories import YEAR, build_pilot, compute, score
from tests.exams.factories import make_pilot
from tests.reference.factories import headers_for, office

OVERVIEW = "/api/v1/reports/overview"


def test_overview_of_a_year(client: TestClient, db: Session) -> None:
    headers = office(db)
    build_pilot(db, sat=8, passed=7, headcount=10)
    idle = build_pilot(db, plan=False, teacher=False, headcount=20)
    make_pilot(db, status=ApplicationStatus.submitted, headcount=5)
    run = compute(client, headers).json()
    idle_evaluation = next(e for e in run["evaluations"] if e["application_id"] == idle.pilot.id)
    score(client, headers, idle_evaluation["id"], "30")

    response = client.get(OVERVIEW, params={"year": YEAR}, headers=headers_for(db, Role.auditor))

    assert response.status_code == 200, response.text
    body = response.json()
    statuses = {s["status"]: s for s in body["applications"]}
    assert statuses["approved"] == {"status": "approved", "applications": 2, "headcount": 30}
    assert statuses["submitted"]["applications"] == 1
    assert statuses["rejected"]["applications"] == 0
    assert body["headcount"] == 30
    assert body["funnel"]["registered"] == 8
    assert body["funnel"]["passed"] == 7 and body["funnel"]["certified"] == 7
    assert body["teacher_coverage"]["assigned"] == 1
    assert body["funds"] == {"allocated": "0.00", "spent": "0.00"}
    assert body["credits"]["conversions_approved"] == 0
    assert body["evaluations"]["by_rating"]["不合格"] == 1
    assert body["evaluations"]["by_rating"]["良好"] == 1
    assert body["evaluations"]["needs_rectification"] == 1
    assert body["evaluations"]["finalized"] is False


def test_overview_is_for_the_office_auditors_and_admins(client: TestClient, db: Session) -> None:
    for role in (Role.college_manager, Role.teacher, Role.student, Role.evaluation_org):
        response = client.get(OVERVIEW, headers=headers_for(db, role))
        assert response.status_code == 403, role
    assert client.get(OVERVIEW, headers=headers_for(db, Role.admin)).status_code == 200
