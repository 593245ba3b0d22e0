"""Sync by change: `updated_since` on the lists another system mirrors, and an upload's feed
event naming the rows it created and changed."""

import time
from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.main import create_app
from app.reference.models import Student
from tests.factories import feed_settled
from tests.imports.helpers import upload
from tests.reference.factories import make_college, make_major, make_student, office

SYNCED_LISTS = [
    "/api/v1/students",
    "/api/v1/teachers",
    "/api/v1/applications",
    "/api/v1/registrations",
    "/api/v1/issued-certificates",
    "/api/v1/credit-records",
    "/api/v1/expenditures",
    "/api/v1/training-batches/{batch_id}/enrollments",
]


def _moment() -> str:
    """Now, as a client would send it, strictly after anything written before."""
    time.sleep(0.01)
    moment = datetime.now(UTC).isoformat()
    time.sleep(0.01)
    return moment


def test_every_synced_list_documents_updated_since() -> None:
    schema = create_app().openapi()
    for path in SYNCED_LISTS:
        names = [p["name"] for p in schema["paths"][path]["get"]["parameters"]]
        assert "updated_since" in names, path


def test_students_changed_since_a_moment_are_the_ones_listed(
    client: TestClient, db: Session
) -> None:
    major = make_major(db)
    untouched = make_student(db, major, student_no="2022001")
    changed = make_student(db, major, student_no="2022002")
    since = _moment()
    headers = office(db)
    current = client.get(f"/api/v1/students/{changed.id}", headers=headers)
    patched = client.patch(
        f"/api/v1/students/{changed.id}",
        json={"class_name": "2班"},
        headers={**headers, "If-Match": current.headers["ETag"]},
    )
    assert patched.status_code == 200, patched.text
    new = make_student(db, major, student_no="2022003")

    listed = client.get("/api/v1/students", params={"updated_since": since}, headers=headers)
    assert listed.status_code == 200, listed.text
    assert sorted(item["id"] for item in listed.json()["items"]) == sorted([changed.id, new.id])
    assert listed.json()["total"] == 2
    everyone = client.get("/api/v1/students", headers=headers).json()
    assert untouched.id in [item["id"] for item in everyone["items"]]
    exported = client.get(
        "/api/v1/students", params={"updated_since": since, "format": "csv"}, headers=headers
    )
    assert exported.status_code == 200
    assert len(exported.content.decode("utf-8-sig").splitlines()) == 1 + 2


@pytest.mark.parametrize(
    "value", ["2026-09-01T08:00:00", "yesterday", "2026-13-01T00:00:00Z", "60.0", "1700000000"]
)
def test_updated_since_needs_a_moment_with_its_offset(
    client: TestClient, db: Session, value: str
) -> None:
    response = client.get("/api/v1/students", params={"updated_since": value}, headers=office(db))
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "updated_since" in response.text


def test_an_uploads_feed_event_names_the_rows_it_created_and_updated(
    client: TestClient, db: Session, engine: Engine
) -> None:
    college = make_college(db, "计算机与软件学院")
    major = make_major(db, college, code="510203", name="软件技术")
    kept = make_student(db, major, student_no="2022001")
    headers = office(db)
    content = "学号,姓名,专业代码,年级\n2022001,改名,510203,2022\n2022009,新生,510203,2022\n"
    since = _moment()
    response = upload(client, headers, "students", "s.csv", content.encode())
    assert response.status_code == 200, response.text
    assert (response.json()["created"], response.json()["updated"]) == (1, 1)
    new_id = db.exec(select(Student.id).where(Student.student_no == "2022009")).one()

    feed_settled(engine)
    events = client.get("/api/v1/events", params={"after": 0, "limit": 100}, headers=headers)
    assert events.status_code == 200, events.text
    imports = [e for e in events.json()["items"] if e["action"] == "import"]
    assert len(imports) == 1
    after = imports[0]["rows"]
    assert after["created_ids"] == [new_id]
    assert after["updated_ids"] == [kept.id]
    assert "ids_omitted" not in after
    # The moment the event gives finds the same rows on the list.
    assert after["changed_at"] >= since
    listed = client.get(
        "/api/v1/students", params={"updated_since": after["changed_at"]}, headers=headers
    )
    assert sorted(item["id"] for item in listed.json()["items"]) == sorted([new_id, kept.id])
