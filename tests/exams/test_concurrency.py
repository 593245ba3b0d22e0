"""Capacity and headcount hold when 100 registrations race (row locks on PostgreSQL; SQLite
serialises writers, so the same tests pass there too)."""

from collections import Counter

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from app.exams.models import ExamRegistration, ExamResult, RegistrationStatus
from tests.concurrency import Call, fire_concurrently
from tests.exams.factories import make_pilot, make_registration, make_session, pilot_students
from tests.reference.factories import office, xlsx_bytes

RACERS = 100
IN_FLIGHT = 25
"""Below the app's pool of 30 PostgreSQL connections (see ``fire_concurrently``)."""


def _calls(session_ids: list[int], student_ids: list[int], headers: dict[str, str]) -> list[Call]:
    return [
        Call(
            "POST",
            f"/api/v1/exam-sessions/{session_ids[i % len(session_ids)]}/registrations",
            {"json": {"student_id": student_id}, "headers": headers},
        )
        for i, student_id in enumerate(student_ids)
    ]


def _live(db: Session, **where: int) -> int:
    statement = select(func.count()).where(col(ExamRegistration.live).is_(True))
    for name, value in where.items():
        statement = statement.where(getattr(ExamRegistration, name) == value)
    return int(db.exec(statement).one())


@pytest.mark.slow
def test_100_concurrent_registrations_fill_exactly_the_20_seats(
    app: FastAPI, db: Session, engine: Engine
) -> None:
    application = make_pilot(db, headcount=RACERS)
    exam = make_session(db, application, capacity=20)
    students = pilot_students(db, application, RACERS)

    responses = fire_concurrently(
        app, _calls([exam.id], [s.id for s in students], office(db)), max_in_flight=IN_FLIGHT
    )

    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 20, 409: RACERS - 20}, statuses
    codes = Counter(r.json()["code"] for r in responses if r.status_code == 409)
    assert codes == {"session_full": RACERS - 20}
    assert _live(db, session_id=exam.id) == 20


@pytest.mark.slow
def test_100_concurrent_registrations_across_sessions_stop_at_the_headcount(
    app: FastAPI, db: Session, engine: Engine
) -> None:
    application = make_pilot(db, headcount=20)
    sessions = [make_session(db, application, capacity=RACERS) for _ in range(3)]
    students = pilot_students(db, application, RACERS)

    responses = fire_concurrently(
        app,
        _calls([s.id for s in sessions], [s.id for s in students], office(db)),
        max_in_flight=IN_FLIGHT,
    )

    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 20, 409: RACERS - 20}, statuses
    codes = Counter(r.json()["code"] for r in responses if r.status_code == 409)
    assert codes == {"headcount_reached": RACERS - 20}
    distinct = db.exec(
        select(func.count(func.distinct(ExamRegistration.student_id))).where(
            ExamRegistration.application_id == application.id,
            col(ExamRegistration.live).is_(True),
        )
    ).one()
    assert distinct == 20


@pytest.mark.slow
def test_the_same_student_racing_into_one_session_gets_one_live_registration(
    app: FastAPI, db: Session, engine: Engine
) -> None:
    application = make_pilot(db)
    exam = make_session(db, application, closes_in_days=0, exam_in_days=0)
    (student,) = pilot_students(db, application, 1)

    responses = fire_concurrently(
        app, _calls([exam.id], [student.id] * 10, office(db)), max_in_flight=IN_FLIGHT
    )

    assert Counter(r.status_code for r in responses) == {201: 1, 409: 9}
    assert _live(db, session_id=exam.id) == 1


@pytest.mark.slow
def test_concurrent_public_lookups_from_one_client_stop_at_the_limit(
    app: FastAPI, db: Session, engine: Engine
) -> None:
    calls = [Call("GET", "/api/v1/public/certificates/UNKNOWN")] * 80

    responses = fire_concurrently(app, calls, max_in_flight=IN_FLIGHT)

    assert Counter(r.status_code for r in responses) == {404: 60, 429: 20}


@pytest.mark.slow
def test_an_upload_racing_single_registrations_never_overfills_the_session(
    app: FastAPI, db: Session, engine: Engine
) -> None:
    application = make_pilot(db, headcount=RACERS)
    exam = make_session(db, application, capacity=20)
    students = pilot_students(db, application, 30)
    headers = office(db)
    content = xlsx_bytes([["考核ID", "学号"], *([exam.id, s.student_no] for s in students[:15])])
    upload_call = Call(
        "POST",
        "/api/v1/imports/exam-registrations",
        {"files": {"file": ("class.xlsx", content)}, "headers": headers},
    )
    singles = _calls([exam.id], [s.id for s in students[15:]], headers)

    responses = fire_concurrently(app, [upload_call, *singles], max_in_flight=IN_FLIGHT)

    uploaded, *single = responses
    assert uploaded.status_code in {200, 409, 422}, uploaded.text
    assert all(r.status_code in {201, 409} for r in single)
    live = _live(db, session_id=exam.id)
    created = 15 if uploaded.status_code == 200 else 0
    assert live == created + sum(1 for r in single if r.status_code == 201)
    assert live <= 20


def test_racing_absent_and_result_leave_one_consistent_outcome(
    app: FastAPI, db: Session, engine: Engine
) -> None:
    """The status is checked on the row as it is once locked (not as the request first read it):
    a candidate is never both absent and given a result."""
    application = make_pilot(db, headcount=20)
    exam = make_session(db, application, closes_in_days=0, exam_in_days=0)
    students = pilot_students(db, application, 10)
    registrations = [make_registration(db, exam, student) for student in students]
    headers = office(db)
    calls = []
    for registration in registrations:
        calls.append(
            Call("POST", f"/api/v1/registrations/{registration.id}/absent", {"headers": headers})
        )
        calls.append(
            Call(
                "PUT",
                f"/api/v1/registrations/{registration.id}/result",
                {"json": {"passed": True}, "headers": headers},
            )
        )

    responses = fire_concurrently(app, calls, max_in_flight=IN_FLIGHT)

    for index, registration in enumerate(registrations):
        absent, result = responses[2 * index], responses[2 * index + 1]
        assert sorted([absent.status_code, result.status_code]) == [200, 409], (
            absent.text,
            result.text,
        )
        db.refresh(registration)
        has_result = db.exec(
            select(ExamResult).where(ExamResult.registration_id == registration.id)
        ).first()
        if absent.status_code == 200:
            assert registration.status == RegistrationStatus.absent
            assert has_result is None
        else:
            assert registration.status == RegistrationStatus.sat
            assert has_result is not None
