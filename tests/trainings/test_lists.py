"""Every training list answers in a constant number of SQL statements, whatever the page size."""

import csv
import io
from datetime import date

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.testclient import TestClient

from app.applications.models import ApplicationStatus
from app.trainings.models import (
    TeacherTraining,
    TrainingBatch,
    TrainingBatchInstructor,
    TrainingEnrollment,
    TrainingStatus,
)
from tests.applications.factories import make_application
from tests.reference.factories import (
    counting,
    make_certificate,
    make_major,
    make_student,
    make_teacher,
    office,
)

ROWS = 55


def _seed(db: Session) -> int:
    """More than 50 trainings, batches (each with an instructor and an enrolment) and
    enrolments in the first batch; the first batch's id."""
    major = make_major(db)
    certificate = make_certificate(db)
    application = make_application(
        db, majors=[major], certificate=certificate, status=ApplicationStatus.approved
    )
    teacher = make_teacher(db)
    students = [make_student(db, major, cohort=2021) for _ in range(ROWS)]
    day = date(2022, 3, 1)
    db.add_all(
        TeacherTraining(
            teacher_id=teacher.id,
            certificate_id=certificate.id,
            level="中级",
            start_date=day,
            end_date=day,
            hours=8,
            status=TrainingStatus.certified,
            trainer_certificate_no=f"TC{i}",
        )
        for i in range(ROWS)
    )
    batches = [
        TrainingBatch(
            application_id=application.id, title=f"批次{i}", hours=8, start_date=day, end_date=day
        )
        for i in range(ROWS)
    ]
    db.add_all(batches)
    db.flush()
    db.add_all(TrainingBatchInstructor(batch_id=b.id, teacher_id=teacher.id) for b in batches)
    db.add_all(
        TrainingEnrollment(batch_id=batches[0].id, student_id=s.id, completed=True)
        for s in students
    )
    db.add_all(TrainingEnrollment(batch_id=b.id, student_id=students[0].id) for b in batches[1:])
    db.commit()
    assert batches[0].id is not None
    return batches[0].id


@pytest.mark.parametrize("path", ["teacher-trainings", "training-batches", "enrollments"])
def test_list_statement_count_does_not_grow_with_page_size(
    client: TestClient, db: Session, engine: Engine, path: str
) -> None:
    first_batch = _seed(db)
    url = (
        f"/api/v1/training-batches/{first_batch}/enrollments"
        if path == "enrollments"
        else f"/api/v1/{path}"
    )
    headers = office(db)
    counts = []
    for limit in (1, 50):
        with counting(engine) as statements:
            response = client.get(url, params={"limit": limit}, headers=headers)
        assert response.status_code == 200, response.text
        assert len(response.json()["items"]) == limit
        counts.append(len(statements))

    assert counts[0] == counts[1]


def test_the_batches_export_names_each_batch_and_its_application(
    client: TestClient, db: Session
) -> None:
    first_batch = _seed(db)
    response = client.get(
        "/api/v1/training-batches",
        params={"format": "csv"},
        headers={**office(db), "Accept-Language": "en"},
    )
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    first = next(row for row in rows if row["Training batch ID"] == str(first_batch))
    batch = db.get(TrainingBatch, first_batch)
    assert batch is not None
    assert first["Application ID"] == str(batch.application_id)
    assert first["Trainees enrolled"] == str(ROWS)
