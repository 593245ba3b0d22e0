"""Concurrent writers: the unique certificate number, the state machine and the one enrolment
per student hold when requests race."""

from collections import Counter

import pytest
from fastapi import FastAPI
from sqlmodel import Session, select

from app.applications.models import ApplicationStatus, PilotApplication
from app.core.audit import AuditEvent
from app.trainings.models import (
    TeacherTraining,
    TrainingBatch,
    TrainingEnrollment,
    TrainingStatus,
)
from tests.concurrency import Call, fire_concurrently
from tests.reference.factories import (
    make_certificate,
    make_student,
    make_teacher,
    office,
)
from tests.trainings.factories import BATCHES, TRAININGS, approved_batch, make_training


@pytest.mark.slow
def test_concurrent_certifications_with_one_number_certify_one_training(
    app: FastAPI, db: Session
) -> None:
    certificate = make_certificate(db)
    trainings = [
        make_training(db, make_teacher(db), certificate, status=TrainingStatus.in_progress)
        for _ in range(6)
    ]
    headers = office(db)
    calls = [
        Call(
            "POST",
            f"{TRAININGS}/{t.id}/certify",
            {"json": {"trainer_certificate_no": "TC-RACE"}, "headers": headers},
        )
        for t in trainings
    ]

    responses = fire_concurrently(app, calls)

    assert Counter(r.status_code for r in responses) == {200: 1, 409: 5}
    db.expire_all()
    statuses = db.exec(select(TeacherTraining.status)).all()
    assert statuses.count(TrainingStatus.certified) == 1


@pytest.mark.slow
def test_concurrent_start_and_delete_leave_one_outcome(app: FastAPI, db: Session) -> None:
    training = make_training(db, make_teacher(db), make_certificate(db))
    headers = office(db)
    url = f"{TRAININGS}/{training.id}"
    calls = [
        Call("POST", f"{url}/start", {"headers": headers}),
        Call("DELETE", url, {"headers": headers}),
    ] * 3

    responses = fire_concurrently(app, calls)

    codes = Counter(r.status_code for r in responses)
    assert codes[200] + codes[204] == 1
    assert codes[409] + codes[404] == 5


@pytest.mark.slow
def test_concurrent_enrolments_of_one_student_make_one(app: FastAPI, db: Session) -> None:
    major, _application, batch = approved_batch(db)
    student = make_student(db, major, cohort=2021)
    enroll = Call(
        "POST",
        f"/api/v1/training-batches/{batch.id}/enrollments",
        {"json": {"student_id": student.id}, "headers": office(db)},
    )

    responses = fire_concurrently(app, [enroll] * 6)

    assert Counter(r.status_code for r in responses) == {201: 1, 409: 5}
    assert len(db.exec(select(TrainingEnrollment)).all()) == 1


@pytest.mark.slow
def test_racing_certify_and_fail_of_one_training_leave_the_winners_outcome(
    app: FastAPI, db: Session
) -> None:
    training = make_training(
        db, make_teacher(db), make_certificate(db), status=TrainingStatus.in_progress
    )
    headers = office(db)
    url = f"{TRAININGS}/{training.id}"
    calls = [
        Call(
            "POST",
            f"{url}/certify",
            {"json": {"trainer_certificate_no": f"TC-R{i}"}, "headers": headers},
        )
        if i % 2
        else Call("POST", f"{url}/fail", {"headers": headers})
        for i in range(8)
    ]

    responses = fire_concurrently(app, calls)

    assert Counter(r.status_code for r in responses) == {200: 1, 409: 7}
    winner = next(r.json() for r in responses if r.status_code == 200)
    losers = [r.json() for r in responses if r.status_code == 409]
    assert {p["current_state"] for p in losers} == {winner["status"]}
    db.expire_all()
    row = db.get(TeacherTraining, training.id)
    assert row is not None
    assert (row.status, row.trainer_certificate_no, row.version) == (
        TrainingStatus(winner["status"]),
        winner["trainer_certificate_no"],
        2,
    )
    assert len(db.exec(select(AuditEvent)).all()) == 1


@pytest.mark.slow
def test_racing_batch_hours_and_attended_hours_never_leave_attended_above_the_batch(
    app: FastAPI, db: Session
) -> None:
    major, _application, batch = approved_batch(db, hours=32)
    enrollment = TrainingEnrollment(
        batch_id=batch.id, student_id=make_student(db, major, cohort=2021).id, attended_hours=10
    )
    db.add(enrollment)
    db.commit()
    headers = office(db)
    shrink = Call("PATCH", f"{BATCHES}/{batch.id}", {"json": {"hours": 20}, "headers": headers})
    attend = Call(
        "PATCH",
        f"{BATCHES}/{batch.id}/enrollments/{enrollment.id}",
        {"json": {"attended_hours": 30}, "headers": headers},
    )

    responses = fire_concurrently(app, [shrink, attend] * 4)

    db.expire_all()
    hours = db.exec(select(TrainingBatch.hours)).one()
    attended = db.exec(select(TrainingEnrollment.attended_hours)).one()
    assert attended <= hours
    shrunk = [r.status_code for r in responses[0::2]]
    attended_codes = [r.status_code for r in responses[1::2]]
    if hours == 20:  # the shrink won: every attendance above it was refused
        assert (attended, set(attended_codes)) == (10, {422})
        assert set(shrunk) == {200}
    else:  # the attendance won: the batch cannot shrink below it
        assert (hours, attended, set(shrunk)) == (32, 30, {409})
        assert set(attended_codes) == {200}


@pytest.mark.slow
def test_enrolments_racing_the_pilots_close_all_commit_before_it_or_are_refused(
    app: FastAPI, db: Session
) -> None:
    major, application, batch = approved_batch(db)
    students = [make_student(db, major, cohort=2021) for _ in range(6)]
    headers = office(db)
    enrol = [
        Call(
            "POST",
            f"{BATCHES}/{batch.id}/enrollments",
            {"json": {"student_id": s.id}, "headers": headers},
        )
        for s in students
    ]
    close = Call("POST", f"/api/v1/applications/{application.id}/close", {"headers": headers})

    responses = fire_concurrently(app, [*enrol[:3], close, *enrol[3:]])

    assert responses[3].status_code == 200, responses[3].text
    codes = Counter(r.status_code for r in responses[:3] + responses[4:])
    assert codes[201] + codes[409] == 6
    db.expire_all()
    assert db.get(PilotApplication, application.id).status == ApplicationStatus.closed  # type: ignore[union-attr]
    assert len(db.exec(select(TrainingEnrollment)).all()) == codes[201]
    events = db.exec(select(AuditEvent.action, AuditEvent.id).order_by(AuditEvent.id)).all()
    close_id = next(i for action, i in events if action == "close")
    assert all(i < close_id for action, i in events if action == "enroll")


@pytest.mark.slow
def test_an_enrolment_upload_racing_a_batch_shrink_never_leaves_attended_above_the_batch(
    app: FastAPI, db: Session
) -> None:
    major, _application, batch = approved_batch(db, hours=32)
    for n in range(1, 4):
        make_student(db, major, student_no=f"S{n}", cohort=2021)
    headers = office(db)
    content = "学号,出勤学时\nS1,30\nS2,30\nS3,30\n".encode()
    upload = Call(
        "POST",
        "/api/v1/imports/training-enrollments",
        {
            "params": {"batch_id": batch.id},
            "files": {"file": ("e.csv", content)},
            "headers": headers,
        },
    )
    shrink = Call("PATCH", f"{BATCHES}/{batch.id}", {"json": {"hours": 20}, "headers": headers})

    responses = fire_concurrently(app, [upload, shrink, upload, shrink])

    db.expire_all()
    hours = db.exec(select(TrainingBatch.hours)).one()
    attended = db.exec(select(TrainingEnrollment.attended_hours)).all()
    assert all(a <= hours for a in attended)
    if hours == 20:  # the shrink came first: every row of the upload was refused
        assert attended == []
        assert {r.status_code for r in responses[0::2]} == {422}
    else:  # the upload came first: the batch cannot shrink below 30
        assert (hours, attended) == (32, [30, 30, 30])
        assert {r.status_code for r in responses[1::2]} == {409}
