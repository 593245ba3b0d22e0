"""Money limits hold when requests race: the line (or the source) row is locked before the
sums are checked on PostgreSQL; SQLite serialises writers, so the same tests pass there too."""

import asyncio
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import anyio.to_thread
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from app.core.config import Settings
from app.funding.models import BudgetLine, Category, Expenditure, ExpenditureKind, SubsidyRun
from app.funding.service import not_reversed, spent_on_line
from app.main import create_app
from tests.concurrency import Call, fire_concurrently
from tests.exams.factories import make_pilot
from tests.funding.factories import held_session, make_line, make_source
from tests.reference.factories import office

RACERS = 60
IN_FLIGHT = 25
"""Below the app's pool of 30 PostgreSQL connections (see ``fire_concurrently``)."""


class _AllAtOnce:
    """Holds every request at the door until ``parties`` of them are inside the app, then lets
    them all go: that many requests are provably in flight together (no timing involved).
    The server's thread pool is widened to match, so each one gets its own thread."""

    def __init__(self, app: FastAPI, parties: int) -> None:
        self.app, self.parties, self.arrived = app, parties, 0
        self.all_in = asyncio.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            anyio.to_thread.current_default_thread_limiter().total_tokens = self.parties + 10
            self.arrived += 1
            if self.arrived >= self.parties:
                self.all_in.set()
            await self.all_in.wait()
        await self.app(scope, receive, send)


@pytest.fixture
def wide_app(settings: Settings, engine: Engine) -> Iterator[FastAPI]:
    """The app with a connection pool wider than the racers (the shared test app has 30), so
    all of them hold a connection at once and queue on the line's row lock in the database."""
    wide = create_app(
        settings.model_copy(update={"db_pool_size": RACERS + 5, "db_max_overflow": 5})
    )
    yield wide
    wide.state.engine.dispose()


@pytest.mark.slow
def test_60_concurrent_expenditures_never_overdraw_the_line(
    wide_app: FastAPI, db: Session, engine: Engine
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

    gate = _AllAtOnce(wide_app, RACERS)
    responses = fire_concurrently(gate, calls)  # type: ignore[arg-type]

    assert gate.arrived == RACERS >= 50
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


def test_racers_through_the_served_app_are_all_answered_and_never_overdraw(
    client: TestClient, db: Session
) -> None:
    # The app as served (its lifespan ran), 24 writers at once on one line's lock: each is
    # answered at once, none waits out SQLite's busy timeout. A write holds SQLite's write
    # lock from its endpoint's hop to the thread pool until its response is checked in the
    # next hop, so a server with fewer request threads than requests in flight stalls here
    # (two threads did: every writer waited 30 s, then 503).
    line = make_line(db, make_source(db), make_pilot(db), amount="300.00")
    headers = office(db)

    def spend(i: int) -> Any:
        return client.post(
            "/api/v1/expenditures",
            headers=headers,
            json={"line_id": line.id, "amount": "25.00", "payee": "并发", "voucher_no": f"T-{i}"},
        )

    with ThreadPoolExecutor(24) as pool:
        responses = list(pool.map(spend, range(24), timeout=60))

    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 12, 409: 12}, statuses
    assert spent_on_line(db, line.id or 0) == Decimal("300.00")


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

    # Runs over one session take turns (its row is locked): one pays, the others find
    # everyone paid and are refused without recording an empty run.
    assert sorted(r.status_code for r in responses) == [201] + [409] * 11, [
        r.text for r in responses
    ]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"nothing_to_pay"}
    assert [r.json()["paid_count"] for r in responses if r.status_code == 201] == [10]
    assert db.exec(select(func.count()).select_from(SubsidyRun)).one() == 1
    payments = db.exec(
        select(func.count()).where(Expenditure.kind == ExpenditureKind.subsidy)
    ).one()
    assert payments == 10

    # Three payments reversed: racing runs pay those three again, once each.
    reversed_ids = [
        e.id
        for e in db.exec(
            select(Expenditure)
            .where(Expenditure.kind == ExpenditureKind.subsidy)
            .order_by(col(Expenditure.id))
            .limit(3)
        ).all()
    ]
    for expenditure_id in reversed_ids:
        response = fire_concurrently(
            app,
            [
                Call(
                    "POST",
                    f"/api/v1/expenditures/{expenditure_id}/reverse",
                    {"json": {"reason": "付错账户"}, "headers": headers},
                )
            ],
        )[0]
        assert response.status_code == 201, response.text

    again = fire_concurrently(app, calls, max_in_flight=IN_FLIGHT)

    assert sorted(r.status_code for r in again) == [201] + [409] * 11
    assert [r.json()["paid_count"] for r in again if r.status_code == 201] == [3]
    assert db.exec(select(func.count()).select_from(SubsidyRun)).one() == 2
    standing = db.exec(
        select(func.count())
        .select_from(Expenditure)
        .where(Expenditure.kind == ExpenditureKind.subsidy, not_reversed())
    ).one()
    assert standing == 10


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
