"""The credit-bank lists use a fixed number of statements whatever the page size, and export."""

import pytest
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.testclient import TestClient

from tests.credits.factories import file_request, issue_certificate, make_rule
from tests.reference.factories import counting, make_certificate, make_major, make_student, office

ROWS = 6


def _seed(db: Session) -> None:
    major = make_major(db)
    certificate = make_certificate(db)
    rules = [make_rule(db, certificate, [major, make_major(db)]) for _ in range(ROWS)]
    for rule in rules:
        student = make_student(db, major)
        issued = issue_certificate(db, student, certificate)
        file_request(db, student, issued, rule)


@pytest.mark.parametrize("path", ["credit-rules", "conversion-requests"])
def test_list_statement_count_does_not_grow_with_page_size(
    client: TestClient, db: Session, engine: Engine, path: str
) -> None:
    _seed(db)
    headers = office(db)
    counts = []
    for limit in (1, ROWS - 1):  # rows follow both pages (a last page is not counted)
        with counting(engine) as statements:
            response = client.get(f"/api/v1/{path}", params={"limit": limit}, headers=headers)
        assert response.status_code == 200
        assert len(response.json()["items"]) == limit
        counts.append(len(statements))
    assert counts[0] == counts[1]


@pytest.mark.parametrize("path", ["credit-rules", "conversion-requests"])
def test_every_credit_list_exports_csv_and_xlsx(client: TestClient, db: Session, path: str) -> None:
    _seed(db)
    headers = office(db)
    for fmt in ("csv", "xlsx"):
        response = client.get(f"/api/v1/{path}", params={"format": fmt}, headers=headers)
        assert response.status_code == 200, response.text
    lines = (
        client.get(f"/api/v1/{path}", params={"format": "csv"}, headers=headers)
        .content.decode("utf-8-sig")
        .splitlines()
    )
    assert len(lines) == ROWS + 1
