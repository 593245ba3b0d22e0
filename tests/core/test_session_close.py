"""Every request gives its database connection back: a list page closes its session in its own
hop to the thread pool, any other request when its session's dependency ends (in the pool,
rolling back whatever was left uncommitted)."""

from sqlalchemy import Engine
from sqlmodel import Session
from starlette.testclient import TestClient

from app.demo.loader import load_demo
from app.reference.models import College
from tests.reference.factories import office


def test_no_connection_stays_checked_out_after_a_request(
    client: TestClient, db: Session, engine: Engine
) -> None:
    assert load_demo(db, "admin", "demo-password-123").created
    headers = office(db)
    college = db.exec(College.__table__.select().limit(1)).first()  # type: ignore[attr-defined]
    assert college is not None
    requests = [
        ("GET", "/api/v1/students", None, 200),
        ("GET", "/api/v1/students?format=csv", None, 200),
        ("GET", "/api/v1/reports/credit-conversions", None, 200),  # JSON streamed from a cursor
        ("GET", "/api/v1/reports/year?year=2022&format=json", None, 200),  # the same, inside
        ("GET", "/api/v1/reports/year?year=2022", None, 200),  # the workbook: counts only
        ("GET", f"/api/v1/colleges/{college.id}", None, 200),
        ("GET", "/api/v1/colleges/999999", None, 404),
        ("POST", "/api/v1/colleges", {"name": "连接归还学院"}, 201),
        ("POST", "/api/v1/colleges", {"name": "连接归还学院"}, 409),
        ("POST", "/api/v1/colleges", {"name": ""}, 422),
    ]
    for method, path, body, status in requests:
        response = client.request(method, path, json=body, headers=headers)
        assert response.status_code == status, (path, response.text)
        assert engine.pool.checkedout() == 0, (method, path)  # type: ignore[attr-defined]
    assert db.exec(College.__table__.select().where(College.name == "连接归还学院")).all()  # type: ignore[attr-defined]
