"""The issue's Done-when on the demo data, through the HTTP API: computing gives each 2022
pilot its indicators, two committee scores change the ranking, finalizing freezes the figures
against a later exam result, and failing pilots are flagged."""

from decimal import ROUND_HALF_UP, Decimal

from sqlmodel import Session, col, select
from starlette.testclient import TestClient

from app.applications.models import PilotApplication
from app.demo.loader import load_demo
from app.exams.models import ExamSession
from app.reference.models import Certificate
from tests.exams.factories import make_registration, make_result, pilot_students
from tests.reference.factories import office

EVALUATIONS = "/api/v1/evaluations"


def _ranking(client: TestClient, headers: dict[str, str]) -> list[dict]:
    response = client.get(EVALUATIONS, params={"year": 2022, "limit": 500}, headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict] = response.json()["items"]
    return items


def _score(client: TestClient, headers: dict[str, str], evaluation_id: int, value: int) -> None:
    response = client.put(
        f"{EVALUATIONS}/{evaluation_id}/committee-score", json={"score": value}, headers=headers
    )
    assert response.status_code == 200, response.text


def test_demo_year_is_computed_ranked_frozen_and_flagged(client: TestClient, db: Session) -> None:
    assert load_demo(db, "admin", "demo-password-123").created
    web = db.exec(
        select(PilotApplication)
        .join(Certificate, col(Certificate.id) == PilotApplication.certificate_id)
        .where(Certificate.normalized_name == "web前端开发")
    ).one()
    headers = office(db)

    computed = client.post(f"{EVALUATIONS}/compute", params={"year": 2022}, headers=headers)
    assert computed.status_code == 200, computed.text
    ranking = _ranking(client, headers)
    assert len(ranking) == 32
    first = ranking[0]
    assert first["application_id"] == web.id and first["committee_score"] == "88.0"
    values = {i["key"]: i["value"] for i in first["indicators"]}
    assert values["pass_rate"] == "85.7"  # 6 of the 7 who sat
    assert values["certificates_issued"] == "6"
    assert values["teacher_coverage"] == "66.7"
    funding = client.get(
        "/api/v1/reports/funding",
        params={"year": 2022, "group_by": "application"},
        headers=headers,
    ).json()
    row = next(r for r in funding["rows"] if r["key"] == str(web.id))
    rate = Decimal(row["spent"]) / Decimal(row["allocated"]) * 100
    assert Decimal(values["budget_execution"]) == rate.quantize(Decimal("0.1"), ROUND_HALF_UP)
    assert values["conversions_approved"] == "1"  # the demo student's approved conversion

    unscored = [e for e in ranking if e["committee_score"] is None]
    a, b = unscored[0], unscored[1]
    assert a["total"] == b["total"]
    _score(client, headers, a["id"], 100)
    _score(client, headers, b["id"], 30)
    ranks = {e["id"]: e["rank"] for e in _ranking(client, headers)}
    assert ranks[a["id"]] < ranks[b["id"]]
    _score(client, headers, b["id"], 100)
    _score(client, headers, a["id"], 30)
    ranks = {e["id"]: e["rank"] for e in _ranking(client, headers)}
    assert ranks[b["id"]] < ranks[a["id"]]

    for evaluation in _ranking(client, headers):
        if evaluation["committee_score"] is None:
            _score(client, headers, evaluation["id"], 50)
    finalized = client.post(f"{EVALUATIONS}/finalize", params={"year": 2022}, headers=headers)
    assert finalized.status_code == 200, finalized.text
    frozen = client.get(f"{EVALUATIONS}/{first['id']}", headers=headers).json()

    held = db.exec(
        select(ExamSession)
        .where(ExamSession.application_id == web.id)
        .order_by(col(ExamSession.exam_date))
    ).first()
    assert held is not None
    make_result(db, make_registration(db, held, pilot_students(db, web, 1)[0]), passed=True)

    assert client.get(f"{EVALUATIONS}/{first['id']}", headers=headers).json() == frozen
    again = client.post(f"{EVALUATIONS}/compute", params={"year": 2022}, headers=headers)
    assert again.status_code == 409
    flagged = [e for e in _ranking(client, headers) if e["needs_rectification"]]
    assert flagged and all(e["rating"] == "不合格" for e in flagged)
