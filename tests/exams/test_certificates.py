"""Issued certificates: only for a passed result, unique numbers, revocation, a student's own
list, and the public verification with its per-client limit kept in the database."""

from datetime import timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.core.roles import Role
from app.core.types import utcnow
from app.exams.models import ExamSession, IssuedCertificate, PublicLookup
from app.exams.service import PUBLIC_LOOKUPS_PER_MINUTE, mask_name
from app.reference.models import Student
from tests.exams.factories import (
    issue_certificate,
    make_pilot,
    make_registration,
    make_result,
    make_session,
    pilot_students,
    school_today,
)
from tests.imports.helpers import upload
from tests.reference.factories import headers_for, make_org, office, xlsx_bytes

HEADER = ["考核ID", "学号", "证书编号", "发证日期"]


def _passed(db: Session, count: int = 1, passed: bool = True) -> tuple[ExamSession, list[Student]]:
    application = make_pilot(db)
    exam = make_session(db, application)
    students = pilot_students(db, application, count)
    for student in students:
        make_result(db, make_registration(db, exam, student), passed=passed)
    return exam, students


def _issue(db: Session, exam: ExamSession, student: Student, number: str) -> IssuedCertificate:
    from app.exams.models import ExamRegistration

    registration = db.exec(
        select(ExamRegistration).where(
            ExamRegistration.session_id == exam.id, ExamRegistration.student_id == student.id
        )
    ).one()
    return issue_certificate(db, registration, number)


def test_no_certificate_for_a_failed_result(client: TestClient, db: Session) -> None:
    exam, (student,) = _passed(db, passed=False)
    content = xlsx_bytes([HEADER, [exam.id, student.student_no, "N001", "2022-12-20"]])

    response = upload(client, office(db), "issued-certificates", "c.xlsx", content)

    assert response.status_code == 422
    assert "no passed result" in response.json()["errors"][0]["reason"]
    assert db.exec(select(IssuedCertificate)).all() == []


def test_a_certificate_number_is_unique_across_the_service(client: TestClient, db: Session) -> None:
    exam, (first, second) = _passed(db, 2)
    _issue(db, exam, first, "N001")
    content = xlsx_bytes([HEADER, [exam.id, second.student_no, "N001", "2022-12-20"]])

    response = upload(client, office(db), "issued-certificates", "c.xlsx", content)

    assert response.status_code == 422
    assert "already issued to another result" in response.json()["errors"][0]["reason"]


def test_two_numbers_for_one_student_in_a_file_are_named_row_by_row(
    client: TestClient, db: Session
) -> None:
    exam, (student,) = _passed(db)
    content = xlsx_bytes(
        [
            HEADER,
            [exam.id, student.student_no, "N001", "2022-12-20"],
            [exam.id, student.student_no, "N002", "2022-12-20"],
        ]
    )

    response = upload(client, office(db), "issued-certificates", "c.xlsx", content)

    assert response.status_code == 422, response.text
    (error,) = response.json()["errors"]
    assert error["row"] == 3 and error["value"] == "N002"
    assert "N001 in an earlier row" in error["reason"]
    assert db.exec(select(IssuedCertificate)).all() == []


def test_an_issue_date_in_the_future_or_before_2000_is_refused(
    client: TestClient, db: Session
) -> None:
    exam, (first, second) = _passed(db, 2)
    future = (school_today() + timedelta(days=1)).isoformat()
    content = xlsx_bytes(
        [
            HEADER,
            [exam.id, first.student_no, "N001", future],
            [exam.id, second.student_no, "N002", "1999-12-31"],
        ]
    )

    response = upload(client, office(db), "issued-certificates", "c.xlsx", content)

    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert [(e["row"], e["column"], e["value"]) for e in errors] == [
        (2, "发证日期", future),
        (3, "发证日期", "1999-12-31"),
    ]
    assert "(today)" in errors[0]["reason"]
    assert db.exec(select(IssuedCertificate)).all() == []


def test_database_refuses_a_duplicate_number(db: Session) -> None:
    exam, (first, second) = _passed(db, 2)
    _issue(db, exam, first, "N001")
    with pytest.raises(IntegrityError):
        _issue(db, exam, second, "N001")
    db.rollback()


def test_the_issuing_organisation_revokes_another_may_not(client: TestClient, db: Session) -> None:
    exam, (student,) = _passed(db)
    issued = _issue(db, exam, student, "N001")
    url = f"/api/v1/issued-certificates/{issued.id}/revoke"
    own = headers_for(db, Role.evaluation_org, evaluation_org_id=exam.evaluation_org_id)
    stranger = headers_for(db, Role.evaluation_org, evaluation_org_id=make_org(db).id)

    assert client.post(url, json={"reason": "误发"}, headers=stranger).status_code == 404
    revoked = client.post(url, json={"reason": "误发"}, headers=own)
    again = client.post(url, json={"reason": "误发"}, headers=own)

    assert revoked.status_code == 200
    assert revoked.json()["revoke_reason"] == "误发"
    assert again.status_code == 409
    assert again.json()["current_state"] == "revoked"


def test_revoke_needs_a_reason(client: TestClient, db: Session) -> None:
    exam, (student,) = _passed(db)
    issued = _issue(db, exam, student, "N001")

    response = client.post(
        f"/api/v1/issued-certificates/{issued.id}/revoke", json={"reason": " "}, headers=office(db)
    )

    assert response.status_code == 422
    db.refresh(issued)
    assert issued.status == "valid"


def test_a_student_sees_only_their_own_certificates(client: TestClient, db: Session) -> None:
    exam, (me, other) = _passed(db, 2)
    mine = _issue(db, exam, me, "N001")
    _issue(db, exam, other, "N002")

    response = client.get(
        "/api/v1/issued-certificates", headers=headers_for(db, Role.student, student_id=me.id)
    )

    assert response.status_code == 200
    assert [c["id"] for c in response.json()["items"]] == [mine.id]


def test_certificates_export_as_xlsx(client: TestClient, db: Session) -> None:
    exam, (student,) = _passed(db)
    _issue(db, exam, student, "N001")

    response = client.get(
        "/api/v1/issued-certificates", params={"format": "xlsx"}, headers=office(db)
    )

    assert response.status_code == 200
    assert response.content[:2] == b"PK"


@pytest.mark.parametrize(
    ("name", "masked"), [("张三", "张*"), ("张小三", "张*三"), ("欧阳小明", "欧**明"), ("李", "*")]
)
def test_names_are_masked(name: str, masked: str) -> None:
    assert mask_name(name) == masked


def test_an_unknown_number_answers_404_and_reveals_nothing(client: TestClient, db: Session) -> None:
    response = client.get("/api/v1/public/certificates/NOPE-1")

    assert response.status_code == 404
    assert response.json()["detail"] == "No certificate with this number"


def test_more_than_60_lookups_a_minute_from_one_client_answer_429(
    app: FastAPI, db: Session
) -> None:
    exam, (student,) = _passed(db)
    _issue(db, exam, student, "N001")
    first = TestClient(app, raise_server_exceptions=False, client=("10.0.0.1", 5000))
    second = TestClient(app, raise_server_exceptions=False, client=("10.0.0.2", 5000))

    statuses = [
        first.get("/api/v1/public/certificates/N001").status_code
        for _ in range(PUBLIC_LOOKUPS_PER_MINUTE + 1)
    ]
    other_client = second.get("/api/v1/public/certificates/N001")

    assert statuses[:PUBLIC_LOOKUPS_PER_MINUTE] == [200] * PUBLIC_LOOKUPS_PER_MINUTE
    refused = first.get("/api/v1/public/certificates/N001")
    assert statuses[-1] == 429
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert other_client.status_code == 200
    counted = db.exec(select(PublicLookup).where(PublicLookup.client == "10.0.0.1")).all()
    assert len(counted) == PUBLIC_LOOKUPS_PER_MINUTE


def test_a_lookup_forgets_expired_lookups_of_every_client(
    app: FastAPI, client: TestClient, db: Session
) -> None:
    exam, (student,) = _passed(db)
    _issue(db, exam, student, "N001")
    long_ago = utcnow() - timedelta(minutes=5)
    for name in ("10.9.9.9", "10.9.9.8"):
        db.add(PublicLookup(client=name, created_at=long_ago, updated_at=long_ago))
    db.commit()

    visitor = TestClient(app, raise_server_exceptions=False, client=("10.0.0.3", 5000))
    assert visitor.get("/api/v1/public/certificates/N001").status_code == 200

    left = db.exec(select(PublicLookup.client)).all()
    assert left == ["10.0.0.3"]
