"""``budget_lines.spent``: Σ of the line's expenditures, kept by the database's triggers on
every way an entry is written (migration 0021), and filled from the entries already there when
the migration runs."""

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.testclient import TestClient

from app.core.migrations import alembic_config
from app.funding.models import Category
from tests.exams.factories import make_pilot
from tests.funding.factories import (
    held_session,
    ledger_csv,
    make_line,
    make_source,
    post_expenditure,
)
from tests.imports.helpers import upload
from tests.reference.factories import office

KEPT_AND_SUMMED = """
SELECT l.id, l.spent, (SELECT coalesce(sum(e.amount), 0) FROM expenditures e
  WHERE e.line_id = l.id) FROM budget_lines l ORDER BY l.id
"""


def _kept_and_summed(connection: Any) -> list[tuple[int, int, int]]:
    """Each line's (id, kept spent, Σ of its entries), both in fen."""
    return [tuple(row) for row in connection.execute(sa.text(KEPT_AND_SUMMED)).all()]


def _agree(db: Session) -> dict[int, Decimal]:
    """Each line's spent in yuan, after checking the kept figure is Σ of its entries."""
    db.rollback()  # a fresh read
    rows = _kept_and_summed(db.connection())
    assert [(line, kept) for line, kept, _summed in rows] == [
        (line, summed) for line, _kept, summed in rows
    ]
    return {line: Decimal(kept) / 100 for line, kept, _summed in rows}


def test_every_way_of_writing_an_entry_keeps_its_lines_spent(
    client: TestClient, db: Session
) -> None:
    headers = office(db)
    pilot = make_pilot(db)
    source = make_source(db)
    line = make_line(db, source, pilot, amount="5000.00")
    other = make_line(db, source, pilot, category=Category.teacher_training, amount="5000.00")
    subsidies = make_line(db, source, pilot, category=Category.exam_subsidy, amount="1000.00")
    assert _agree(db) == {line.id: 0, other.id: 0, subsidies.id: 0}

    created = post_expenditure(client, headers, line, "1200.50", "S-1")
    assert created.status_code == 201
    assert _agree(db)[line.id or 0] == Decimal("1200.50")

    reversed_ = client.post(
        f"/api/v1/expenditures/{created.json()['id']}/reverse",
        json={"reason": "重复入账"},
        headers=headers,
    )
    assert reversed_.status_code == 201
    assert _agree(db)[line.id or 0] == 0

    ledger = ledger_csv(other.id or 0, ("300.00", "S-2", "讲课费"), ("99.99", "S-3", "资料"))
    uploaded = upload(client, headers, "expenditures", "ledger.csv", ledger)
    assert uploaded.status_code == 200 and uploaded.json()["created"] == 2
    assert _agree(db)[other.id or 0] == Decimal("399.99")

    exam = held_session(db, pilot, passed=3, failed=1)
    run = client.post(
        "/api/v1/subsidy-runs",
        json={"session_id": exam.id, "line_id": subsidies.id, "amount_per_student": "200.00"},
        headers=headers,
    )
    assert run.status_code == 201
    assert _agree(db)[subsidies.id or 0] == Decimal("600.00")

    # Plain SQL too: an entry moved to another line, its amount changed, then deleted.
    connection = db.connection()
    moved = "UPDATE expenditures SET line_id = :to, amount = 10000 WHERE voucher_no = 'S-2'"
    connection.execute(sa.text(moved), {"to": line.id})
    db.commit()
    assert _agree(db) == {line.id: 100, other.id: Decimal("99.99"), subsidies.id: 600}
    db.connection().execute(sa.text("DELETE FROM expenditures WHERE voucher_no = 'S-2'"))
    db.commit()
    assert _agree(db) == {line.id: 0, other.id: Decimal("99.99"), subsidies.id: 600}

    # What the lists read is the kept figure.
    lines = client.get(f"/api/v1/budget-lines?source_id={source.id}", headers=headers).json()
    assert {item["id"]: item["spent"] for item in lines["items"]} == {
        line.id: "0.00",
        other.id: "99.99",
        subsidies.id: "600.00",
    }
    sources = client.get("/api/v1/funding-sources", headers=headers).json()["items"]
    assert [s["spent"] for s in sources if s["id"] == source.id] == ["699.99"]


def test_a_refused_entry_leaves_the_line_as_it_was(client: TestClient, db: Session) -> None:
    headers = office(db)
    line = make_line(db, make_source(db), make_pilot(db), amount="100.00")

    assert post_expenditure(client, headers, line, "60.00", "R-1").status_code == 201
    over = post_expenditure(client, headers, line, "40.01", "R-2")
    twice = post_expenditure(client, headers, line, "1.00", "R-1")

    assert over.status_code == 409 and over.json()["code"] == "line_exceeded"
    assert twice.status_code == 409
    assert _agree(db) == {line.id: 60}


def test_emptying_the_entries_sets_every_line_back_to_nothing_spent(
    client: TestClient, db: Session, is_postgres: bool
) -> None:
    headers = office(db)
    line = make_line(db, make_source(db), make_pilot(db), amount="100.00")
    assert post_expenditure(client, headers, line, "60.00", "T-1").status_code == 201
    assert _agree(db) == {line.id: 60}

    # TRUNCATE on PostgreSQL (no row is deleted one by one); a DELETE of every row on SQLite.
    emptying = "TRUNCATE expenditures" if is_postgres else "DELETE FROM expenditures"
    db.connection().execute(sa.text(emptying))
    db.commit()

    assert _agree(db) == {line.id: 0}


def test_the_migration_fills_spent_from_the_entries_already_recorded(
    own_url: str, own_engine: Engine
) -> None:
    with Session(own_engine, expire_on_commit=False) as db:
        pilot = make_pilot(db)
        source = make_source(db)
        line = make_line(db, source, pilot, amount="1000.00")
        empty = make_line(db, source, pilot, category=Category.teacher_training, amount="1")
        empty_id, line_id = empty.id, line.id
    config = alembic_config(own_url)
    command.downgrade(config, "0020")
    with own_engine.begin() as connection:
        for voucher, amount in (("M-1", 12345), ("M-2", 345), ("M-3", 50)):
            connection.execute(
                sa.text(
                    "INSERT INTO expenditures (created_at, updated_at, version, line_id, "
                    "kind, amount, spent_on, payee, voucher_no) VALUES (:now, :now, 1, "
                    ":line, 'payment', :amount, '2022-10-01', '某公司', :v)"
                ),
                {"now": "2022-10-01 00:00:00", "line": line_id, "amount": amount, "v": voucher},
            )
    command.upgrade(config, "head")
    with own_engine.connect() as connection:
        filled = _kept_and_summed(connection)
    assert filled == sorted([(line_id, 12740, 12740), (empty_id, 0, 0)])
