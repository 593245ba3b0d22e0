"""On SQLite a write takes the one write lock for its own statements only: its caller is looked
up before, in a statement of its own (no BEGIN), so the lock is not held while the request
goes from that look-up to its endpoint; the row it answers is read back after the commit in a
transaction that only reads (begun deferred), so the lock is not held again while the answer
is read, checked and sent."""

import pytest
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.testclient import TestClient

from app.core.roles import Role
from tests.factories import login_as
from tests.reference.factories import counting, office


def api_key_headers(client: TestClient, db: Session) -> dict[str, str]:
    """An academic-office API key's header, made through the API (its first use is a write:
    the key's last-used note)."""
    response = client.post(
        "/api/v1/api-keys",
        json={"name": "timetable-sync", "role": "academic_office"},
        headers=login_as(db, Role.admin),
    )
    assert response.status_code == 201, response.text
    return {"X-API-Key": str(response.json()["key"])}


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


@pytest.mark.parametrize("credential", ["token", "api_key"])
def test_a_write_looks_its_caller_up_before_it_takes_the_write_lock(
    client: TestClient, db: Session, engine: Engine, is_postgres: bool, credential: str
) -> None:
    if is_postgres:
        pytest.skip("SQLite's BEGIN IMMEDIATE")
    headers = office(db) if credential == "token" else api_key_headers(client, db)
    with counting(engine) as statements:
        response = client.post("/api/v1/colleges", json={"name": "信息工程学院"}, headers=headers)
    assert response.status_code == 201, response.text
    locked = statements.index("BEGIN IMMEDIATE")
    looked_up = [s for s in statements[:locked] if "FROM users" in s or "FROM api_keys" in s]
    assert looked_up and not [s for s in statements[:locked] if s.startswith("BEGIN")], statements
    assert not [s for s in statements[locked:] if "FROM users" in s or "FROM api_keys" in s]
