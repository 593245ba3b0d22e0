"""On the demo data, every paged list of the API runs the same number of SQL statements whatever
the page size: related names are joined or fetched in one go, never once per row (no N+1)."""

from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.testclient import TestClient

from app.core.roles import Role
from app.demo.loader import load_demo
from tests.reference.factories import counting, headers_for, office

ADMIN_ONLY = frozenset({"/api/v1/users", "/api/v1/api-keys", "/api/v1/audit-events"})
MIN_MEASURED = 20
"""Lists with at least two rows in the demo; fewer would mean the sweep stopped measuring."""


def _paged_lists(app: FastAPI) -> list[tuple[str, list[str]]]:
    """(path, names of its required query parameters) of every GET answering a Page."""
    found = []
    for path, operations in app.openapi()["paths"].items():
        get = operations.get("get")
        if get is None or "{" in path:
            continue
        schema = get["responses"].get("200", {}).get("content", {}).get("application/json", {})
        reference = schema.get("schema", {}).get("$ref", "")
        if not reference.rsplit("/", 1)[-1].startswith("Page_"):
            continue
        required = [
            p["name"] for p in get.get("parameters", []) if p["in"] == "query" and p.get("required")
        ]
        found.append((path, required))
    return found


def _count(
    client: TestClient, engine: Engine, path: str, params: dict[str, Any], headers: dict[str, str]
) -> Any:
    with counting(engine) as statements:
        response = client.get(path, params=params, headers=headers)
    assert response.status_code == 200, (path, response.text)
    # A page with rows after it counts them, a last page needs no count: the rest is the same.
    return sum("count(" not in s.lower() for s in statements), len(response.json()["items"])


def test_every_paged_list_runs_a_constant_number_of_statements(
    app: FastAPI, client: TestClient, db: Session, engine: Engine
) -> None:
    assert load_demo(db, "admin", "demo-password-123").created
    clerk, admin = office(db), headers_for(db, Role.admin)
    client.post("/api/v1/evaluations/compute", params={"year": 2022}, headers=clerk)
    lists = _paged_lists(app)
    assert len(lists) > MIN_MEASURED

    measured, growing = [], []
    for path, required in lists:
        base = dict.fromkeys(required, 2022)
        headers = admin if path in ADMIN_ONLY else clerk
        small, small_items = _count(client, engine, path, {**base, "limit": 1}, headers)
        large, large_items = _count(client, engine, path, {**base, "limit": 500}, headers)
        if large_items < 2:
            continue
        assert small_items == 1, path
        measured.append(path)
        if small != large:
            growing.append((path, small, large))

    assert growing == []
    assert len(measured) >= MIN_MEASURED, measured
