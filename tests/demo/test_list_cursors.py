"""Every list that gives a ``next`` cursor walks, page by page, through exactly the rows of one
big page, in the same order, with the total counted once; a cursor not made by the list is 422."""

from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from starlette.testclient import TestClient

from app.core import listing
from app.core.roles import Role
from app.demo.loader import load_demo
from app.reference.models import College, Student
from tests.demo.test_list_statements import ADMIN_ONLY, _paged_lists
from tests.reference.factories import counting, headers_for, make_major, make_student, office

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
        assert whole["next"] is None, path
        assert whole["total"] == len(whole["items"]), path
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


def test_a_first_page_counts_up_to_the_limit_unless_asked_for_every_row(
    client: TestClient, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load_demo(db, "admin", "demo-password-123").created
    headers = office(db)
    whole = client.get("/api/v1/students", params={"limit": 500}, headers=headers).json()
    assert whole["total"] == len(whole["items"]) > 3
    monkeypatch.setattr(listing, "COUNT_LIMIT", whole["total"])
    assert client.get("/api/v1/students", headers=headers).json()["total"] == whole["total"]
    monkeypatch.setattr(listing, "COUNT_LIMIT", 3)
    first = client.get("/api/v1/students", params={"limit": 2}, headers=headers)
    assert first.status_code == 200
    assert first.json()["total"] is None
    assert len(first.json()["items"]) == 2
    following = client.get(
        "/api/v1/students", params={"limit": 2, "cursor": first.json()["next"]}, headers=headers
    ).json()
    assert following["total"] is None
    assert following["items"] == whole["items"][2:4]
    counted = client.get(
        "/api/v1/students", params={"limit": 2, "count": "true"}, headers=headers
    ).json()
    assert counted["total"] == whole["total"]
    walked = client.get(
        "/api/v1/students", params={"limit": 2, "cursor": counted["next"]}, headers=headers
    ).json()
    assert walked["total"] == whole["total"]
    narrowed = client.get(
        "/api/v1/students",
        params={"limit": 2, "q": whole["items"][0]["student_no"]},
        headers=headers,
    ).json()
    assert narrowed["total"] == 1


def test_a_last_page_knows_its_total_without_counting(
    client: TestClient, db: Session, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rows skipped and the rows shown are every matching row when no row follows: the
    total is the same as counted, without the count's statement; an empty page past the end
    still counts, and the count's limit still holds."""
    assert load_demo(db, "admin", "demo-password-123").created
    headers = office(db)
    url = "/api/v1/students"
    counted = client.get(url, params={"limit": 1}, headers=headers).json()
    total = counted["total"]
    assert total > 3 and counted["next"] is not None

    def page(**params: Any) -> tuple[dict[str, Any], list[str]]:
        with counting(engine) as statements:
            response = client.get(url, params=params, headers=headers)
        assert response.status_code == 200, response.text
        return response.json(), [s for s in statements if "count(" in s.lower()]

    last, counts = page(limit=2, offset=total - 1)
    assert (last["total"], len(last["items"]), last["next"], counts) == (total, 1, None, [])
    whole, counts = page(limit=500)
    assert (whole["total"], len(whole["items"]), counts) == (total, total, [])
    past, counts = page(limit=2, offset=total + 5)
    assert (past["total"], past["items"], len(counts)) == (total, [], 1)
    middle, counts = page(limit=2, offset=1)
    assert (middle["total"], len(counts)) == (total, 1)
    monkeypatch.setattr(listing, "COUNT_LIMIT", total - 1)
    assert page(limit=500)[0]["total"] is None
    assert page(limit=500, count="true")[0]["total"] == total


def test_every_list_counts_the_rows_it_shows_for_a_college_and_a_student(
    app: FastAPI, client: TestClient, db: Session
) -> None:
    assert load_demo(db, "admin", "demo-password-123").created
    college = db.exec(select(College).order_by(col(College.id))).first()
    student = db.exec(select(Student).order_by(col(Student.id))).first()
    assert college is not None and student is not None
    readers = {
        "college": headers_for(db, Role.college_manager, college_id=college.id),
        "student": headers_for(db, Role.student, student_id=student.id),
    }
    shown = 0
    for path, required in _paged_lists(app):
        params = {**dict.fromkeys(required, 2022), "limit": 500}
        for who, headers in readers.items():
            response = client.get(path, params=params, headers=headers)
            if response.status_code == 403:
                continue
            assert response.status_code == 200, (path, who, response.text)
            page = response.json()
            assert page["total"] == len(page["items"]), (path, who)
            shown += bool(page["items"])
    assert shown >= WALKED_AT_LEAST


def test_a_row_deleted_between_a_deep_pages_two_statements_does_not_end_the_walk(
    client: TestClient, db: Session, engine: Engine, db_engine: Engine, is_postgres: bool
) -> None:
    """A deep page reads its ids, then their rows: a row deleted in between leaves the page a
    row short, but the walk goes on (whether more follow is told by the ids)."""
    if not is_postgres:
        pytest.skip("SQLite reads one snapshot per transaction: nothing changes in between")
    major = make_major(db)
    students = sorted(
        (make_student(db, major, student_no=f"DEL{i:04d}") for i in range(6)),
        key=lambda s: s.student_no,
    )
    headers = office(db)
    first = client.get("/api/v1/students", params={"limit": 2}, headers=headers).json()
    gone = students[2]

    def delete_in_between(_c: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if statement.startswith("SELECT students.id \nFROM students") and not deleted:
            with db_engine.connect() as other:
                other.execute(sa.delete(Student).where(col(Student.id) == gone.id))
            deleted.append(gone.id)

    deleted: list[int] = []
    sa.event.listen(engine, "after_cursor_execute", delete_in_between)
    try:
        second = client.get(
            "/api/v1/students", params={"limit": 2, "cursor": first["next"]}, headers=headers
        ).json()
    finally:
        sa.event.remove(engine, "after_cursor_execute", delete_in_between)

    assert deleted == [gone.id]
    assert [s["student_no"] for s in second["items"]] == [
        students[3].student_no,
        students[4].student_no,
    ]
    assert second["next"] is not None  # three ids were read: more follow
    third = client.get(
        "/api/v1/students", params={"limit": 2, "cursor": second["next"]}, headers=headers
    ).json()
    assert [s["student_no"] for s in third["items"]] == [students[5].student_no]
    assert third["next"] is None
