"""The indicators and overview figures that come from funding and the credit bank: each is the
owning domain's own figure, missing (null, not 0) where it cannot be measured."""

from decimal import Decimal
from typing import Any

from sqlmodel import Session, col, select
from starlette.testclient import TestClient

from app.evaluations.models import Evaluation
from app.exams.models import ExamSession, IssuedCertificate
from app.reference.models import Certificate, Major, Student
from tests.credits.factories import make_rule
from tests.evaluations.factories import (
    EVALUATIONS,
    YEAR,
    Built,
    build_pilot,
    by_application,
    compute,
    indicator,
    score,
)
from tests.funding.factories import make_line, make_source
from tests.reference.factories import office


def _spend(
    client: TestClient, headers: dict[str, str], line_id: int, amount: str, voucher: str
) -> None:
    response = client.post(
        "/api/v1/expenditures",
        json={"line_id": line_id, "amount": amount, "payee": "某公司", "voucher_no": voucher},
        headers=headers,
    )
    assert response.status_code == 201, response.text


def _convert(client: TestClient, db: Session, headers: dict[str, str], built: Built) -> None:
    """A credit-bank rule for the pilot's certificate, and one approved conversion by a holder."""
    issued = db.exec(
        select(IssuedCertificate)
        .join(ExamSession, col(ExamSession.id) == IssuedCertificate.session_id)
        .where(ExamSession.application_id == built.pilot.id)
        .order_by(col(IssuedCertificate.id))
    ).first()
    assert issued is not None
    student = db.get(Student, issued.student_id)
    certificate = db.get(Certificate, built.pilot.certificate_id)
    assert student is not None and certificate is not None
    major = db.get(Major, student.major_id)
    assert major is not None
    rule = make_rule(db, certificate, [major], credits="3")
    filed = client.post(
        "/api/v1/conversion-requests",
        json={"student_id": student.id, "issued_certificate_id": issued.id, "rule_id": rule.id},
        headers=headers,
    )
    assert filed.status_code == 201, filed.text
    approved = client.post(
        f"/api/v1/conversion-requests/{filed.json()['id']}/approve", headers=headers
    )
    assert approved.status_code == 200, approved.text


def _value(evaluation: dict[str, Any], key: str) -> Any:
    return indicator(evaluation, key)["value"]


def test_budget_execution_is_the_funding_reports_rate_and_missing_without_a_line(
    client: TestClient, db: Session
) -> None:
    headers = office(db)
    funded = build_pilot(db, sat=4, passed=3)
    unfunded = build_pilot(db, sat=4, passed=3)
    line = make_line(db, make_source(db, year=YEAR), funded.pilot, amount="10000.00")
    _spend(client, headers, line.id or 0, "2500.00", "V-1")
    _spend(client, headers, line.id or 0, "0.10", "V-2")
    other_year = make_line(db, make_source(db, year=YEAR + 1), unfunded.pilot, amount="100.00")
    _spend(client, headers, other_year.id or 0, "100.00", "V-3")

    run = compute(client, headers)

    assert run.status_code == 200, run.text
    evaluations = by_application(run.json())
    funded_figure = indicator(evaluations[funded.pilot.id], "budget_execution")
    assert Decimal(str(funded_figure["value"])) == Decimal("25.0")
    assert funded_figure["counted"] is True
    unfunded_figure = indicator(evaluations[unfunded.pilot.id], "budget_execution")
    assert unfunded_figure["value"] is None  # only next year's money: nothing for this year
    assert unfunded_figure["counted"] is False


def test_conversions_count_approved_ones_and_are_missing_where_none_is_possible(
    client: TestClient, db: Session
) -> None:
    headers = office(db)
    converting = build_pilot(db, sat=4, passed=3)
    no_rule = build_pilot(db, sat=4, passed=3)
    no_exam = build_pilot(db)
    _convert(client, db, headers, converting)
    certificate = db.get(Certificate, no_exam.pilot.certificate_id)
    assert certificate is not None
    make_rule(db, certificate, [])

    evaluations = by_application(compute(client, headers).json())

    assert Decimal(str(_value(evaluations[converting.pilot.id], "conversions_approved"))) == 1
    assert indicator(evaluations[converting.pilot.id], "conversions_approved")["counted"] is True
    assert _value(evaluations[no_rule.pilot.id], "conversions_approved") is None
    assert _value(evaluations[no_exam.pilot.id], "conversions_approved") is None


def test_the_overview_shows_the_years_money_and_credits(client: TestClient, db: Session) -> None:
    headers = office(db)
    built = build_pilot(db, sat=4, passed=3)
    line = make_line(db, make_source(db, year=YEAR), built.pilot, amount="8000.00")
    _spend(client, headers, line.id or 0, "1234.56", "V-9")
    _convert(client, db, headers, built)

    response = client.get("/api/v1/reports/overview", params={"year": YEAR}, headers=headers)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["funds"] == {"allocated": "8000.00", "spent": "1234.56"}
    assert body["credits"]["conversions_approved"] == 1
    assert Decimal(str(body["credits"]["credits_granted"])) == Decimal("3")


def test_finalizing_freezes_budget_execution_and_conversions_against_later_ones(
    client: TestClient, db: Session
) -> None:
    headers = office(db)
    built = build_pilot(db, sat=4, passed=3)
    line = make_line(db, make_source(db, year=YEAR), built.pilot, amount="1000.00")
    _spend(client, headers, line.id or 0, "100.00", "F-1")
    certificate = db.get(Certificate, built.pilot.certificate_id)
    assert certificate is not None
    make_rule(db, certificate, [])  # convertible, none converted yet
    evaluation = by_application(compute(client, headers).json())[built.pilot.id]
    assert _value(evaluation, "budget_execution") == "10.0"
    assert _value(evaluation, "conversions_approved") == "0"
    assert score(client, headers, evaluation["id"], "80").status_code == 200
    finalized = client.post(f"{EVALUATIONS}/finalize", params={"year": YEAR}, headers=headers)
    assert finalized.status_code == 200, finalized.text
    frozen = client.get(f"{EVALUATIONS}/{evaluation['id']}", headers=headers).json()

    _spend(client, headers, line.id or 0, "400.00", "F-2")  # a later expenditure
    _convert(client, db, headers, built)  # a later approved conversion
    overview = client.get("/api/v1/reports/overview", params={"year": YEAR}, headers=headers)
    assert overview.json()["funds"]["spent"] == "500.00"  # the data did change
    assert overview.json()["credits"]["conversions_approved"] == 1

    after = client.get(f"{EVALUATIONS}/{evaluation['id']}", headers=headers).json()
    assert after == frozen
    assert _value(after, "budget_execution") == "10.0"
    assert _value(after, "conversions_approved") == "0"
    stored = db.exec(select(Evaluation).where(Evaluation.id == evaluation["id"])).one()
    db.refresh(stored)
    assert {f["key"]: f["value"] for f in stored.indicators}["budget_execution"] == "10.0"
    assert compute(client, headers).status_code == 409
