"""Exam sessions: created for approved pilots, the window rule, filters, exports, updates."""

from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.applications.models import ApplicationStatus
from app.core.audit import AuditEvent
from app.core.roles import Role
from app.exams.models import ExamSession
from tests.exams.factories import (
    make_pilot,
    make_registration,
    make_session,
    pilot_students,
    school_today,
)
from tests.reference.factories import headers_for, office


def _payload(application_id: int, **changes: object) -> dict[str, object]:
    today = school_today()
    return {
        "application_id": application_id,
        "exam_date": str(today + timedelta(days=30)),
        "site": "实训楼A301",
        "capacity": 40,
        "registration_opens": str(today),
        "registration_closes": str(today + timedelta(days=10)),
        "fee": "260.50",
        **changes,
    }


def test_office_creates_a_session_for_an_approved_pilot(client: TestClient, db: Session) -> None:
    application = make_pilot(db)

    response = client.post(
        "/api/v1/exam-sessions", json=_payload(application.id), headers=office(db)
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["certificate_id"] == application.certificate_id
    assert body["level"] == "中级"
    assert body["fee"] == "260.50"
    assert body["status"] == "open"
    assert body["registered"] == 0
    assert response.headers["ETag"] == '"1"'
    stored = db.get(ExamSession, body["id"])
    assert stored is not None and stored.capacity == 40
    assert db.exec(select(AuditEvent).where(AuditEvent.entity == "exam_session")).one()


def test_session_for_a_pilot_not_approved_is_refused(client: TestClient, db: Session) -> None:
    application = make_pilot(db, status=ApplicationStatus.submitted)

    response = client.post(
        "/api/v1/exam-sessions", json=_payload(application.id), headers=office(db)
    )

    assert response.status_code == 409
    assert response.json()["code"] == "invalid_state"
    assert "Submitted" in response.json()["detail"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"capacity": 0}, "capacity"),
        (
            {"registration_closes": "2099-01-01"},
            "registration_closes must be on or before exam_date",
        ),
        (
            {"registration_opens": "2099-01-01"},
            "registration_opens must be on or before registration_closes",
        ),
        ({"registration_opens": "0001-01-01"}, "body.registration_opens"),
        ({"exam_date": "2101-01-01"}, "body.exam_date"),
    ],
)
def test_bad_capacity_or_window_is_refused(
    client: TestClient, db: Session, changes: dict[str, object], message: str
) -> None:
    application = make_pilot(db)

    response = client.post(
        "/api/v1/exam-sessions", json=_payload(application.id, **changes), headers=office(db)
    )

    assert response.status_code == 422
    assert message in response.text
    assert db.exec(select(ExamSession)).all() == []


def test_database_refuses_a_window_after_the_exam(db: Session) -> None:
    exam = make_session(db, make_pilot(db))
    exam.registration_closes = exam.exam_date + timedelta(days=1)
    db.add(exam)
    with pytest.raises(IntegrityError):
        db.commit()
    db.rollback()


def test_only_the_office_creates_sessions(client: TestClient, db: Session) -> None:
    application = make_pilot(db)
    headers = headers_for(db, Role.auditor)

    response = client.post("/api/v1/exam-sessions", json=_payload(application.id), headers=headers)

    assert response.status_code == 403


def test_sessions_filter_by_status_and_date(client: TestClient, db: Session) -> None:
    application = make_pilot(db)
    open_now = make_session(db, application)
    upcoming = make_session(db, application, opens_in_days=3, closes_in_days=5, exam_in_days=9)
    held = make_session(db, application, opens_in_days=-20, closes_in_days=-10, exam_in_days=-2)
    headers = office(db)

    def ids(**params: object) -> list[int]:
        response = client.get("/api/v1/exam-sessions", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return [s["id"] for s in response.json()["items"]]

    assert ids(status="open") == [open_now.id]
    assert ids(status="upcoming") == [upcoming.id]
    assert ids(status="held") == [held.id]
    assert ids(date_from=str(school_today())) == [open_now.id, upcoming.id]
    assert ids(certificate_id=application.certificate_id, level="中级") == [
        open_now.id,
        upcoming.id,
        held.id,
    ]


def test_capacity_cannot_drop_below_live_registrations(client: TestClient, db: Session) -> None:
    application = make_pilot(db)
    exam = make_session(db, application, capacity=5)
    for student in pilot_students(db, application, 3):
        make_registration(db, exam, student)
    headers = office(db)

    refused = client.patch(
        f"/api/v1/exam-sessions/{exam.id}",
        json={"capacity": 2},
        headers={**headers, "If-Match": '"1"'},
    )
    accepted = client.patch(
        f"/api/v1/exam-sessions/{exam.id}",
        json={"capacity": 3},
        headers={**headers, "If-Match": '"1"'},
    )
    stale = client.patch(
        f"/api/v1/exam-sessions/{exam.id}",
        json={"capacity": 4},
        headers={**headers, "If-Match": '"1"'},
    )

    assert refused.status_code == 409
    assert "3 live registrations" in refused.json()["detail"]
    assert accepted.status_code == 200
    assert accepted.json()["capacity"] == 3
    assert stale.status_code == 412


@pytest.mark.usefixtures("chinese")
def test_sessions_export_as_csv(client: TestClient, db: Session) -> None:
    make_session(db, make_pilot(db))

    response = client.get("/api/v1/exam-sessions", params={"format": "csv"}, headers=office(db))

    assert response.status_code == 200
    text = response.content.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("考核ID,证书名称")
    assert "实训楼A301" in text


def test_a_change_that_puts_the_window_after_the_exam_is_refused(
    client: TestClient, db: Session
) -> None:
    exam = make_session(db, make_pilot(db))

    response = client.patch(
        f"/api/v1/exam-sessions/{exam.id}",
        json={"exam_date": str(exam.registration_closes - timedelta(days=1))},
        headers=office(db),
    )

    assert response.status_code == 422
    assert "close on or before the exam date" in response.json()["detail"]
    db.refresh(exam)
    assert exam.version == 1


def test_a_change_to_a_date_out_of_range_is_refused(client: TestClient, db: Session) -> None:
    exam = make_session(db, make_pilot(db))

    response = client.patch(
        f"/api/v1/exam-sessions/{exam.id}",
        json={"registration_opens": "0001-01-01"},
        headers=office(db),
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.registration_opens"
    db.refresh(exam)
    assert exam.version == 1 and exam.registration_opens.year > 2000


@pytest.mark.parametrize(
    ("utc", "expected"),
    [("2022-05-06T15:59:00+00:00", "2022-05-06"), ("2022-05-06T16:00:00+00:00", "2022-05-07")],
)
def test_today_is_the_calendar_date_in_the_schools_time_zone(utc: str, expected: str) -> None:
    from datetime import date, datetime

    from app.core.types import school_date
    from app.exams.models import ExamSession as Model
    from app.exams.rules import window_problem

    today = school_date(datetime.fromisoformat(utc), "Asia/Shanghai")
    exam = Model(
        id=1,
        registration_opens=date(2022, 5, 1),
        registration_closes=date(2022, 5, 6),
        exam_date=date(2022, 5, 20),
    )

    assert str(today) == expected
    problem = window_problem(exam.id, exam.registration_opens, exam.registration_closes, today)
    assert (problem is None) == (expected == "2022-05-06")


def test_an_evaluation_organisation_sees_only_its_own_sessions(
    client: TestClient, db: Session
) -> None:
    from tests.reference.factories import make_org

    own = make_session(db, make_pilot(db))
    other = make_session(db, make_pilot(db))
    headers = headers_for(db, Role.evaluation_org, evaluation_org_id=own.evaluation_org_id)
    stranger = headers_for(db, Role.evaluation_org, evaluation_org_id=make_org(db).id)

    listed = client.get("/api/v1/exam-sessions", headers=headers)

    assert [s["id"] for s in listed.json()["items"]] == [own.id]
    assert client.get(f"/api/v1/exam-sessions/{other.id}", headers=headers).status_code == 404
    assert client.get("/api/v1/exam-sessions", headers=stranger).json()["total"] == 0


def test_a_session_for_an_unknown_application_is_refused(client: TestClient, db: Session) -> None:
    response = client.post("/api/v1/exam-sessions", json=_payload(999999), headers=office(db))

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.application_id"
