"""Student training batches of approved pilots and their enrolments."""

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.applications.models import ApplicationStatus
from app.core.audit import AuditEvent
from app.core.roles import Role
from app.trainings.models import TrainingBatch, TrainingBatchInstructor, TrainingEnrollment
from tests.applications.factories import make_application
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
from tests.trainings.factories import BATCHES, approved_batch, make_batch

APPLICATIONS = "/api/v1/applications"


def _batch_body(application_id: int, **changes: object) -> dict[str, object]:
    return {
        "application_id": application_id,
        "title": "Web前端开发（中级）集中培训",
        "hours": 32,
        "start_date": "2022-09-01",
        "end_date": "2022-09-30",
        **changes,
    }


def test_office_creates_a_batch_with_instructors_for_an_approved_pilot(
    client: TestClient, db: Session
) -> None:
    application = make_application(db, status=ApplicationStatus.approved)
    teachers = [make_teacher(db), make_teacher(db)]

    response = client.post(
        BATCHES,
        json=_batch_body(application.id, instructor_ids=[t.id for t in teachers]),
        headers=office(db),
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert [i["id"] for i in body["instructors"]] == [t.id for t in teachers]
    assert (body["enrolled"], body["completed"], body["level"]) == (0, 0, "中级")
    assert response.headers["Location"] == f"/api/v1/training-batches/{body['id']}"
    assert len(db.exec(select(TrainingBatchInstructor)).all()) == 2


def test_a_batch_for_an_application_not_approved_is_409(client: TestClient, db: Session) -> None:
    application = make_application(db, status=ApplicationStatus.submitted)

    response = client.post(BATCHES, json=_batch_body(application.id), headers=office(db))

    assert response.status_code == 409
    assert response.json()["code"] == "invalid_state"
    assert response.json()["current_state"] == "submitted"
    assert db.exec(select(TrainingBatch)).all() == []


def test_batch_dates_and_hours_are_checked(client: TestClient, db: Session) -> None:
    application = make_application(db, status=ApplicationStatus.approved)
    headers = office(db)

    backwards = client.post(
        BATCHES, json=_batch_body(application.id, end_date="2022-08-01"), headers=headers
    )
    no_hours = client.post(BATCHES, json=_batch_body(application.id, hours=0), headers=headers)
    unknown = client.post(
        BATCHES, json=_batch_body(application.id, instructor_ids=[99999]), headers=headers
    )

    assert (backwards.status_code, no_hours.status_code, unknown.status_code) == (422, 422, 422)
    assert "instructor_ids" in unknown.json()["errors"][0]["field"]


def test_college_manager_runs_batches_only_for_pilots_of_their_college(
    client: TestClient, db: Session
) -> None:
    mine, other = make_college(db), make_college(db)
    foreign = make_application(
        db, majors=[make_major(db, other)], status=ApplicationStatus.approved
    )
    own = make_application(db, majors=[make_major(db, mine)], status=ApplicationStatus.approved)
    headers = manager_of(db, mine)

    refused = client.post(BATCHES, json=_batch_body(foreign.id), headers=headers)
    created = client.post(BATCHES, json=_batch_body(own.id), headers=headers)

    assert refused.status_code == 422  # the other college's pilot is not visible
    assert created.status_code == 201


def test_a_student_of_the_pilots_major_and_cohort_is_enrolled(
    client: TestClient, db: Session
) -> None:
    major = make_major(db)
    application = make_application(
        db, majors=[major], cohorts=(2021,), status=ApplicationStatus.approved
    )
    batch = make_batch(db, application)
    student = make_student(db, major, cohort=2021)

    response = client.post(
        f"{BATCHES}/{batch.id}/enrollments",
        json={"student_id": student.id, "attended_hours": 8},
        headers=office(db),
    )

    assert response.status_code == 201, response.text
    assert response.json()["student_no"] == student.student_no
    assert response.json()["attended_hours"] == 8
    row = db.exec(select(TrainingEnrollment)).one()
    assert (row.student_id, row.completed) == (student.id, False)


def test_a_student_of_another_major_or_cohort_is_refused_with_the_reason(
    client: TestClient, db: Session
) -> None:
    major = make_major(db)
    application = make_application(
        db, majors=[major], cohorts=(2021,), status=ApplicationStatus.approved
    )
    batch = make_batch(db, application)
    other_major = make_student(db, make_major(db), cohort=2021)
    other_cohort = make_student(db, major, cohort=2020)
    headers = office(db)
    url = f"{BATCHES}/{batch.id}/enrollments"

    wrong_major = client.post(url, json={"student_id": other_major.id}, headers=headers)
    wrong_cohort = client.post(url, json={"student_id": other_cohort.id}, headers=headers)

    assert wrong_major.status_code == 422
    assert wrong_major.json()["code"] == "not_eligible"
    assert "is not among the pilot's majors" in wrong_major.json()["detail"]
    assert major.name in wrong_major.json()["detail"]
    assert wrong_cohort.status_code == 422
    assert (
        "cohort 2020级 is not among the pilot's cohorts (2021级)" in wrong_cohort.json()["detail"]
    )
    assert db.exec(select(TrainingEnrollment)).all() == []


def test_attended_hours_above_the_batch_hours_are_422(client: TestClient, db: Session) -> None:
    major, _application, batch = approved_batch(db, hours=16)
    student = make_student(db, major, cohort=2021)

    response = client.post(
        f"{BATCHES}/{batch.id}/enrollments",
        json={"student_id": student.id, "attended_hours": 17},
        headers=office(db),
    )

    assert response.status_code == 422
    assert "more than the batch's 16 hours" in response.json()["detail"]


def test_enrolling_the_same_student_twice_is_409(client: TestClient, db: Session) -> None:
    major, _application, batch = approved_batch(db)
    student = make_student(db, major, cohort=2021)
    headers = office(db)
    url = f"{BATCHES}/{batch.id}/enrollments"
    client.post(url, json={"student_id": student.id}, headers=headers)

    again = client.post(url, json={"student_id": student.id}, headers=headers)

    assert again.status_code == 409
    assert "already enrolled" in again.json()["detail"]


def test_completion_is_recorded_with_if_match_and_counts_as_trained(
    client: TestClient, db: Session
) -> None:
    major, application, batch = approved_batch(db, hours=32)
    students = [make_student(db, major, cohort=2021) for _ in range(2)]
    headers = office(db)
    url = f"{BATCHES}/{batch.id}/enrollments"
    created = [
        client.post(url, json={"student_id": s.id}, headers=headers).json() for s in students
    ]

    stale = client.patch(
        f"{url}/{created[0]['id']}",
        json={"completed": True},
        headers={**headers, "If-Match": '"9"'},
    )
    done = client.patch(
        f"{url}/{created[0]['id']}",
        json={"attended_hours": 32, "completed": True},
        headers={**headers, "If-Match": '"1"'},
    )
    too_many = client.patch(
        f"{url}/{created[1]['id']}", json={"attended_hours": 33}, headers=headers
    )
    detail = client.get(f"{APPLICATIONS}/{application.id}", headers=headers).json()
    listed = client.get(BATCHES, params={"application_id": application.id}, headers=headers)

    assert stale.status_code == 412
    assert done.status_code == 200, done.text
    assert done.headers["ETag"] == '"2"'
    assert too_many.status_code == 422
    assert detail["trained_students"] == 1
    assert (listed.json()["items"][0]["enrolled"], listed.json()["items"][0]["completed"]) == (
        2,
        1,
    )


def test_batch_hours_never_drop_below_what_a_student_attended(
    client: TestClient, db: Session
) -> None:
    major, _application, batch = approved_batch(db, hours=32)
    db.add(
        TrainingEnrollment(
            batch_id=batch.id, student_id=make_student(db, major, cohort=2021).id, attended_hours=20
        )
    )
    db.commit()

    response = client.patch(f"{BATCHES}/{batch.id}", json={"hours": 10}, headers=office(db))

    assert response.status_code == 409
    assert response.json()["code"] == "hours_below_attended"
    db.refresh(batch)
    assert batch.hours == 32


def test_batch_update_replaces_instructors_and_bumps_the_version(
    client: TestClient, db: Session
) -> None:
    application = make_application(db, status=ApplicationStatus.approved)
    first, second = make_teacher(db), make_teacher(db)
    batch = make_batch(db, application, instructors=(first,))

    response = client.patch(
        f"{BATCHES}/{batch.id}",
        json={"instructor_ids": [second.id]},
        headers={**office(db), "If-Match": '"1"'},
    )

    assert response.status_code == 200, response.text
    assert [i["id"] for i in response.json()["instructors"]] == [second.id]
    assert response.headers["ETag"] == '"2"'
    linked = db.exec(select(TrainingBatchInstructor.teacher_id)).all()
    assert linked == [second.id]
    event = db.exec(
        select(AuditEvent).where(
            AuditEvent.entity == "training_batch", AuditEvent.action == "update"
        )
    ).one()
    assert event.before is not None and event.after is not None
    assert (event.before["instructor_ids"], event.after["instructor_ids"]) == (
        [first.id],
        [second.id],
    )
    assert (event.before["version"], event.after["version"]) == (1, 2)


def test_batch_update_of_fields_keeps_instructors_and_audits_the_change(
    client: TestClient, db: Session
) -> None:
    application = make_application(db, status=ApplicationStatus.approved)
    teacher = make_teacher(db)
    batch = make_batch(db, application, instructors=(teacher,))

    response = client.patch(
        f"{BATCHES}/{batch.id}",
        json={"title": "  第二期  ", "hours": 40, "notes": None},
        headers=office(db),
    )

    assert response.status_code == 200, response.text
    assert (response.json()["title"], response.json()["hours"]) == ("第二期", 40)
    assert [i["id"] for i in response.json()["instructors"]] == [teacher.id]
    event = db.exec(select(AuditEvent).where(AuditEvent.entity == "training_batch")).one()
    assert event.before is not None and event.after is not None
    assert (event.before["hours"], event.after["hours"]) == (32, 40)
    assert event.before["instructor_ids"] == event.after["instructor_ids"] == [teacher.id]


def test_batch_update_with_an_unknown_instructor_changes_nothing(
    client: TestClient, db: Session
) -> None:
    application = make_application(db, status=ApplicationStatus.approved)
    teacher = make_teacher(db)
    batch = make_batch(db, application, instructors=(teacher,))

    response = client.patch(
        f"{BATCHES}/{batch.id}",
        json={"title": "改名", "instructor_ids": [teacher.id, 999999]},
        headers=office(db),
    )

    assert response.status_code == 422
    assert "999999" in response.json()["detail"]
    db.expire_all()
    row = db.get(TrainingBatch, batch.id)
    assert row is not None and (row.title, row.version) == ("集中培训", 1)
    assert db.exec(select(TrainingBatchInstructor.teacher_id)).all() == [teacher.id]


def test_a_batch_with_enrolments_is_not_deleted(client: TestClient, db: Session) -> None:
    major, application, batch = approved_batch(db)
    empty = make_batch(db, application)
    db.add(TrainingEnrollment(batch_id=batch.id, student_id=make_student(db, major).id))
    db.commit()
    headers = office(db)

    refused = client.delete(f"{BATCHES}/{batch.id}", headers=headers)
    deleted = client.delete(f"{BATCHES}/{empty.id}", headers=headers)

    assert refused.status_code == 409
    assert deleted.status_code == 204
    assert [b.id for b in db.exec(select(TrainingBatch)).all()] == [batch.id]


def test_removing_an_enrolment(client: TestClient, db: Session) -> None:
    major, _application, batch = approved_batch(db)
    enrollment = TrainingEnrollment(batch_id=batch.id, student_id=make_student(db, major).id)
    db.add(enrollment)
    db.commit()

    response = client.delete(
        f"{BATCHES}/{batch.id}/enrollments/{enrollment.id}", headers=office(db)
    )
    missing = client.delete(f"{BATCHES}/{batch.id}/enrollments/{enrollment.id}", headers=office(db))

    assert response.status_code == 204
    assert missing.status_code == 404
    assert db.exec(select(TrainingEnrollment)).all() == []


def test_teacher_may_read_batches_of_their_pilots_but_not_run_them(
    client: TestClient, db: Session
) -> None:
    application = make_application(db, status=ApplicationStatus.approved)
    make_batch(db, application)
    teacher = make_teacher(db)
    headers = headers_for(db, Role.teacher, teacher_id=teacher.id)

    listed = client.get(BATCHES, headers=headers)
    created = client.post(BATCHES, json=_batch_body(application.id), headers=headers)

    assert listed.json()["total"] == 0  # not assigned to the pilot
    assert created.status_code == 403
    assert created.json()["allowed_roles"] == ["academic_office", "college_manager"]


@pytest.mark.usefixtures("chinese")
def test_enrolment_list_is_ordered_filters_and_exports(client: TestClient, db: Session) -> None:
    major, _application, batch = approved_batch(db)
    second = make_student(db, major, student_no="S2", cohort=2021)
    first = make_student(db, major, student_no="S1", cohort=2021)
    db.add(TrainingEnrollment(batch_id=batch.id, student_id=second.id, completed=True))
    db.add(TrainingEnrollment(batch_id=batch.id, student_id=first.id))
    db.commit()
    headers = office(db)
    url = f"{BATCHES}/{batch.id}/enrollments"

    listed = client.get(url, headers=headers).json()
    done = client.get(url, params={"completed": True}, headers=headers).json()
    csv = client.get(url, params={"format": "csv"}, headers=headers)
    batches_csv = client.get(BATCHES, params={"format": "xlsx"}, headers=headers)

    assert [e["student_no"] for e in listed["items"]] == ["S1", "S2"]
    assert [e["student_no"] for e in done["items"]] == ["S2"]
    assert csv.status_code == 200 and "出勤学时" in csv.content.decode("utf-8-sig")
    assert batches_csv.status_code == 200


def test_enrolling_into_a_batch_of_a_closed_pilot_is_409(client: TestClient, db: Session) -> None:
    major, application, batch = approved_batch(db)
    application.status = ApplicationStatus.closed
    db.add(application)
    db.commit()

    response = client.post(
        f"{BATCHES}/{batch.id}/enrollments",
        json={"student_id": make_student(db, major, cohort=2021).id},
        headers=office(db),
    )

    assert response.status_code == 409
    assert response.json()["current_state"] == "closed"


def test_college_manager_of_another_college_may_not_change_a_batch(
    client: TestClient, db: Session
) -> None:
    mine, other = make_college(db), make_college(db)
    application = make_application(
        db, majors=[make_major(db, other)], status=ApplicationStatus.approved
    )
    batch = make_batch(db, application)

    response = client.patch(
        f"{BATCHES}/{batch.id}", json={"title": "改名"}, headers=manager_of(db, mine)
    )

    assert response.status_code == 404
    db.refresh(batch)
    assert batch.title == "集中培训"


def test_auditor_reads_batches_but_may_not_enrol(client: TestClient, db: Session) -> None:
    major, _application, batch = approved_batch(db)
    headers = headers_for(db, Role.auditor)

    listed = client.get(BATCHES, headers=headers)
    enrolled = client.post(
        f"{BATCHES}/{batch.id}/enrollments",
        json={"student_id": make_student(db, major, cohort=2021).id},
        headers=headers,
    )

    assert listed.json()["total"] == 1
    assert enrolled.status_code == 403


def test_batch_and_enrolment_writes_are_audited_with_before_and_after(
    client: TestClient, db: Session
) -> None:
    major = make_major(db)
    application = make_application(db, majors=[major], status=ApplicationStatus.approved)
    teacher, student = make_teacher(db), make_student(db, major, cohort=2021)
    headers = office(db)

    created = client.post(
        BATCHES, json=_batch_body(application.id, instructor_ids=[teacher.id]), headers=headers
    )
    batch_id = created.json()["id"]
    enrolled = client.post(
        f"{BATCHES}/{batch_id}/enrollments", json={"student_id": student.id}, headers=headers
    )
    removed = client.delete(
        f"{BATCHES}/{batch_id}/enrollments/{enrolled.json()['id']}", headers=headers
    )
    deleted = client.delete(f"{BATCHES}/{batch_id}", headers=headers)

    assert [r.status_code for r in (created, enrolled, removed, deleted)] == [201, 201, 204, 204]
    events = db.exec(select(AuditEvent).order_by(AuditEvent.id)).all()
    trail = [(e.entity, e.action, e.before is None, e.after is None) for e in events]
    assert trail == [
        ("training_batch", "create", True, False),
        ("training_enrollment", "enroll", True, False),
        ("training_enrollment", "unenroll", False, True),
        ("training_batch", "delete", False, True),
    ]
    assert events[0].after is not None and events[0].after["instructor_ids"] == [teacher.id]
    assert events[3].before is not None and events[3].before["instructor_ids"] == [teacher.id]
    assert events[1].after is not None and events[1].after["student_id"] == student.id
    assert events[0].entity_id == events[3].entity_id == str(batch_id)
    assert db.exec(select(TrainingBatchInstructor)).all() == []
    assert db.exec(select(TrainingBatch)).all() == []


def test_a_student_sees_only_their_own_enrolment_in_a_batch(
    client: TestClient, db: Session
) -> None:
    major, _application, batch = approved_batch(db)
    me, classmate = make_student(db, major, cohort=2021), make_student(db, major, cohort=2021)
    for student in (me, classmate):
        db.add(TrainingEnrollment(batch_id=batch.id, student_id=student.id, attended_hours=8))
    db.commit()
    headers = headers_for(db, Role.student, student_id=me.id)

    listed = client.get(f"{BATCHES}/{batch.id}/enrollments", headers=headers)
    exported = client.get(f"{BATCHES}/{batch.id}/enrollments?format=csv", headers=headers)
    by_office = client.get(f"{BATCHES}/{batch.id}/enrollments", headers=office(db))

    assert listed.status_code == 200, listed.text
    assert [e["student_id"] for e in listed.json()["items"]] == [me.id]
    assert listed.json()["total"] == 1
    assert exported.status_code == 200
    assert me.student_no in exported.text and classmate.student_no not in exported.text
    assert by_office.json()["total"] == 2


def test_a_college_manager_names_only_their_colleges_teachers_as_instructors(
    client: TestClient, db: Session
) -> None:
    mine, other = make_college(db), make_college(db)
    own = make_application(db, majors=[make_major(db, mine)], status=ApplicationStatus.approved)
    colleague, stranger = make_teacher(db, mine), make_teacher(db, other)
    headers = manager_of(db, mine)

    created = client.post(
        BATCHES, json=_batch_body(own.id, instructor_ids=[stranger.id]), headers=headers
    )
    missing = client.post(
        BATCHES, json=_batch_body(own.id, instructor_ids=[999999]), headers=headers
    )
    batch = client.post(
        BATCHES, json=_batch_body(own.id, instructor_ids=[colleague.id]), headers=headers
    )
    assert batch.status_code == 201, batch.text
    changed = client.patch(
        f"{BATCHES}/{batch.json()['id']}",
        json={"instructor_ids": [colleague.id, stranger.id]},
        headers=headers,
    )
    changed_missing = client.patch(
        f"{BATCHES}/{batch.json()['id']}",
        json={"instructor_ids": [colleague.id, 999999]},
        headers=headers,
    )

    # Another college's teacher is refused as a missing one, and never read back.
    assert created.status_code == 422
    assert_answered_as_missing(created, missing, stranger.id, 999999)
    assert_answered_as_missing(changed, changed_missing, stranger.id, 999999)
    for response in (created, changed):
        assert stranger.staff_no not in response.text and stranger.name not in response.text
    instructors = db.exec(select(TrainingBatchInstructor.teacher_id)).all()
    assert instructors == [colleague.id]


def test_a_batch_keeps_the_instructors_the_office_gave_it_when_its_manager_changes_it(
    client: TestClient, db: Session
) -> None:
    mine, other = make_college(db), make_college(db)
    own = make_application(db, majors=[make_major(db, mine)], status=ApplicationStatus.approved)
    stranger = make_teacher(db, other)
    batch = make_batch(db, own, instructors=(stranger,))

    changed = client.patch(
        f"{BATCHES}/{batch.id}", json={"title": "改名"}, headers=manager_of(db, mine)
    )

    assert changed.status_code == 200, changed.text


def test_a_college_manager_enrols_only_their_colleges_students(
    client: TestClient, db: Session
) -> None:
    mine, other = make_college(db), make_college(db)
    ours, theirs = make_major(db, mine), make_major(db, other)
    application = make_application(db, majors=[ours], status=ApplicationStatus.approved)
    batch = make_batch(db, application)
    stranger = make_student(db, theirs, cohort=2021)
    headers = manager_of(db, mine)

    refused = client.post(
        f"{BATCHES}/{batch.id}/enrollments", json={"student_id": stranger.id}, headers=headers
    )
    missing = client.post(
        f"{BATCHES}/{batch.id}/enrollments", json={"student_id": 999999}, headers=headers
    )

    # No name, number or major of the other college's student: answered as a missing one.
    assert refused.status_code == 422
    assert_answered_as_missing(refused, missing, stranger.id, 999999)
    for secret in (stranger.name, stranger.student_no, theirs.name):
        assert secret not in refused.text
    assert db.exec(select(TrainingEnrollment)).all() == []
