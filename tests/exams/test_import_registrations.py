"""The exam-registrations upload: a whole class at once with every rule of a single
registration, scoped for a college manager."""

from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.exams.models import ExamRegistration
from tests.exams.factories import make_pilot, make_session, pilot_students
from tests.imports.helpers import upload
from tests.reference.factories import (
    make_college,
    make_major,
    make_student,
    manager_of,
    office,
    xlsx_bytes,
)

HEADER = ["考核ID", "学号"]


def test_a_file_larger_than_the_free_seats_is_refused_whole(
    client: TestClient, db: Session
) -> None:
    application = make_pilot(db)
    exam = make_session(db, application, capacity=2)
    students = pilot_students(db, application, 3)
    content = xlsx_bytes([HEADER, *([exam.id, s.student_no] for s in students)])

    response = upload(client, office(db), "exam-registrations", "r.xlsx", content)

    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert error["row"] == 4
    assert "all 2 seats are taken" in error["reason"]
    assert db.exec(select(ExamRegistration)).all() == []


def test_a_file_over_the_pilot_headcount_is_refused(client: TestClient, db: Session) -> None:
    application = make_pilot(db, headcount=2)
    exam = make_session(db, application)
    students = pilot_students(db, application, 3)
    content = xlsx_bytes([HEADER, *([exam.id, s.student_no] for s in students)])

    response = upload(client, office(db), "exam-registrations", "r.xlsx", content)

    assert response.status_code == 422
    assert "headcount of 2 students is reached" in response.json()["errors"][0]["reason"]


def test_a_closed_window_unknown_student_and_wrong_name_are_named(
    client: TestClient, db: Session
) -> None:
    application = make_pilot(db)
    closed = make_session(db, application, opens_in_days=-9, closes_in_days=-1)
    exam = make_session(db, application)
    first, second = pilot_students(db, application, 2)
    content = xlsx_bytes(
        [
            ["考核ID", "学号", "姓名"],
            [closed.id, first.student_no, first.name],
            [exam.id, "S-NOBODY", ""],
            [exam.id, second.student_no, "王五"],
            [999, second.student_no, ""],
        ]
    )

    response = upload(client, office(db), "exam-registrations", "r.xlsx", content, dry_run=True)

    reasons = [e["reason"] for e in response.json()["errors"]]
    assert "closed at the end of" in reasons[0]
    assert "no student with number S-NOBODY" in reasons[1]
    assert "not 王五" in reasons[2]
    assert "no exam session with id 999" in reasons[3]


def test_a_college_manager_uploads_only_students_of_their_college(
    client: TestClient, db: Session
) -> None:
    college = make_college(db)
    ours = make_major(db, college)
    theirs = make_major(db)
    from app.applications.models import ApplicationStatus
    from tests.applications.factories import make_application

    application = make_application(db, majors=[ours, theirs], status=ApplicationStatus.approved)
    exam = make_session(db, application)
    own = make_student(db, ours, cohort=2021)
    foreign = make_student(db, theirs, cohort=2021)
    headers = manager_of(db, college)

    refused = upload(
        client,
        headers,
        "exam-registrations",
        "r.xlsx",
        xlsx_bytes([HEADER, [exam.id, own.student_no], [exam.id, foreign.student_no]]),
    )
    accepted = upload(
        client,
        headers,
        "exam-registrations",
        "r.xlsx",
        xlsx_bytes([HEADER, [exam.id, own.student_no]]),
    )

    assert refused.status_code == 422
    assert [e["row"] for e in refused.json()["errors"]] == [3]
    assert "own college" in refused.json()["errors"][0]["reason"]
    assert accepted.status_code == 200
    assert accepted.json()["created"] == 1


def test_a_class_list_of_student_numbers_registers_with_the_session_as_a_parameter(
    client: TestClient, db: Session
) -> None:
    application = make_pilot(db)
    exam = make_session(db, application)
    students = pilot_students(db, application, 3)
    content = xlsx_bytes([["学号", "姓名"], *([s.student_no, s.name] for s in students)])

    response = upload(
        client, office(db), "exam-registrations", "class.xlsx", content, session_id=exam.id
    )
    without = upload(client, office(db), "exam-registrations", "class.xlsx", content)

    assert response.status_code == 200, response.text
    assert response.json()["created"] == 3
    assert without.status_code == 422
    assert "pass ?session_id=" in without.json()["errors"][0]["reason"]
