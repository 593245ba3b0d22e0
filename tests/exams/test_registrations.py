"""Registrations: every eligibility rule, who registers whom, cancel and absent."""

from sqlmodel import Session, col, select
from starlette.testclient import TestClient

from app.applications.models import ApplicationStatus, PilotApplication
from app.core.audit import AuditEvent
from app.core.roles import Role
from app.exams.models import ExamRegistration, RegistrationStatus
from tests.exams.factories import make_pilot, make_registration, make_session, pilot_students
from tests.factories import assert_answered_as_missing
from tests.reference.factories import (
    headers_for,
    make_college,
    make_major,
    make_student,
    make_teacher,
    manager_of,
    office,
)


def _register(client: TestClient, session_id: int, student_id: int | None, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    body = {} if student_id is None else {"student_id": student_id}
    return client.post(
        f"/api/v1/exam-sessions/{session_id}/registrations", json=body, headers=headers
    )


def _live(db: Session, session_id: int) -> int:
    return len(
        db.exec(
            select(ExamRegistration).where(
                ExamRegistration.session_id == session_id, col(ExamRegistration.live).is_(True)
            )
        ).all()
    )


def test_office_registers_an_eligible_student(client: TestClient, db: Session) -> None:
    application = make_pilot(db)
    exam = make_session(db, application)
    (student,) = pilot_students(db, application, 1)

    response = _register(client, exam.id, student.id, office(db))

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "registered"
    assert body["student_no"] == student.student_no
    assert body["allowed_actions"] == ["cancel", "absent", "result"]
    assert body["result"] is None
    assert _live(db, exam.id) == 1
    event = db.exec(select(AuditEvent).where(AuditEvent.entity == "exam_registration")).one()
    assert event.action == "register"


def test_student_of_another_major_is_refused_naming_the_major(
    client: TestClient, db: Session
) -> None:
    application = make_pilot(db)
    exam = make_session(db, application)
    outsider = make_student(db, make_major(db, name="会计"), cohort=2021)

    response = _register(client, exam.id, outsider.id, office(db))

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "not_eligible"
    assert "major 会计 is not among the pilot's majors" in body["detail"]
    assert _live(db, exam.id) == 0


def test_student_of_another_cohort_is_refused_naming_the_cohort(
    client: TestClient, db: Session
) -> None:
    application = make_pilot(db, cohorts=(2021,))
    exam = make_session(db, application)
    (student,) = pilot_students(db, application, 1)
    student.cohort = 2019
    db.add(student)
    db.commit()

    response = _register(client, exam.id, student.id, office(db))

    assert response.status_code == 409
    assert "cohort 2019级 is not among the pilot's cohorts (2021级)" in response.json()["detail"]


def test_registration_refused_when_the_pilot_is_no_longer_approved(
    client: TestClient, db: Session
) -> None:
    application = make_pilot(db)
    exam = make_session(db, application)
    (student,) = pilot_students(db, application, 1)
    stored = db.get(PilotApplication, application.id)
    assert stored is not None
    stored.status = ApplicationStatus.closed
    db.add(stored)
    db.commit()

    response = _register(client, exam.id, student.id, office(db))

    assert response.status_code == 409
    assert "is Closed, not approved" in response.json()["detail"]


def test_registration_refused_before_the_window_opens(client: TestClient, db: Session) -> None:
    application = make_pilot(db)
    exam = make_session(db, application, opens_in_days=2, closes_in_days=4)
    (student,) = pilot_students(db, application, 1)

    response = _register(client, exam.id, student.id, office(db))

    assert response.status_code == 409
    assert response.json()["code"] == "registration_closed"
    assert "opens on" in response.json()["detail"]


def test_registration_accepted_on_the_last_day_and_refused_after(
    client: TestClient, db: Session
) -> None:
    application = make_pilot(db)
    last_day = make_session(db, application, closes_in_days=0)
    closed = make_session(db, application, opens_in_days=-5, closes_in_days=-1)
    first, second = pilot_students(db, application, 2)
    headers = office(db)

    accepted = _register(client, last_day.id, first.id, headers)
    refused = _register(client, closed.id, second.id, headers)

    assert accepted.status_code == 201
    assert refused.status_code == 409
    assert "closed at the end of" in refused.json()["detail"]


def test_registration_refused_when_the_session_is_full(client: TestClient, db: Session) -> None:
    application = make_pilot(db)
    exam = make_session(db, application, capacity=1)
    first, second = pilot_students(db, application, 2)
    headers = office(db)

    assert _register(client, exam.id, first.id, headers).status_code == 201
    response = _register(client, exam.id, second.id, headers)

    assert response.status_code == 409
    assert response.json()["code"] == "session_full"
    assert "all 1 seats are taken" in response.json()["detail"]


def test_registration_refused_when_the_pilot_headcount_is_reached(
    client: TestClient, db: Session
) -> None:
    application = make_pilot(db, headcount=1)
    morning = make_session(db, application)
    afternoon = make_session(db, application)
    first, second = pilot_students(db, application, 2)
    headers = office(db)

    assert _register(client, morning.id, first.id, headers).status_code == 201
    refused = _register(client, afternoon.id, second.id, headers)
    same_student_again = _register(client, afternoon.id, first.id, headers)

    assert refused.status_code == 409
    assert refused.json()["code"] == "headcount_reached"
    assert "headcount of 1 students" in refused.json()["detail"]
    assert same_student_again.status_code == 201


def test_second_live_registration_in_a_session_is_refused(client: TestClient, db: Session) -> None:
    application = make_pilot(db)
    exam = make_session(db, application)
    (student,) = pilot_students(db, application, 1)
    headers = office(db)

    assert _register(client, exam.id, student.id, headers).status_code == 201
    response = _register(client, exam.id, student.id, headers)

    assert response.status_code == 409
    assert response.json()["code"] == "already_registered"


def test_a_cancelled_registration_frees_the_place_for_a_new_one(
    client: TestClient, db: Session
) -> None:
    application = make_pilot(db)
    exam = make_session(db, application, capacity=1)
    (student,) = pilot_students(db, application, 1)
    make_registration(db, exam, student, RegistrationStatus.cancelled)

    response = _register(client, exam.id, student.id, office(db))

    assert response.status_code == 201
    assert len(db.exec(select(ExamRegistration)).all()) == 2


def test_student_registers_themself_but_not_someone_else(client: TestClient, db: Session) -> None:
    application = make_pilot(db)
    exam = make_session(db, application)
    me, other = pilot_students(db, application, 2)
    headers = headers_for(db, Role.student, student_id=me.id)

    mine = _register(client, exam.id, None, headers)
    theirs = _register(client, exam.id, other.id, headers)
    missing = _register(client, exam.id, 999999, headers)

    assert mine.status_code == 201
    assert mine.json()["student_id"] == me.id
    # Another student is answered as one that does not exist: nothing tells them apart.
    assert theirs.status_code == 422
    assert_answered_as_missing(theirs, missing, other.id, 999999)
    assert other.student_no not in theirs.text


def test_college_manager_registers_only_students_of_their_college(
    client: TestClient, db: Session
) -> None:
    college = make_college(db)
    other_college = make_college(db)
    ours = make_major(db, college)
    theirs = make_major(db, other_college)
    application = make_application_for(db, [ours, theirs])
    exam = make_session(db, application)
    own_student = make_student(db, ours, cohort=2021)
    foreign_student = make_student(db, theirs, cohort=2021)
    headers = manager_of(db, college)

    assert _register(client, exam.id, own_student.id, headers).status_code == 201
    refused = _register(client, exam.id, foreign_student.id, headers)
    missing = _register(client, exam.id, 999999, headers)

    # A student of another college is answered as a missing one: no number, no college id.
    assert refused.status_code == 422
    assert_answered_as_missing(refused, missing, foreign_student.id, 999999)
    assert foreign_student.student_no not in refused.text
    assert f"college id {other_college.id}" not in refused.text


def make_application_for(db: Session, majors: list) -> PilotApplication:  # type: ignore[type-arg]
    from tests.applications.factories import make_application

    return make_application(db, majors=majors, status=ApplicationStatus.approved)


def test_evaluation_org_and_auditor_may_not_register(client: TestClient, db: Session) -> None:
    application = make_pilot(db)
    exam = make_session(db, application)
    (student,) = pilot_students(db, application, 1)

    for role, scope in (
        (Role.auditor, {}),
        (Role.evaluation_org, {"evaluation_org_id": exam.evaluation_org_id}),
    ):
        response = _register(client, exam.id, student.id, headers_for(db, role, **scope))
        assert response.status_code == 403


def test_unknown_student_or_session_is_a_clear_4xx(client: TestClient, db: Session) -> None:
    application = make_pilot(db)
    exam = make_session(db, application)
    headers = office(db)

    assert _register(client, exam.id, 999999, headers).status_code == 422
    assert _register(client, 999999, 1, headers).status_code == 404


# --- cancel and absent ------------------------------------------------------------------------


def test_student_cancels_while_the_window_is_open(client: TestClient, db: Session) -> None:
    application = make_pilot(db)
    exam = make_session(db, application)
    (student,) = pilot_students(db, application, 1)
    registration = make_registration(db, exam, student)
    headers = headers_for(db, Role.student, student_id=student.id)

    response = client.post(f"/api/v1/registrations/{registration.id}/cancel", headers=headers)

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    assert response.json()["allowed_actions"] == []
    db.refresh(registration)
    assert registration.live is None


def test_cancel_after_the_window_closed_is_refused_and_changes_nothing(
    client: TestClient, db: Session
) -> None:
    application = make_pilot(db)
    exam = make_session(db, application, opens_in_days=-9, closes_in_days=-1)
    (student,) = pilot_students(db, application, 1)
    registration = make_registration(db, exam, student)

    response = client.post(f"/api/v1/registrations/{registration.id}/cancel", headers=office(db))

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "invalid_state"
    assert body["current_state"] == "registered"
    assert "cancel" not in body["allowed_actions"]
    db.refresh(registration)
    assert registration.status == RegistrationStatus.registered


def test_cancel_twice_is_an_invalid_state(client: TestClient, db: Session) -> None:
    application = make_pilot(db)
    exam = make_session(db, application)
    (student,) = pilot_students(db, application, 1)
    registration = make_registration(db, exam, student, RegistrationStatus.cancelled)

    response = client.post(f"/api/v1/registrations/{registration.id}/cancel", headers=office(db))

    assert response.status_code == 409
    assert response.json()["current_state"] == "cancelled"
    assert response.json()["allowed_actions"] == []


def test_the_sessions_organisation_marks_absent_another_may_not(
    client: TestClient, db: Session
) -> None:
    application = make_pilot(db)
    exam = make_session(db, application, closes_in_days=0, exam_in_days=0)
    (student,) = pilot_students(db, application, 1)
    registration = make_registration(db, exam, student)
    own = headers_for(db, Role.evaluation_org, evaluation_org_id=exam.evaluation_org_id)
    from tests.reference.factories import make_org

    other = headers_for(db, Role.evaluation_org, evaluation_org_id=make_org(db).id)
    url = f"/api/v1/registrations/{registration.id}/absent"

    assert client.post(url, headers=other).status_code == 404
    response = client.post(url, headers=own)
    again = client.post(url, headers=own)

    assert response.status_code == 200
    assert response.json()["status"] == "absent"
    assert again.status_code == 409
    assert again.json()["current_state"] == "absent"


def test_college_manager_may_not_mark_absent(client: TestClient, db: Session) -> None:
    college = make_college(db)
    application = make_pilot(db, major=make_major(db, college))
    exam = make_session(db, application)
    (student,) = pilot_students(db, application, 1)
    registration = make_registration(db, exam, student)

    response = client.post(
        f"/api/v1/registrations/{registration.id}/absent", headers=manager_of(db, college)
    )

    assert response.status_code == 403


def test_registrations_are_scoped_to_the_reader(client: TestClient, db: Session) -> None:
    application = make_pilot(db)
    exam = make_session(db, application)
    me, other = pilot_students(db, application, 2)
    mine = make_registration(db, exam, me)
    make_registration(db, exam, other)

    as_student = client.get(
        "/api/v1/registrations", headers=headers_for(db, Role.student, student_id=me.id)
    )
    as_office = client.get(
        "/api/v1/registrations", params={"session_id": exam.id}, headers=office(db)
    )

    assert [r["id"] for r in as_student.json()["items"]] == [mine.id]
    assert as_office.json()["total"] == 2
    teacher_headers = headers_for(db, Role.teacher, teacher_id=make_teacher(db).id)
    teacher = client.get("/api/v1/registrations", headers=teacher_headers)
    assert teacher.status_code == 403


def test_office_must_name_the_student(client: TestClient, db: Session) -> None:
    exam = make_session(db, make_pilot(db))

    response = _register(client, exam.id, None, office(db))

    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "body.student_id", "message": "required"}]
