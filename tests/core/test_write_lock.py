"""On SQLite a write takes the one write lock for its own statements only: the row it answers
is read back after the commit in a transaction that only reads (begun deferred), so the lock
is not held again while the answer is read, checked and sent."""

import pytest
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.testclient import TestClient

from tests.reference.factories import counting, office


def test_a_create_reads_its_row_back_without_the_write_lock(
    client: TestClient, db: Session, engine: Engine, is_postgres: bool
) -> None:
    if is_postgres:
        pytest.skip("SQLite's BEGIN IMMEDIATE")
    headers = office(db)
    with counting(engine) as statements:
        response = client.post("/api/v1/colleges", json={"name": "信息工程学院"}, headers=headers)
    assert response.status_code == 201, response.text
    begins = [s for s in statements if s.startswith("BEGIN")]
    inserted = next(i for i, s in enumerate(statements) if s.startswith("INSERT INTO colleges"))
    after = [s for s in statements[inserted:] if s.startswith("BEGIN")]
    assert begins.count("BEGIN IMMEDIATE") == 1, statements
    assert after == ["BEGIN"], statements  # the read-back, after the commit, takes no lock
    assert response.json()["name"] == "信息工程学院"
