"""The exam lists: a constant number of SQL statements per page, and exports."""

import pytest
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.testclient import TestClient

from app.exams.models import IssuedCertificate
from tests.exams.factories import (
    make_pilot,
    make_registration,
    make_result,
    make_session,
    pilot_students,
)
from tests.reference.factories import counting, office


def _seed(db: Session) -> None:
    from datetime import date

    application = make_pilot(db, headcount=100)
    sessions = [make_session(db, application) for _ in range(3)]
    for i, student in enumerate(pilot_students(db, application, 55)):
        result = make_result(db, make_registration(db, sessions[i % 3], student))
        db.add(
            IssuedCertificate(
                number=f"N{i:03d}",
                result_id=result.id,
                student_id=student.id,
                session_id=sessions[i % 3].id,
                issue_date=date(2022, 12, 20),
            )
        )
    db.commit()


@pytest.mark.parametrize(
    ("path", "more_than"),
    [("exam-sessions", 2), ("registrations", 50), ("issued-certificates", 50)],
)
def test_list_statement_count_does_not_grow_with_page_size(
    client: TestClient, db: Session, engine: Engine, path: str, more_than: int
) -> None:
    _seed(db)
    headers = office(db)
    counts = []
    for limit in (1, more_than):
        with counting(engine) as statements:
            response = client.get(f"/api/v1/{path}", params={"limit": limit}, headers=headers)
        assert response.status_code == 200
        assert len(response.json()["items"]) == limit
        counts.append(len(statements))
    assert counts[0] == counts[1]


@pytest.mark.parametrize("path", ["exam-sessions", "registrations", "issued-certificates"])
def test_every_exam_list_exports_csv_and_xlsx(client: TestClient, db: Session, path: str) -> None:
    _seed(db)
    headers = office(db)
    for fmt in ("csv", "xlsx"):
        response = client.get(f"/api/v1/{path}", params={"format": fmt}, headers=headers)
        assert response.status_code == 200, response.text
