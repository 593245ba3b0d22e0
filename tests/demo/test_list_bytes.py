"""A list that reads its page as plain rows (``Listing.item_columns``) answers the very bytes the
ORM path answered: each of them, on the demo, against the page built from ORM entities and the
row mapper the rest of the service uses (``model_dump`` then ``model_validate``)."""

from typing import Any

from pydantic import TypeAdapter
from sqlmodel import Session
from starlette.testclient import TestClient

from app.core.pagination import Page
from app.core.roles import Principal, Role
from app.demo.loader import load_demo
from app.reference.models import StudentFilters, StudentPublic
from app.reference.service import STUDENTS, student_public
from tests.reference.factories import office

PAGED_BY_COLUMNS: list[tuple[str, Any, Any, type[Any], Any]] = [
    ("/api/v1/students", STUDENTS, StudentFilters, StudentPublic, student_public),
]


def test_plain_row_pages_answer_the_orm_pages_bytes(client: TestClient, db: Session) -> None:
    assert load_demo(db, "admin", "demo-password-123").created
    headers = office(db)
    for path, listing, filters, item, row_mapper in PAGED_BY_COLUMNS:
        assert listing.item_columns, path
        statement = listing.scoped(db, _principal(), filters()).order_by(*listing.order)
        rows = db.exec(statement).all()
        assert len(rows) > 3, f"{path} has too few rows in the demo to prove anything"
        adapter = TypeAdapter(Page[item])  # type: ignore[valid-type]
        for limit in (1, 3, len(rows)):
            answer = client.get(path, params={"limit": limit}, headers=headers)
            assert answer.status_code == 200, answer.text
            expected = adapter.validate_python(
                {
                    "items": [row_mapper(row) for row in rows[:limit]],
                    "total": len(rows),
                    "limit": limit,
                    "offset": 0,
                    "next": answer.json()["next"],
                }
            )
            assert answer.content == adapter.dump_json(expected, by_alias=True), (path, limit)
        one = client.get(f"{path}/{rows[0][0].id}", headers=headers)
        assert one.content == TypeAdapter(item).dump_json(row_mapper(rows[0])), path


def _principal() -> Principal:
    return Principal(role=Role.academic_office, label="test")
