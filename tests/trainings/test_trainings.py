"""Teacher trainings: recording, the state machine, the unique certificate number, who writes
and reads what, and If-Match."""

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.core.audit import AuditEvent
from app.core.roles import Role
from app.reference.models import Level
from app.trainings.models import TeacherTraining, TrainingStatus
from tests.factories import assert_answered_as_missing
from tests.reference.factories import (
    headers_for,
    make_certificate,
    make_college,
    make_student,
    make_teacher,
    manager_of,
    office,
)
from tests.trainings.factories import (
    TRAININGS,
    certify_over_http,
    make_training,
    training_body,
)


def test_office_records_a_planned_training_and_it_is_audited(
    client: TestClient, db: Session
) -> None:
    teacher, certificate = make_teacher(db), make_certificate(db)

    response = client.post(TRAININGS, json=training_body(teacher, certificate), headers=office(db))

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "planned"
    assert body["allowed_actions"] == ["update", "delete", "start"]
    assert body["staff_no"] == teacher.staff_no
    assert response.headers["ETag"] == '"1"'
    row = db.exec(select(TeacherTraining)).one()
    assert (row.hours, row.level) == (40, Level.intermediate)
    event = db.exec(select(AuditEvent).where(AuditEvent.entity == "teacher_training")).one()
    assert event.action == "create"


def test_start_then_certify_records_the_numbers_and_the_validity(
    client: TestClient, db: Session
) -> None:
    teacher, certificate = make_teacher(db), make_certificate(db)

    body = certify_over_http(
        client,
        office(db),
        teacher,
        certificate,
        "TC-2022-001",
        evaluator_qualification_no="KP-01",
        certified_on="2022-03-06",
        valid_until="2099-12-31",
    )

    assert body["status"] == "certified"
    assert body["valid_today"] is True
    assert body["allowed_actions"] == ["update"]
    row = db.exec(select(TeacherTraining)).one()
    assert (row.trainer_certificate_no, row.evaluator_qualification_no) == ("TC-2022-001", "KP-01")
    assert str(row.certified_on) == "2022-03-06"
    actions = db.exec(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions[-3:] == ["create", "start", "certify"]


def test_certifying_a_planned_training_is_409_with_state_and_allowed_actions(
    client: TestClient, db: Session
) -> None:
    training = make_training(db, make_teacher(db), make_certificate(db))

    response = client.post(
        f"{TRAININGS}/{training.id}/certify",
        json={"trainer_certificate_no": "TC-1"},
        headers=office(db),
    )

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "invalid_state"
    assert body["current_state"] == "planned"
    assert body["allowed_actions"] == ["update", "delete", "start"]
    db.refresh(training)
    assert (training.status, training.trainer_certificate_no) == (TrainingStatus.planned, None)


def test_failing_ends_the_training_and_nothing_moves_it_again(
    client: TestClient, db: Session
) -> None:
    training = make_training(db, make_teacher(db), make_certificate(db))
    headers = office(db)
    client.post(f"{TRAININGS}/{training.id}/start", headers=headers)

    failed = client.post(f"{TRAININGS}/{training.id}/fail", headers=headers)
    again = client.post(f"{TRAININGS}/{training.id}/start", headers=headers)

    assert failed.json()["status"] == "failed"
    assert again.status_code == 409
    assert again.json()["current_state"] == "failed"
    assert again.json()["allowed_actions"] == ["update"]


def test_a_certificate_number_held_by_another_teacher_is_409_naming_the_holder(
    client: TestClient, db: Session
) -> None:
    certificate = make_certificate(db)
    holder = make_teacher(db)
    make_training(db, holder, certificate, status=TrainingStatus.certified, number="TC-SAME")
    training = make_training(db, make_teacher(db), certificate, status=TrainingStatus.in_progress)

    response = client.post(
        f"{TRAININGS}/{training.id}/certify",
        json={"trainer_certificate_no": "TC-SAME"},
        headers=office(db),
    )

    assert response.status_code == 409
    assert response.json()["code"] == "duplicate"
    assert f"{holder.name} ({holder.staff_no})" in response.json()["detail"]
    db.refresh(training)
    assert training.status == TrainingStatus.in_progress


def test_end_before_start_and_zero_hours_are_422(client: TestClient, db: Session) -> None:
    teacher, certificate = make_teacher(db), make_certificate(db)
    headers = office(db)

    backwards = client.post(
        TRAININGS,
        json=training_body(teacher, certificate, start_date="2022-03-05", end_date="2022-03-01"),
        headers=headers,
    )
    no_hours = client.post(
        TRAININGS, json=training_body(teacher, certificate, hours=0), headers=headers
    )

    assert backwards.status_code == 422
    assert "is before the start date 2022-03-05" in backwards.json()["detail"]
    assert no_hours.status_code == 422
    assert db.exec(select(TeacherTraining)).all() == []


def test_a_level_the_certificate_does_not_offer_is_422(client: TestClient, db: Session) -> None:
    response = client.post(
        TRAININGS,
        json=training_body(make_teacher(db), make_certificate(db), level="高级"),
        headers=office(db),
    )

    assert response.status_code == 422
    assert "not at Senior" in response.json()["detail"]


def test_an_unknown_teacher_is_422(client: TestClient, db: Session) -> None:
    teacher, certificate = make_teacher(db), make_certificate(db)
    body = training_body(teacher, certificate, teacher_id=99999)

    response = client.post(TRAININGS, json=body, headers=office(db))

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.teacher_id"


def test_update_with_a_stale_if_match_is_412(client: TestClient, db: Session) -> None:
    training = make_training(db, make_teacher(db), make_certificate(db))

    response = client.patch(
        f"{TRAININGS}/{training.id}",
        json={"hours": 20},
        headers={**office(db), "If-Match": '"7"'},
    )

    assert response.status_code == 412
    db.refresh(training)
    assert training.hours == 40


def test_update_of_a_planned_training_bumps_the_etag(client: TestClient, db: Session) -> None:
    training = make_training(db, make_teacher(db), make_certificate(db))

    response = client.patch(
        f"{TRAININGS}/{training.id}",
        json={"hours": 24, "provider": None},
        headers={**office(db), "If-Match": '"1"'},
    )

    assert response.status_code == 200, response.text
    assert response.headers["ETag"] == '"2"'
    assert (response.json()["hours"], response.json()["provider"]) == (24, None)


def test_a_certified_training_changes_only_its_certificate_fields(
    client: TestClient, db: Session
) -> None:
    training = make_training(
        db, make_teacher(db), make_certificate(db), status=TrainingStatus.certified
    )

    response = client.patch(f"{TRAININGS}/{training.id}", json={"hours": 8}, headers=office(db))

    assert response.status_code == 409
    assert response.json()["code"] == "invalid_state"
    assert "cannot change hours" in response.json()["detail"]


def test_update_that_puts_the_end_before_the_start_is_422(client: TestClient, db: Session) -> None:
    training = make_training(db, make_teacher(db), make_certificate(db))

    response = client.patch(
        f"{TRAININGS}/{training.id}", json={"end_date": "2022-02-01"}, headers=office(db)
    )

    assert response.status_code == 422


def test_only_a_planned_training_is_deleted(client: TestClient, db: Session) -> None:
    teacher, certificate = make_teacher(db), make_certificate(db)
    planned = make_training(db, teacher, certificate)
    started = make_training(db, teacher, certificate, status=TrainingStatus.in_progress)
    headers = office(db)

    deleted = client.delete(f"{TRAININGS}/{planned.id}", headers=headers)
    refused = client.delete(f"{TRAININGS}/{started.id}", headers=headers)

    assert deleted.status_code == 204
    assert refused.status_code == 409
    assert refused.json()["current_state"] == "in_progress"
    assert [t.id for t in db.exec(select(TeacherTraining)).all()] == [started.id]


def test_teacher_sees_only_their_own_trainings(client: TestClient, db: Session) -> None:
    certificate = make_certificate(db)
    me, colleague = make_teacher(db), make_teacher(db)
    mine = make_training(db, me, certificate)
    theirs = make_training(db, colleague, certificate)
    headers = headers_for(db, Role.teacher, teacher_id=me.id)

    listed = client.get(TRAININGS, headers=headers)
    other = client.get(f"{TRAININGS}/{theirs.id}", headers=headers)

    assert [t["id"] for t in listed.json()["items"]] == [mine.id]
    assert other.status_code == 404


def test_teacher_records_and_starts_their_own_but_may_not_certify(
    client: TestClient, db: Session
) -> None:
    me, certificate = make_teacher(db), make_certificate(db)
    headers = headers_for(db, Role.teacher, teacher_id=me.id)

    created = client.post(TRAININGS, json=training_body(me, certificate), headers=headers)
    training_id = created.json()["id"]
    started = client.post(f"{TRAININGS}/{training_id}/start", headers=headers)
    certified = client.post(
        f"{TRAININGS}/{training_id}/certify",
        json={"trainer_certificate_no": "TC-SELF"},
        headers=headers,
    )

    assert created.status_code == 201
    assert started.status_code == 200
    assert certified.status_code == 403
    assert db.exec(select(TeacherTraining.status)).one() == TrainingStatus.in_progress


def test_teacher_may_not_record_a_colleagues_training(client: TestClient, db: Session) -> None:
    me, colleague = make_teacher(db), make_teacher(db)
    headers = headers_for(db, Role.teacher, teacher_id=me.id)

    certificate = make_certificate(db)
    response = client.post(TRAININGS, json=training_body(colleague, certificate), headers=headers)
    missing = client.post(
        TRAININGS,
        json={**training_body(colleague, certificate), "teacher_id": 999999},
        headers=headers,
    )

    # A colleague the teacher may not read is answered as a teacher that does not exist.
    assert response.status_code == 422
    assert_answered_as_missing(response, missing, colleague.id, 999999)
    assert colleague.staff_no not in response.text


def test_college_manager_sees_and_certifies_their_colleges_teachers_only(
    client: TestClient, db: Session
) -> None:
    mine, other = make_college(db), make_college(db)
    certificate = make_certificate(db)
    own = make_training(db, make_teacher(db, mine), certificate, status=TrainingStatus.in_progress)
    foreign = make_training(db, make_teacher(db, other), certificate)
    headers = manager_of(db, mine)

    listed = client.get(TRAININGS, headers=headers)
    certified = client.post(
        f"{TRAININGS}/{own.id}/certify", json={"trainer_certificate_no": "TC-M"}, headers=headers
    )
    hidden = client.post(f"{TRAININGS}/{foreign.id}/start", headers=headers)
    theirs = make_teacher(db, other)
    recorded = client.post(TRAININGS, json=training_body(theirs, certificate), headers=headers)
    missing = client.post(
        TRAININGS,
        json={**training_body(theirs, certificate), "teacher_id": 999999},
        headers=headers,
    )

    assert [t["id"] for t in listed.json()["items"]] == [own.id]
    assert certified.status_code == 200
    assert hidden.status_code == 404
    # Another college's teacher is answered as a missing one: no staff number, no college id.
    assert recorded.status_code == 422
    assert_answered_as_missing(recorded, missing, theirs.id, 999999)
    assert theirs.staff_no not in recorded.text


def test_auditor_reads_but_may_not_write(client: TestClient, db: Session) -> None:
    training = make_training(db, make_teacher(db), make_certificate(db))
    headers = headers_for(db, Role.auditor)

    listed = client.get(TRAININGS, headers=headers)
    started = client.post(f"{TRAININGS}/{training.id}/start", headers=headers)

    assert listed.json()["total"] == 1
    assert started.status_code == 403


def test_student_may_not_read_trainings(client: TestClient, db: Session) -> None:
    student = make_student(db)
    response = client.get(TRAININGS, headers=headers_for(db, Role.student, student_id=student.id))

    assert response.status_code == 403


@pytest.mark.usefixtures("chinese")
def test_list_filters_by_status_and_exports(client: TestClient, db: Session) -> None:
    certificate = make_certificate(db)
    teacher = make_teacher(db)
    make_training(db, teacher, certificate)
    certified = make_training(db, teacher, certificate, status=TrainingStatus.certified)
    headers = office(db)

    listed = client.get(TRAININGS, params={"status": "certified"}, headers=headers)
    csv = client.get(TRAININGS, params={"format": "csv"}, headers=headers)
    xlsx = client.get(TRAININGS, params={"format": "xlsx"}, headers=headers)

    assert [t["id"] for t in listed.json()["items"]] == [certified.id]
    assert csv.status_code == 200
    text = csv.content.decode("utf-8-sig")
    assert "师资培训证书编号" in text and str(certified.trainer_certificate_no) in text
    assert xlsx.status_code == 200


def test_certify_with_valid_until_before_the_issue_date_is_422(
    client: TestClient, db: Session
) -> None:
    training = make_training(
        db, make_teacher(db), make_certificate(db), status=TrainingStatus.in_progress
    )

    response = client.post(
        f"{TRAININGS}/{training.id}/certify",
        json={
            "trainer_certificate_no": "TC-9",
            "certified_on": "2022-03-06",
            "valid_until": "2022-03-01",
        },
        headers=office(db),
    )

    assert response.status_code == 422
    assert "before the issue date" in response.json()["detail"]
    db.refresh(training)
    assert training.status == TrainingStatus.in_progress


def test_changing_a_certified_number_to_one_already_held_is_409(
    client: TestClient, db: Session
) -> None:
    certificate = make_certificate(db)
    make_training(db, make_teacher(db), certificate, status=TrainingStatus.certified, number="A")
    mine = make_training(
        db, make_teacher(db), certificate, status=TrainingStatus.certified, number="B"
    )

    response = client.patch(
        f"{TRAININGS}/{mine.id}", json={"trainer_certificate_no": "A"}, headers=office(db)
    )

    assert response.status_code == 409
    assert response.json()["code"] == "duplicate"
    db.refresh(mine)
    assert mine.trainer_certificate_no == "B"


def test_an_unknown_training_is_404(client: TestClient, db: Session) -> None:
    headers = office(db)

    got = client.get(f"{TRAININGS}/4242", headers=headers)
    started = client.post(f"{TRAININGS}/4242/start", headers=headers)

    assert (got.status_code, started.status_code) == (404, 404)


def test_teacher_may_not_change_the_certificate_of_their_certified_training(
    client: TestClient, db: Session
) -> None:
    me = make_teacher(db)
    training = make_training(
        db, me, make_certificate(db), status=TrainingStatus.certified, number="TC-OWN"
    )
    headers = headers_for(db, Role.teacher, teacher_id=me.id)

    extended = client.patch(
        f"{TRAININGS}/{training.id}", json={"valid_until": "2099-12-31"}, headers=headers
    )
    renumbered = client.patch(
        f"{TRAININGS}/{training.id}", json={"trainer_certificate_no": "TC-X"}, headers=headers
    )
    noted = client.patch(f"{TRAININGS}/{training.id}", json={"notes": "证书已领"}, headers=headers)

    assert extended.status_code == 403, extended.text
    assert "Academic office" in extended.json()["detail"]
    assert renumbered.status_code == 403
    assert noted.status_code == 200
    db.expire_all()
    row = db.get(TeacherTraining, training.id)
    assert row is not None
    assert (row.valid_until, row.trainer_certificate_no, row.notes) == (None, "TC-OWN", "证书已领")


def test_teacher_may_not_fail_their_own_training(client: TestClient, db: Session) -> None:
    me = make_teacher(db)
    training = make_training(db, me, make_certificate(db), status=TrainingStatus.in_progress)

    response = client.post(
        f"{TRAININGS}/{training.id}/fail", headers=headers_for(db, Role.teacher, teacher_id=me.id)
    )

    assert response.status_code == 403
    assert response.json()["allowed_roles"] == ["academic_office", "college_manager"]
    db.expire_all()
    assert db.exec(select(TeacherTraining.status)).one() == TrainingStatus.in_progress


@pytest.mark.parametrize(
    ("certified_on", "said"),
    [
        ("2099-01-01", "the issue date 2099-01-01 is after today"),
        ("2022-02-28", "the issue date 2022-02-28 is before the training's start 2022-03-01"),
    ],
    ids=["in the future", "before the training started"],
)
def test_certify_with_an_issue_date_out_of_bounds_is_422_and_changes_nothing(
    client: TestClient, db: Session, certified_on: str, said: str
) -> None:
    training = make_training(
        db, make_teacher(db), make_certificate(db), status=TrainingStatus.in_progress
    )

    response = client.post(
        f"{TRAININGS}/{training.id}/certify",
        json={"trainer_certificate_no": "TC-DATE", "certified_on": certified_on},
        headers=office(db),
    )

    assert response.status_code == 422
    assert said in response.json()["detail"]
    assert response.json()["errors"][0]["field"] == "body.certified_on"
    db.expire_all()
    row = db.get(TeacherTraining, training.id)
    assert row is not None
    assert (row.status, row.trainer_certificate_no) == (TrainingStatus.in_progress, None)
