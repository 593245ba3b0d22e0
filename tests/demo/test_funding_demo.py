"""The demo shows funding working: two 2022 funds, lines for two pilots, spending with a
reversal and the pass subsidy paid over the held session."""

import csv
import io
from decimal import Decimal

from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.demo.loader import load_demo
from app.funding.models import BudgetLine, Expenditure, ExpenditureKind, FundingSource
from app.funding.service import funding_totals
from tests.reference.factories import office


def test_demo_has_funds_lines_spending_and_a_subsidy_run(db: Session) -> None:
    assert load_demo(db, "admin", "demo-password-123").created

    sources = db.exec(select(FundingSource)).all()
    assert {s.amount for s in sources} == {Decimal("500000.00"), Decimal("100000.00")}
    assert len({line.application_id for line in db.exec(select(BudgetLine)).all()}) == 2
    entries = db.exec(select(Expenditure)).all()
    assert sum(1 for e in entries if e.kind == ExpenditureKind.reversal) == 1
    assert sum(1 for e in entries if e.kind == ExpenditureKind.subsidy) == 6
    assert funding_totals(db, 2022) == (Decimal("261000.00"), Decimal("110100.00"))


def test_the_expenditures_csv_writes_a_reversal_as_a_negative_number(
    client: TestClient, db: Session
) -> None:
    assert load_demo(db, "admin", "demo-password-123").created

    response = client.get(
        "/api/v1/expenditures",
        params={"format": "csv"},
        headers={**office(db), "Accept-Language": "en"},
    )

    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    amounts = [row["Amount"] for row in rows]
    assert any(amount.startswith("-") for amount in amounts)  # the reversal: Excel sums it
    assert [amount for amount in amounts if not amount.lstrip("-").replace(".", "").isdigit()] == []
