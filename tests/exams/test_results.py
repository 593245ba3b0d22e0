"""Results: PUT by the office or the session's organisation, corrections audited with old and
new values, bounds, and the exam-results upload."""

from decimal import Decimal

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.core.audit import AuditEvent
from app.core.roles import Role
from app.exams.models import ExamRegistration, ExamResult, RegistrationStatus
from tests.exams.factories import (
    make_pilot,
    make_registration,
    make_result,
    make_session,
    pilot_students,
)
from tests.imports.helpers import upload
from tests.reference.factories import (
    headers_for,
    make_college,
    make_major,
    make_org,
    manager_of,
    office,
    xlsx_bytes,
)


def _registration(db: Session, status: RegistrationStatus = RegistrationStatus.registered):  # type: ignore[no-untyped-def]
    application = make_pilot(db)
    exam = make_session(db, application, closes_in_days=0, exam_in_days=0)
    (student,) = pilot_students(db, application, 1)
    return exam, student, make_registration(db, exam, student, status)


def test_the_sessions_organisation_records_a_result_and_the_candidate_sat(
    client: TestClient, db: Session
) -> None:
    exam, _student, registration = _registration(db)
    headers = headers_for(db, Role.evaluation_org, evaluation_org_id=exam.evaluation_org_id)

    response = client.put(
        f"/api/v1/registrations/{registration.id}/result",
        json={"theory_score": "82.5", "practical_score": 90, "passed": True},
        headers=headers,
    )

    assert response.status_code == 200, response.text
    assert response.json()["passed"] is True
    result = db.exec(select(ExamResult)).one()
    assert result.theory_score == Decimal("82.5")
    db.refresh(registration)
    assert registration.status == RegistrationStatus.sat


def test_a_corrected_result_is_audited_with_old_and_new_values(
    client: TestClient, db: Session
) -> None:
    _exam, _student, registration = _registration(db)
    headers = office(db)
    url = f"/api/v1/registrations/{registration.id}/result"

    client.put(url, json={"theory_score": 55, "passed": False}, headers=headers)
    corrected = client.put(url, json={"theory_score": 65, "passed": True}, headers=headers)

    assert corrected.status_code == 200
    update = db.exec(
        select(AuditEvent).where(AuditEvent.entity == "exam_result", AuditEvent.action == "update")
    ).one()
    assert update.before is not None and update.after is not None
    assert (update.before["theory_score"], update.before["passed"]) == ("55.0", False)
    assert (update.after["theory_score"], update.after["passed"]) == ("65.0", True)


@pytest.mark.parametrize("score", [-1, 100.5, "101", 12.25])
def test_scores_outside_0_to_100_or_with_two_decimals_are_refused(
    client: TestClient, db: Session, score: object
) -> None:
    _exam, _student, registration = _registration(db)

    response = client.put(
        f"/api/v1/registrations/{registration.id}/result",
        json={"theory_score": score, "passed": True},
        headers=office(db),
    )

    assert response.status_code == 422
    assert "theory_score" in response.text
    assert db.exec(select(ExamResult)).all() == []


def test_database_refuses_a_score_above_100(db: Session) -> None:
    _exam, _student, registration = _registration(db)
    result = make_result(db, registration)
    result.practical_score = Decimal("100.5")
    db.add(result)
    with pytest.raises(IntegrityError):
        db.commit()
    db.rollback()


@pytest.mark.parametrize("status", [RegistrationStatus.cancelled, RegistrationStatus.absent])
def test_no_result_for_a_cancelled_or_absent_registration(
    client: TestClient, db: Session, status: RegistrationStatus
) -> None:
    _exam, _student, registration = _registration(db, status)

    response = client.put(
        f"/api/v1/registrations/{registration.id}/result",
        json={"passed": True},
        headers=office(db),
    )

    assert response.status_code == 409
    assert response.json()["current_state"] == status.value
    assert db.exec(select(ExamResult)).all() == []


def test_another_organisation_or_a_college_may_not_record_results(
    client: TestClient, db: Session
) -> None:
    college = make_college(db)
    application = make_pilot(db, major=make_major(db, college))
    exam = make_session(db, application, closes_in_days=0, exam_in_days=0)
    (student,) = pilot_students(db, application, 1)
    registration = make_registration(db, exam, student)
    url = f"/api/v1/registrations/{registration.id}/result"
    stranger = headers_for(db, Role.evaluation_org, evaluation_org_id=make_org(db).id)

    assert client.put(url, json={"passed": True}, headers=stranger).status_code == 404
    assert (
        client.put(url, json={"passed": True}, headers=manager_of(db, college)).status_code == 403
    )


def test_results_upload_corrects_and_audits_and_second_upload_changes_nothing(
    client: TestClient, db: Session
) -> None:
    exam, student, registration = _registration(db)
    headers = headers_for(db, Role.evaluation_org, evaluation_org_id=exam.evaluation_org_id)
    header = ["考核ID", "学号", "理论成绩", "是否通过"]

    def send(score: str, passed: str):  # type: ignore[no-untyped-def]
        content = xlsx_bytes([header, [exam.id, student.student_no, score, passed]])
        return upload(client, headers, "exam-results", "r.xlsx", content)

    assert send("58", "不通过").json()["created"] == 1
    corrected = send("61", "通过").json()
    repeated = send("61", "通过").json()

    assert (corrected["updated"], repeated["unchanged"]) == (1, 1)
    events = db.exec(
        select(AuditEvent).where(AuditEvent.entity == "exam_result").order_by(AuditEvent.id)
    ).all()
    assert [e.action for e in events] == ["create", "update"]
    assert events[1].before is not None and events[1].after is not None
    assert events[1].before["theory_score"] == "58.0"
    assert events[1].after["theory_score"] == "61.0"
    db.refresh(registration)
    assert registration.status == RegistrationStatus.sat


def test_results_upload_refuses_a_student_without_a_live_registration(
    client: TestClient, db: Session
) -> None:
    exam, student, _registration_row = _registration(db, RegistrationStatus.cancelled)
    content = xlsx_bytes([["考核ID", "学号", "是否通过"], [exam.id, student.student_no, "是"]])

    response = upload(client, office(db), "exam-results", "r.xlsx", content)

    assert response.status_code == 422
    assert "no registration in session" in response.json()["errors"][0]["reason"]
    assert db.exec(select(ExamRegistration.status)).one() == RegistrationStatus.cancelled


def test_a_certified_pass_cannot_be_turned_into_a_fail_until_revoked(
    client: TestClient, db: Session
) -> None:
    from datetime import date

    from app.exams.models import IssuedCertificate

    exam, student, registration = _registration(db)
    result = make_result(db, registration, passed=True)
    db.add(
        IssuedCertificate(
            number="N001",
            result_id=result.id,
            student_id=student.id,
            session_id=exam.id,
            issue_date=date(2022, 12, 20),
        )
    )
    db.commit()
    headers = office(db)
    content = xlsx_bytes([["考核ID", "学号", "是否通过"], [exam.id, student.student_no, "否"]])

    put = client.put(
        f"/api/v1/registrations/{registration.id}/result", json={"passed": False}, headers=headers
    )
    uploaded = upload(client, headers, "exam-results", "r.xlsx", content)

    assert put.status_code == 409
    assert put.json()["code"] == "certificate_issued"
    assert "revoke it" in put.json()["detail"]
    assert uploaded.status_code == 422
    assert "N001" in uploaded.json()["errors"][0]["reason"]
    db.refresh(result)
    assert result.passed is True


def test_no_result_or_absence_before_the_exam_date(client: TestClient, db: Session) -> None:
    application = make_pilot(db)
    exam = make_session(db, application, closes_in_days=1, exam_in_days=3)
    (student,) = pilot_students(db, application, 1)
    registration = make_registration(db, exam, student)
    headers = office(db)

    put = client.put(
        f"/api/v1/registrations/{registration.id}/result", json={"passed": True}, headers=headers
    )
    absent = client.post(f"/api/v1/registrations/{registration.id}/absent", headers=headers)
    uploaded = upload(
        client,
        headers,
        "exam-results",
        "r.xlsx",
        xlsx_bytes([["考核ID", "学号", "是否通过"], [exam.id, student.student_no, "是"]]),
    )

    for response in (put, absent):
        assert response.status_code == 409, response.text
        body = response.json()
        assert body["code"] == "invalid_state"
        assert f"exam is on {exam.exam_date}" in body["detail"]
        assert body["allowed_actions"] == ["cancel"]
    assert uploaded.status_code == 422
    assert "from the exam date on" in uploaded.json()["errors"][0]["reason"]
    db.refresh(registration)
    assert registration.status == RegistrationStatus.registered and registration.version == 1
    assert db.exec(select(ExamResult)).all() == []


@pytest.mark.parametrize("score", ["-0.0", -0.0, "-0", "-0.00"])
def test_a_negative_zero_score_is_stored_and_returned_as_zero(
    client: TestClient, db: Session, score: object
) -> None:
    _exam, _student, registration = _registration(db)
    headers = office(db)
    url = f"/api/v1/registrations/{registration.id}/result"

    response = client.put(url, json={"theory_score": score, "passed": False}, headers=headers)

    assert response.status_code == 200, response.text
    assert response.json()["theory_score"] == "0.0"
    shown = client.get(f"/api/v1/registrations/{registration.id}", headers=headers).json()
    assert shown["result"]["theory_score"] == "0.0"
    stored = db.exec(select(ExamResult)).one().theory_score
    assert stored == 0 and not stored.is_signed()
    event = db.exec(select(AuditEvent).where(AuditEvent.entity == "exam_result")).one()
    assert event.after is not None and event.after["theory_score"] == "0.0"


def test_results_upload_reads_a_negative_zero_score_as_zero(
    client: TestClient, db: Session
) -> None:
    exam, student, _registration_row = _registration(db)
    headers = headers_for(db, Role.evaluation_org, evaluation_org_id=exam.evaluation_org_id)
    content = xlsx_bytes(
        [
            ["考核ID", "学号", "理论成绩", "是否通过"],
            [exam.id, student.student_no, "-0.0", "不通过"],
        ]
    )

    response = upload(client, headers, "exam-results", "r.xlsx", content)

    assert response.json()["created"] == 1, response.text
    stored = db.exec(select(ExamResult)).one().theory_score
    assert stored == 0 and stored is not None and not stored.is_signed()
