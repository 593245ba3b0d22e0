"""The demo shows issue 19's measures through the HTTP API: a training base with its partners,
the held exam at it and its equipment spend in the funding report by base; the Web front-end
pilot's evaluator coverage beside its trainer coverage; the 双师型 share in the overview."""

from sqlmodel import Session
from starlette.testclient import TestClient

from app.demo.loader import DEMO_BASE, load_demo
from tests.reference.factories import office


def test_the_demo_shows_a_base_with_its_equipment_spend_evaluators_and_the_dual_share(
    client: TestClient, db: Session
) -> None:
    assert load_demo(db, "admin", "demo-password-123").created
    headers = office(db)

    bases = client.get("/api/v1/training-bases", headers=headers).json()["items"]
    base = next(b for b in bases if b["name"] == DEMO_BASE)
    sessions = client.get(
        "/api/v1/exam-sessions", params={"base_id": base["id"]}, headers=headers
    ).json()
    funding = client.get(
        "/api/v1/reports/funding", params={"year": 2022, "group_by": "base"}, headers=headers
    ).json()
    coverage = client.get(
        "/api/v1/reports/teacher-coverage", params={"year": 2022}, headers=headers
    ).json()
    overview = client.get("/api/v1/reports/overview", params={"year": 2022}, headers=headers)

    assert base["exam_site"] is True and base["stations"] == 40
    assert len(base["partners"]) == 2 and base["application_ids"]
    assert sessions["total"] == 1
    row = next(r for r in funding["rows"] if r["key"] == str(base["id"]))
    assert row["spent"] == "86500.00"
    web = next(p for p in coverage["pilots"] if p["application_id"] in base["application_ids"])
    assert (web["certified"], web["assigned"]) == (2, 3)
    assert web["evaluators"]["coverage_percent"] == 50.0
    assert web["evaluators"]["missing"] == ["陈刚 (T2001)"]
    assert overview.status_code == 200
    assert overview.json()["dual_qualified"] == {
        "teachers": 3,
        "dual_qualified": 2,
        "share_percent": 66.7,
    }
    assert overview.json()["teacher_coverage"]["evaluator_coverage_percent"] is not None
