"""The issue's Done-when on the demo data, through the HTTP API: computing gives each 2022
pilot its indicators, two committee scores change the ranking, finalizing freezes the figures
against a later exam result, and failing pilots are flagged."""

from collections import Counter
from decimal import ROUND_HALF_UP, Decimal

from sqlmodel import Session, col, select
from starlette.testclient import TestClient

from app.applications.models import PilotApplication
from app.credits.models import ConversionRequest, RequestStatus
from app.demo.loader import load_demo
from app.exams.models import ExamSession
from app.funding.models import BudgetLine
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
    line = db.exec(select(BudgetLine).where(BudgetLine.application_id == web.id)).first()
    assert line is not None
    spent = client.post(
        "/api/v1/expenditures",
        json={"line_id": line.id, "amount": "100.00", "payee": "某公司", "voucher_no": "LATE-1"},
        headers=headers,
    )
    assert spent.status_code == 201, spent.text  # a later expenditure
    pending = db.exec(
        select(ConversionRequest).where(ConversionRequest.status == RequestStatus.submitted)
    ).all()
    assert pending
    for request in pending:  # later approved conversions
        approved = client.post(f"/api/v1/conversion-requests/{request.id}/approve", headers=headers)
        assert approved.status_code == 200, approved.text

    overview = client.get("/api/v1/reports/overview", params={"year": 2022}, headers=headers)
    assert overview.json()["credits"]["conversions_approved"] == 1 + len(pending)
    assert client.get(f"{EVALUATIONS}/{first['id']}", headers=headers).json() == frozen
    again = client.post(f"{EVALUATIONS}/compute", params={"year": 2022}, headers=headers)
    assert again.status_code == 409
    flagged = [e for e in _ranking(client, headers) if e["needs_rectification"]]
    assert flagged and all(e["rating"] == "不合格" for e in flagged)


def test_demo_overview_agrees_with_each_owning_report(client: TestClient, db: Session) -> None:
    assert load_demo(db, "admin", "demo-password-123").created
    headers = office(db)
    assert client.post(f"{EVALUATIONS}/compute", params={"year": 2022}, headers=headers)

    def get(path: str, **params: object) -> dict:
        query = {k: v for k, v in {"year": 2022, **params}.items() if v is not None}
        response = client.get(f"/api/v1/{path}", params=query, headers=headers)
        assert response.status_code == 200, response.text
        body: dict = response.json()
        return body

    overview = get("reports/overview")
    assert overview["funnel"] == get("reports/funnel")["total"]
    coverage = get("reports/teacher-coverage")
    assert overview["teacher_coverage"] == coverage["overall"]
    assert overview["as_of"] == coverage["as_of"]
    funding = get("reports/funding")["total"]
    assert overview["funds"] == {"allocated": funding["allocated"], "spent": funding["spent"]}
    assert Decimal(funding["spent"]) > 0
    conversions = get("reports/credit-conversions", year=None)  # by approval year: all years
    assert overview["credits"]["conversions_approved"] == conversions["conversions"] == 1
    assert Decimal(str(overview["credits"]["credits_granted"])) == Decimal(
        str(conversions["credits"])
    )
    applications = {row["status"]: row for row in overview["applications"]}
    listed = client.get(
        "/api/v1/applications", params={"year": 2022, "status": "approved"}, headers=headers
    ).json()
    assert applications["approved"]["applications"] == listed["total"]
    ratings = Counter(e["rating"] or "unrated" for e in _ranking(client, headers))
    assert overview["evaluations"]["by_rating"] == {
        rating: ratings.get(rating, 0) for rating in overview["evaluations"]["by_rating"]
    }
    assert overview["evaluations"]["needs_rectification"] == sum(
        e["needs_rectification"] for e in _ranking(client, headers)
    )


def test_indicator_figures_read_in_the_readers_language_whoever_computed_them(
    client: TestClient, db: Session
) -> None:
    assert load_demo(db, "admin", "demo-password-123").created
    headers = office(db)
    computed = client.post(
        f"{EVALUATIONS}/compute",
        params={"year": 2022},
        headers={**headers, "Accept-Language": "zh-CN"},
    )
    assert computed.status_code == 200, computed.text

    def figure(language: str) -> dict:
        items = client.get(
            EVALUATIONS,
            params={"year": 2022},
            headers={**headers, "Accept-Language": language},
        ).json()["items"]
        return next(f for f in items[0]["indicators"] if f["key"] == "certificates_issued")

    assert (figure("en")["label"], figure("en")["unit"]) == ("Certificates obtained", "people")
    assert figure("zh-CN")["unit"] == "人" and figure("zh-CN")["label"] != "Certificates obtained"
    scheme = client.get(
        "/api/v1/evaluation-schemes/2022", headers={**headers, "Accept-Language": "zh-CN"}
    ).json()
    weight = next(w for w in scheme["weights"] if w["key"] == "teacher_coverage")
    assert weight["scoring"] == "百分比本身，最高 100"
    assert weight["missing_when"] == "该试点尚未指派教师"
