"""On PostgreSQL, every list's page query, first and after a cursor, reads the large tables
through an index in its default order: with sequential scans and sorts priced out of the
planner's choice, a plan that still sorts or scans a large table whole has no index to do
otherwise, and fails here."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, event
from sqlmodel import Session
from starlette.testclient import TestClient

from app.core.roles import Role
from app.demo.loader import load_demo
from tests.demo.test_list_cursors import WALKED_AT_LEAST
from tests.demo.test_list_statements import ADMIN_ONLY, _paged_lists
from tests.reference.factories import headers_for, office

LARGE = frozenset(
    {
        "students",
        "exam_registrations",
        "exam_results",
        "issued_certificates",
        "expenditures",
        "conversion_requests",
        "credit_records",
        "training_enrollments",
        "audit_events",
    }
)
"""The tables that grow with the students and the years (the others hold tens of rows)."""


@contextmanager
def _capturing(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """Every statement ``engine`` runs inside the block, with its parameters."""
    seen: list[tuple[str, Any]] = []

    def capture(*args: Any) -> None:
        seen.append((args[2], args[3]))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", capture)


def _page_queries(statements: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """The statements that read the page: those with LIMIT that are not a count (a deep page
    reads its ids first, then their rows)."""
    pages = [
        s for s in statements if "LIMIT" in s[0] and not s[0].lower().startswith("select count(")
    ]
    assert pages, statements
    return pages


def _problems(plan: Any) -> list[str]:
    found = []
    node = plan.get("Plan", plan)
    kind = node["Node Type"]
    if kind == "Seq Scan" and node.get("Relation Name") in LARGE:
        found.append(f"Seq Scan on {node['Relation Name']}")
    if kind in ("Sort", "Incremental Sort") and any(
        table in " ".join(node.get("Sort Key", [])) for table in LARGE
    ):
        found.append(f"{kind} by {node['Sort Key']}")
    for child in node.get("Plans", []):
        found.extend(_problems(child))
    return found


@pytest.mark.parametrize("deep", [False, True], ids=["first page", "page after a cursor"])
def test_every_list_pages_through_indexes(
    app: FastAPI, client: TestClient, db: Session, engine: Engine, is_postgres: bool, deep: bool
) -> None:
    if not is_postgres:
        pytest.skip("the plans are PostgreSQL's")
    assert load_demo(db, "admin", "demo-password-123").created
    clerk, admin = office(db), headers_for(db, Role.admin)
    failing, checked = {}, 0
    for path, required in _paged_lists(app):
        params: dict[str, Any] = {**dict.fromkeys(required, 2022), "limit": 2}
        headers = admin if path in ADMIN_ONLY else clerk
        if deep:
            following = client.get(path, params=params, headers=headers).json()["next"]
            if following is None:
                continue
            params["cursor"] = following
        with _capturing(engine) as statements:
            assert client.get(path, params=params, headers=headers).status_code == 200
        with engine.connect() as connection:
            connection.exec_driver_sql("SET enable_seqscan = off")
            connection.exec_driver_sql("SET enable_sort = off")
            # An incremental sort is a sort too, with its own switch: left on, the planner
            # picked one over the index on the demo's tiny tables whenever the statistics
            # earlier tests leave behind made it a little cheaper. With every sort switched
            # off, a sort (of either kind) appears only where no index gives the order.
            connection.exec_driver_sql("SET enable_incremental_sort = off")
            for query, parameters in _page_queries(statements):
                plan = connection.exec_driver_sql(
                    "EXPLAIN (FORMAT JSON) " + query, parameters
                ).scalar_one()
                problems = _problems(plan[0])
                if problems:
                    failing[path] = problems
        checked += 1
    assert failing == {}
    assert checked >= WALKED_AT_LEAST
