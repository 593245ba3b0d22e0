"""Concurrent writers: the unique certificate number, the state machine and the one enrolment
per student hold when requests race."""

from collections import Counter

import pytest
from fastapi import FastAPI
from sqlmodel import Session, select

from app.applications.models import ApplicationStatus
from app.trainings.models import TeacherTraining, TrainingEnrollment, TrainingStatus
from tests.applications.factories import make_application
from tests.concurrency import Call, fire_concurrently
from tests.reference.factories import (
    make_certificate,
    make_major,
    make_student,
    make_teacher,
    office,
)
from tests.trainings.factories import TRAININGS, make_batch, make_training


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
    major = make_major(db)
    application = make_application(db, majors=[major], status=ApplicationStatus.approved)
    batch = make_batch(db, application)
    student = make_student(db, major, cohort=2021)
    enroll = Call(
        "POST",
        f"/api/v1/training-batches/{batch.id}/enrollments",
        {"json": {"student_id": student.id}, "headers": office(db)},
    )

    responses = fire_concurrently(app, [enroll] * 6)

    assert Counter(r.status_code for r in responses) == {201: 1, 409: 5}
    assert len(db.exec(select(TrainingEnrollment)).all()) == 1
