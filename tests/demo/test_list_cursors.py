"""Every list that gives a ``next`` cursor walks, page by page, through exactly the rows of one
big page, in the same order, with the total counted once; a cursor not made by the list is 422."""

from typing import Any

from fastapi import FastAPI
from sqlmodel import Session
from starlette.testclient import TestClient

from app.core.roles import Role
from app.demo.loader import load_demo
from tests.demo.test_list_statements import ADMIN_ONLY, _paged_lists
from tests.reference.factories import headers_for, office

WALKED_AT_LEAST = 10


def _walk(
    client: TestClient, path: str, params: dict[str, Any], headers: dict[str, str]
) -> tuple[list[Any], list[int]]:
    items: list[Any] = []
    totals = []
    page = client.get(path, params={**params, "limit": 2}, headers=headers).json()
    while True:
        items.extend(page["items"])
        totals.append(page["total"])
        if page["next"] is None:
            return items, totals
        response = client.get(
            path, params={**params, "limit": 2, "cursor": page["next"]}, headers=headers
        )
        assert response.status_code == 200, (path, response.text)
        page = response.json()


def test_every_cursor_walk_gives_the_rows_of_one_big_page(
    app: FastAPI, client: TestClient, db: Session
) -> None:
    assert load_demo(db, "admin", "demo-password-123").created
    clerk, admin = office(db), headers_for(db, Role.admin)
    walked = []
    for path, required in _paged_lists(app):
        params = dict.fromkeys(required, 2022)
        headers = admin if path in ADMIN_ONLY else clerk
        whole = client.get(path, params={**params, "limit": 500}, headers=headers).json()
        first = client.get(path, params={**params, "limit": 2}, headers=headers)
        if first.json()["next"] is None:
            assert "link" not in first.headers or whole["total"] <= 2, path
            continue
        assert first.headers["link"].endswith('>; rel="next"'), path
        items, totals = _walk(client, path, params, headers)
        assert items == whole["items"], path
        assert set(totals) == {whole["total"]}, path
        walked.append(path)
    assert len(walked) >= WALKED_AT_LEAST, walked


def test_the_link_header_carries_the_filters_and_drops_the_offset(
    client: TestClient, db: Session
) -> None:
    assert load_demo(db, "admin", "demo-password-123").created
    response = client.get(
        "/api/v1/students",
        params={"limit": 1, "offset": 1, "cohort": 2020},
        headers=office(db),
    )
    link = response.headers["link"]
    assert "cohort=2020" in link
    assert "offset=" not in link
    assert f"cursor={response.json()['next']}" in link


def test_a_cursor_not_made_by_the_list_is_refused(client: TestClient, db: Session) -> None:
    assert load_demo(db, "admin", "demo-password-123").created
    headers = office(db)
    for cursor in ("x", "eyJrIjpbXX0", "eyJrIjpbWyJpIiwiMSJdXSwidCI6MX0"):
        response = client.get("/api/v1/students", params={"cursor": cursor}, headers=headers)
        assert response.status_code == 422, cursor
        assert response.json()["code"] == "invalid_cursor"
    good = client.get("/api/v1/students", params={"limit": 1}, headers=headers).json()["next"]
    other = client.get("/api/v1/colleges", params={"cursor": good}, headers=headers)
    assert other.status_code == 422
