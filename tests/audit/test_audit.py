import csv
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.testclient import TestClient

from app.core.roles import Role
from tests.factories import feed_settled, login_as


def _create_users(client: TestClient, admin: dict[str, str], count: int) -> list[int]:
    ids = []
    for n in range(count):
        response = client.post(
            "/api/v1/users",
            headers=admin,
            json={"username": f"user{n}", "password": "s3cret-enough", "role": "auditor"},
        )
        assert response.status_code == 201
        ids.append(response.json()["id"])
    return ids


def test_audit_events_are_listed_newest_first_with_filters(client: TestClient, db: Session) -> None:
    admin = login_as(db, Role.admin, username="root")
    ids = _create_users(client, admin, 3)
    client.patch(f"/api/v1/users/{ids[0]}", headers=admin, json={"full_name": "Renamed"})

    everything = client.get("/api/v1/audit-events", headers=admin).json()
    updates = client.get("/api/v1/audit-events?action=update", headers=admin).json()
    one_user = client.get(
        f"/api/v1/audit-events?entity=user&entity_id={ids[0]}", headers=admin
    ).json()

    assert everything["total"] == 4
    assert [e["action"] for e in everything["items"]] == ["update", "create", "create", "create"]
    assert updates["total"] == 1
    assert updates["items"][0]["before"]["full_name"] == ""
    assert updates["items"][0]["after"]["full_name"] == "Renamed"
    assert updates["items"][0]["actor"] == "user:root"
    assert one_user["total"] == 2


def test_auditor_reads_the_audit_trail_and_others_do_not(client: TestClient, db: Session) -> None:
    assert client.get("/api/v1/audit-events", headers=login_as(db, Role.auditor)).status_code == 200
    for role in (Role.academic_office, Role.college_manager, Role.student, Role.teacher):
        response = client.get("/api/v1/audit-events", headers=login_as(db, role))
        assert response.status_code == 403, role


def test_change_feed_pages_forward_with_a_cursor_and_misses_nothing(
    client: TestClient, db: Session, engine: Engine
) -> None:
    admin = login_as(db, Role.admin)
    _create_users(client, admin, 5)
    office = login_as(db, Role.academic_office)
    feed_settled(engine)

    seen: list[int] = []
    after = 0
    while True:
        batch = client.get(f"/api/v1/events?after={after}&limit=2", headers=office).json()
        seen.extend(item["id"] for item in batch["items"])
        after = batch["next_after"]
        if not batch["has_more"]:
            break

    assert len(seen) == 5
    assert seen == sorted(seen)
    empty = client.get(f"/api/v1/events?after={after}", headers=office).json()
    assert empty["items"] == [] and empty["next_after"] == after and not empty["has_more"]


def test_change_feed_is_closed_to_students(client: TestClient, db: Session) -> None:
    response = client.get("/api/v1/events", headers=login_as(db, Role.student))

    assert response.status_code == 403


@pytest.mark.usefixtures("chinese")
def test_change_feed_exports_the_same_batch_as_csv_and_xlsx(
    client: TestClient, db: Session, engine: Engine
) -> None:
    admin = login_as(db, Role.admin)
    _create_users(client, admin, 3)
    office = login_as(db, Role.academic_office)
    feed_settled(engine)
    batch = client.get("/api/v1/events?after=0&limit=2", headers=office).json()

    as_csv = client.get("/api/v1/events?after=0&limit=2&format=csv", headers=office)
    assert as_csv.status_code == 200
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"), newline="")))
    assert rows[0] == ["ID", "时间", "操作", "对象", "对象ID", "操作者"]
    assert [int(r[0]) for r in rows[1:]] == [item["id"] for item in batch["items"]]
    assert [r[3] for r in rows[1:]] == ["用户" for item in batch["items"]]
    assert {item["entity"] for item in batch["items"]} == {"user"}

    as_xlsx = client.get("/api/v1/events?after=0&limit=2&format=xlsx", headers=office)
    assert as_xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(as_xlsx.content), read_only=True).worksheets[0]
    ids = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert ids == [item["id"] for item in batch["items"]]


def test_audit_events_export_honours_the_filters(client: TestClient, db: Session) -> None:
    admin = login_as(db, Role.admin, username="root")
    ids = _create_users(client, admin, 2)
    client.patch(f"/api/v1/users/{ids[0]}", headers=admin, json={"full_name": "Renamed"})

    response = client.get("/api/v1/audit-events?action=update&format=csv", headers=admin)

    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))
    assert len(rows) == 2
    assert rows[1][4] == "update"
