"""Every request the README's demo tour tells a newcomer to try answers 200 on the demo data."""

import re
from pathlib import Path

from sqlmodel import Session, col, select
from starlette.testclient import TestClient

from app.core.roles import Role
from app.demo.loader import load_demo
from app.reference.models import Student
from tests.reference.factories import headers_for, office

README = Path(__file__).resolve().parents[2] / "README.md"


def _tour_requests() -> list[str]:
    text = README.read_text(encoding="utf-8")
    tour = text.split("## A tour of the demo", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"`GET (/api/v1/[^`\s]+)`", tour)


def test_the_readme_tour_works_on_the_demo_data(client: TestClient, db: Session) -> None:
    assert load_demo(db, "admin", "demo-password-123").created
    student = db.exec(select(Student).order_by(col(Student.student_no))).first()
    assert student is not None
    clerk = office(db)
    themself = headers_for(db, Role.student, student_id=student.id)
    requests = _tour_requests()
    assert len(requests) >= 10

    for path in requests:
        headers = clerk
        if "{id}" in path or path.startswith("/api/v1/public/"):
            headers = themself if "{id}" in path else {}
        response = client.get(path.replace("{id}", str(student.id)), headers=headers)
        assert response.status_code == 200, (path, response.text[:300])
    certificate = client.get("/api/v1/public/certificates/W010012200001").json()
    assert certificate["status"] == "valid"
