"""Helpers for trainings: trainings in any state, batches, and the HTTP steps of a training."""

import itertools
from datetime import date
from typing import Any

from sqlmodel import Session
from starlette.testclient import TestClient

from app.applications.models import ApplicationStatus, PilotApplication, PilotTeacher
from app.reference.models import Certificate, Level, Major, Teacher
from app.trainings.models import (
    TeacherTraining,
    TrainingBatch,
    TrainingBatchInstructor,
    TrainingStatus,
)
from tests.applications.factories import make_application
from tests.reference.factories import make_major

_numbers = itertools.count(1)
TRAININGS = "/api/v1/teacher-trainings"
BATCHES = "/api/v1/training-batches"


def make_training(
    db: Session,
    teacher: Teacher,
    certificate: Certificate,
    *,
    level: Level = Level.intermediate,
    status: TrainingStatus = TrainingStatus.planned,
    valid_until: date | None = None,
    number: str | None = None,
) -> TeacherTraining:
    certified = status == TrainingStatus.certified
    training = TeacherTraining(
        teacher_id=teacher.id,
        certificate_id=certificate.id,
        level=level,
        provider="评价组织",
        start_date=date(2022, 3, 1),
        end_date=date(2022, 3, 5),
        hours=40,
        status=status,
        trainer_certificate_no=(number or f"TC{next(_numbers):06d}") if certified else None,
        certified_on=date(2022, 3, 5) if certified else None,
        valid_until=valid_until,
    )
    db.add(training)
    db.commit()
    db.refresh(training)
    return training


def assign(db: Session, application: PilotApplication, *teachers: Teacher) -> None:
    for teacher in teachers:
        db.add(PilotTeacher(application_id=application.id, teacher_id=teacher.id, trainer=True))
    db.commit()


def make_batch(
    db: Session,
    application: PilotApplication,
    *,
    hours: int = 32,
    instructors: tuple[Teacher, ...] = (),
) -> TrainingBatch:
    batch = TrainingBatch(
        application_id=application.id,
        title="集中培训",
        hours=hours,
        start_date=date(2022, 9, 1),
        end_date=date(2022, 9, 30),
    )
    db.add(batch)
    db.commit()
    db.refresh(batch)
    for teacher in instructors:
        db.add(TrainingBatchInstructor(batch_id=batch.id, teacher_id=teacher.id))
    db.commit()
    return batch


def approved_batch(
    db: Session, *, hours: int = 32
) -> tuple[Major, PilotApplication, TrainingBatch]:
    """A batch of an approved pilot with one major (cohort 2021): its students may enrol."""
    major = make_major(db)
    application = make_application(db, majors=[major], status=ApplicationStatus.approved)
    return major, application, make_batch(db, application, hours=hours)


def training_body(teacher: Teacher, certificate: Certificate, **changes: Any) -> dict[str, Any]:
    return {
        "teacher_id": teacher.id,
        "certificate_id": certificate.id,
        "level": "中级",
        "provider": "评价组织",
        "start_date": "2022-03-01",
        "end_date": "2022-03-05",
        "hours": 40,
        **changes,
    }


def certify_over_http(
    client: TestClient,
    headers: dict[str, str],
    teacher: Teacher,
    certificate: Certificate,
    number: str,
    **certify: Any,
) -> dict[str, Any]:
    """Record, start and certify a training through the API; the certified training."""
    created = client.post(TRAININGS, json=training_body(teacher, certificate), headers=headers)
    assert created.status_code == 201, created.text
    training_id = created.json()["id"]
    started = client.post(f"{TRAININGS}/{training_id}/start", headers=headers)
    assert started.status_code == 200, started.text
    certified = client.post(
        f"{TRAININGS}/{training_id}/certify",
        json={"trainer_certificate_no": number, **certify},
        headers=headers,
    )
    assert certified.status_code == 200, certified.text
    body: dict[str, Any] = certified.json()
    return body
