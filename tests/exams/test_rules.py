"""Each rule of an exam session is written once (:mod:`app.exams.rules`): its boundaries, and the
same words whether a registration or a result comes one at a time or in an upload."""

from datetime import date, timedelta

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.applications.models import ApplicationStatus
from app.applications.rules import approved_problem
from app.exams.models import ExamRegistration
from app.exams.rules import (
    certified_pass_problem,
    full_problem,
    headcount_problem,
    held_problem,
    paid_pass_problem,
    window_problem,
)
from tests.exams.factories import make_pilot, make_session, pilot_students
from tests.imports.helpers import upload
from tests.reference.factories import office

OPENS, CLOSES = date(2026, 5, 1), date(2026, 5, 6)


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (date(2026, 4, 30), "registration for session 3 opens on 2026-05-01; today is 2026-04-30"),
        (OPENS, None),
        (CLOSES, None),
        (
            date(2026, 5, 7),
            "registration for session 3 closed at the end of 2026-05-06; today is 2026-05-07",
        ),
    ],
)
def test_the_window_is_open_from_its_first_day_to_the_end_of_its_last(
    today: date, expected: str | None
) -> None:
    assert window_problem(3, OPENS, CLOSES, today) == expected


def test_the_limits_refuse_at_the_limit_and_not_before() -> None:
    assert full_problem(3, 29, 30) is None
    assert full_problem(3, 30, 30) == "session 3 is full: all 30 seats are taken"
    assert headcount_problem(7, 39, 40) is None
    assert headcount_problem(7, 40, 40) == (
        "pilot application 7's headcount of 40 students is reached across its sessions"
    )
    assert approved_problem(7, ApplicationStatus.approved) is None
    assert approved_problem(7, ApplicationStatus.closed) is not None


def test_results_wait_for_the_exam_and_a_pass_under_a_certificate_or_payment_stays() -> None:
    exam_day = date(2026, 6, 1)
    assert held_problem(3, exam_day, exam_day) is None
    assert held_problem(3, exam_day, exam_day - timedelta(days=1)) == (
        "session 3's exam is on 2026-06-01 (today is 2026-05-31); absences and results are "
        "recorded from the exam date on"
    )
    assert certified_pass_problem(None) is None
    assert "revoke it" in (certified_pass_problem("N-1") or "")
    assert paid_pass_problem(None) is None
    assert "POST /api/v1/expenditures/{id}/reverse" in (paid_pass_problem("V-1") or "")


@pytest.mark.parametrize("limit", ["capacity", "headcount"])
def test_a_full_session_or_pilot_is_refused_in_the_same_words_alone_and_by_upload(
    client: TestClient, db: Session, limit: str
) -> None:
    application = make_pilot(db, headcount=1 if limit == "headcount" else 40)
    exam = make_session(db, application, capacity=1 if limit == "capacity" else 30)
    other = make_session(db, application) if limit == "headcount" else exam
    first, second = pilot_students(db, application, 2)
    headers = office(db)
    url = "/api/v1/exam-sessions/{}/registrations"
    taken = client.post(url.format(exam.id), json={"student_id": first.id}, headers=headers)
    assert taken.status_code == 201

    alone = client.post(url.format(other.id), json={"student_id": second.id}, headers=headers)
    uploaded = upload(
        client,
        headers,
        "exam-registrations",
        "r.csv",
        f"考核ID,学号\n{other.id},{second.student_no}\n".encode(),
    )

    expected = (
        full_problem(exam.id, 1, 1)
        if limit == "capacity"
        else headcount_problem(application.id, 1, 1)
    )
    assert alone.status_code == 409
    assert alone.json()["detail"] == f"Cannot register: {expected}"
    assert uploaded.status_code == 422
    assert [e["reason"] for e in uploaded.json()["errors"]] == [expected]
    assert len(db.exec(select(ExamRegistration)).all()) == 1
