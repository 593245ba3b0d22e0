"""Money limits hold when requests race: the line (or the source) row is locked before the
sums are checked on PostgreSQL; SQLite serialises writers, so the same tests pass there too."""

from collections import Counter
from decimal import Decimal

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlmodel import Session, func, select

from app.funding.models import BudgetLine, Category, Expenditure, ExpenditureKind
from app.funding.service import spent_on_line
from tests.concurrency import Call, fire_concurrently
from tests.exams.factories import make_pilot
from tests.funding.factories import held_session, make_line, make_source
from tests.reference.factories import office

RACERS = 60
IN_FLIGHT = 25
"""Below the app's pool of 30 PostgreSQL connections (see ``fire_concurrently``)."""


@pytest.mark.slow
def test_60_concurrent_expenditures_never_overdraw_the_line(
    app: FastAPI, db: Session, engine: Engine
) -> None:
    line = make_line(db, make_source(db), make_pilot(db), amount="1000.00")
    amounts = [Decimal("37.31") + Decimal(i % 7) for i in range(RACERS)]
    assert sum(amounts) > line.amount
    headers = office(db)
    calls = [
        Call(
            "POST",
            "/api/v1/expenditures",
            {
                "json": {
                    "line_id": line.id,
                    "amount": f"{amount}",
                    "payee": "并发测试",
                    "voucher_no": f"RACE-{i:03d}",
                },
                "headers": headers,
            },
        )
        for i, amount in enumerate(amounts)
    ]

    responses = fire_concurrently(app, calls, max_in_flight=IN_FLIGHT)

    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) == {201, 409}, statuses
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"line_exceeded"}
    accepted = sum(
        (Decimal(r.json()["amount"]) for r in responses if r.status_code == 201), Decimal(0)
    )
    assert accepted <= line.amount
    stored = db.exec(select(Expenditure).where(Expenditure.line_id == line.id)).all()
    assert len(stored) == statuses[201]
    assert spent_on_line(db, line.id or 0) == accepted
    # Nothing was refused that would still have fitted when it was checked last.
    assert line.amount - accepted < max(amounts)


@pytest.mark.slow
def test_concurrent_budget_lines_never_exceed_the_source(
    app: FastAPI, db: Session, engine: Engine
) -> None:
    source = make_source(db, amount="10000.00")
    pilots = [make_pilot(db) for _ in range(5)]
    headers = office(db)
    calls = [
        Call(
            "POST",
            "/api/v1/budget-lines",
            {
                "json": {
                    "source_id": source.id,
                    "application_id": pilots[i % 5].id,
                    "category": list(Category)[i // 5].value,
                    "amount": "1500.00",
                },
                "headers": headers,
            },
        )
        for i in range(25)
    ]

    responses = fire_concurrently(app, calls, max_in_flight=IN_FLIGHT)

    statuses = Counter(r.status_code for r in responses)
    assert statuses[201] == 6, statuses
    codes = Counter(r.json()["code"] for r in responses if r.status_code != 201)
    assert set(codes) <= {"source_exceeded", "earmarked_category"}
    allocated = db.exec(select(func.count()).where(BudgetLine.source_id == source.id)).one()
    assert allocated == 6


@pytest.mark.slow
def test_concurrent_subsidy_runs_pay_each_passed_result_once(
    app: FastAPI, db: Session, engine: Engine
) -> None:
    pilot = make_pilot(db)
    exam = held_session(db, pilot, passed=10, failed=3)
    source = make_source(db)
    first = make_line(db, source, pilot, category=Category.exam_subsidy, amount="5000.00")
    other = make_source(db)
    second = make_line(db, other, pilot, category=Category.exam_subsidy, amount="5000.00")
    headers = office(db)
    calls = [
        Call(
            "POST",
            "/api/v1/subsidy-runs",
            {
                "json": {
                    "session_id": exam.id,
                    "line_id": (first, second)[i % 2].id,
                    "amount_per_student": "200.00",
                },
                "headers": headers,
            },
        )
        for i in range(12)
    ]

    responses = fire_concurrently(app, calls, max_in_flight=IN_FLIGHT)

    assert all(r.status_code in {201, 409} for r in responses), [r.text for r in responses]
    paid = sum(r.json()["paid_count"] for r in responses if r.status_code == 201)
    assert paid == 10
    payments = db.exec(
        select(func.count()).where(Expenditure.kind == ExpenditureKind.subsidy)
    ).one()
    assert payments == 10


@pytest.mark.slow
def test_lowering_a_line_while_expenditures_race_never_leaves_it_overdrawn(
    app: FastAPI, db: Session, engine: Engine
) -> None:
    line = make_line(db, make_source(db), make_pilot(db), amount="1000.00")
    headers = office(db)
    spends = [
        Call(
            "POST",
            "/api/v1/expenditures",
            {
                "json": {
                    "line_id": line.id,
                    "amount": "50.00",
                    "payee": "并发测试",
                    "voucher_no": f"LOW-{i:03d}",
                },
                "headers": headers,
            },
        )
        for i in range(30)
    ]
    lower = Call(
        "PATCH",
        f"/api/v1/budget-lines/{line.id}",
        {"json": {"amount": "400.00"}, "headers": headers},
    )

    responses = fire_concurrently(app, [*spends[:10], lower, *spends[10:]], max_in_flight=IN_FLIGHT)

    lowered = responses[10]
    assert lowered.status_code in {200, 409}, lowered.text
    db.expire_all()
    stored = db.get(BudgetLine, line.id)
    assert stored is not None
    assert stored.amount == Decimal("400.00" if lowered.status_code == 200 else "1000.00")
    assert spent_on_line(db, line.id or 0) <= stored.amount
