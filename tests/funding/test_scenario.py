"""The issue's Done-when, as a new user would try it through the API."""

from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, func, select
from starlette.testclient import TestClient

from app.exams.models import ExamRegistration
from app.funding.models import BudgetLine, Expenditure, ExpenditureKind
from tests.exams.factories import make_pilot
from tests.funding.factories import held_session
from tests.reference.factories import office


def test_funds_lines_spending_reversal_subsidies_and_report_match_to_the_fen(
    client: TestClient, db: Session
) -> None:
    headers = office(db)
    web, bigdata = make_pilot(db), make_pilot(db)
    assert (web.year, bigdata.year) == (2022, 2022)
    exam = held_session(db, web, passed=24, failed=6)
    candidates = db.exec(select(func.count()).where(ExamRegistration.session_id == exam.id)).one()
    assert candidates == 30

    moe = client.post(
        "/api/v1/funding-sources",
        json={
            "name": "2022年教育部1+X证书制度试点专项经费",
            "kind": "moe_special",
            "fiscal_year": 2022,
            "amount": "500000.00",
            "document_no": "教职成司函〔2022〕1号",
        },
        headers=headers,
    )
    assert moe.status_code == 201, moe.text
    assert moe.json()["earmarked"] is True
    assert moe.json()["amount"] == "500000.00"
    school = client.post(
        "/api/v1/funding-sources",
        json={"name": "学校试点建设经费", "kind": "school", "fiscal_year": 2022, "amount": "80000"},
        headers=headers,
    )
    assert school.status_code == 201 and school.json()["earmarked"] is False
    moe_id, school_id = moe.json()["id"], school.json()["id"]

    def line(source: int, application: Any, category: str, amount: str) -> dict[str, Any]:
        response = client.post(
            "/api/v1/budget-lines",
            json={
                "source_id": source,
                "application_id": application,
                "category": category,
                "amount": amount,
            },
            headers=headers,
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    equipment = line(moe_id, web.id, "equipment", "120000.00")
    subsidy = line(moe_id, web.id, "exam_subsidy", "6000.00")
    line(moe_id, bigdata.id, "teacher_training", "30000.00")
    school_line = line(school_id, bigdata.id, "other", "15000.50")

    refused = client.post(
        "/api/v1/budget-lines",
        json={"source_id": moe_id, "application_id": web.id, "category": "other", "amount": "1"},
        headers=headers,
    )
    assert refused.status_code == 422
    assert refused.json()["code"] == "earmarked_category"
    assert "exam_subsidy" in refused.json()["detail"]
    assert "equipment" in refused.json()["allowed_categories"]
    assert db.exec(select(func.count()).select_from(BudgetLine)).one() == 4

    def spend(line_id: Any, amount: str, voucher: str) -> Any:
        return client.post(
            "/api/v1/expenditures",
            json={
                "line_id": line_id,
                "amount": amount,
                "spent_on": "2022-10-20",
                "payee": "某设备公司",
                "voucher_no": voucher,
            },
            headers=headers,
        )

    first = spend(equipment["id"], "100000.00", "PZ-001")
    assert first.status_code == 201, first.text
    assert spend(equipment["id"], "20000.00", "PZ-002").status_code == 201
    over = spend(equipment["id"], "0.01", "PZ-003")
    assert over.status_code == 409
    assert over.json()["code"] == "line_exceeded"
    assert over.json()["remaining"] == "0.00"
    assert db.exec(select(func.count()).select_from(Expenditure)).one() == 2

    reversal = client.post(
        f"/api/v1/expenditures/{first.json()['id']}/reverse",
        json={"reason": "金额录入错误"},
        headers=headers,
    )
    assert reversal.status_code == 201, reversal.text
    assert reversal.json()["amount"] == "-100000.00"
    assert reversal.json()["reverses_id"] == first.json()["id"]
    assert spend(equipment["id"], "99999.99", "PZ-004").status_code == 201
    assert (
        client.get(f"/api/v1/budget-lines/{equipment['id']}", headers=headers).json()["remaining"]
        == "0.01"
    )

    run = client.post(
        "/api/v1/subsidy-runs",
        json={"session_id": exam.id, "line_id": subsidy["id"], "amount_per_student": "200.00"},
        headers=headers,
    )
    assert run.status_code == 201, run.text
    assert run.json()["paid_count"] == 24
    assert run.json()["passed"] == 24
    assert run.json()["total"] == "4800.00"
    assert len(run.json()["payments"]) == 24
    again = client.post(
        "/api/v1/subsidy-runs",
        json={"session_id": exam.id, "line_id": subsidy["id"], "amount_per_student": "200.00"},
        headers=headers,
    )
    assert again.status_code == 409
    assert again.json()["code"] == "nothing_to_pay"
    assert again.json()["already_paid"] == 24
    paid = db.exec(select(func.count()).where(Expenditure.kind == ExpenditureKind.subsidy)).one()
    assert paid == 24

    report = client.get("/api/v1/reports/funding?year=2022&group_by=source", headers=headers)
    assert report.status_code == 200
    body = report.json()
    by_key = {row["key"]: row for row in body["rows"]}
    assert by_key[str(moe_id)]["allocated"] == "156000.00"
    assert by_key[str(moe_id)]["spent"] == "124799.99"  # 120,000.00 − reversal + 99,999.99 + 4,800
    assert by_key[str(moe_id)]["remaining"] == "31200.01"
    assert by_key[str(moe_id)]["subsidies_paid"] == 24
    assert by_key[str(moe_id)]["subsidies_amount"] == "4800.00"
    assert by_key[str(school_id)]["allocated"] == "15000.50"
    assert by_key[str(school_id)]["spent"] == "0.00"
    assert body["total"]["allocated"] == "171000.50"
    assert body["total"]["spent"] == "124799.99"
    assert body["sources_amount"] == "580000.00"
    assert body["total"]["execution_rate"] == 0.7298
    assert school_line["earmarked"] is False

    by_pilot = client.get(
        "/api/v1/reports/funding?year=2022&group_by=application", headers=headers
    ).json()
    pilots = {row["key"]: row for row in by_pilot["rows"]}
    assert pilots[str(web.id)]["allocated"] == "126000.00"
    assert pilots[str(web.id)]["spent"] == "124799.99"
    assert pilots[str(web.id)]["subsidies_paid"] == 24
    assert pilots[str(bigdata.id)]["allocated"] == "45000.50"
    assert pilots[str(bigdata.id)]["spent"] == "0.00"
    assert by_pilot["total"] == body["total"]
    spent_fen = db.exec(select(func.sum(sa.type_coerce(Expenditure.amount, sa.BigInteger)))).one()
    assert spent_fen == 12479999  # the database agrees to the fen
