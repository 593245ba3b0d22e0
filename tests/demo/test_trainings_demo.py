"""The demo shows the trainings domain working: the Web front-end pilot at 66.7 % coverage with
the uncertified teacher named, and a student batch with completed enrolments."""

from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.applications.models import PilotApplication
from app.demo.loader import load_demo
from app.reference.models import Certificate
from app.trainings.models import TeacherTraining, TrainingEnrollment, TrainingStatus
from tests.reference.factories import office


def test_demo_web_pilot_shows_two_of_three_teachers_certified_and_trained_students(
    client: TestClient, db: Session
) -> None:
    assert load_demo(db, "admin", "demo-password-123").created
    web = db.exec(
        select(PilotApplication)
        .join(Certificate, Certificate.id == PilotApplication.certificate_id)  # type: ignore[arg-type]
        .where(Certificate.normalized_name == "web前端开发")
    ).one()

    detail = client.get(f"/api/v1/applications/{web.id}", headers=office(db)).json()

    statuses = sorted(db.exec(select(TeacherTraining.status)).all())
    assert statuses.count(TrainingStatus.certified) == 2
    assert detail["teacher_coverage"]["coverage_percent"] == 66.7
    assert detail["teacher_coverage"]["missing"] == ["陈刚 (T2001)"]
    enrolled = db.exec(select(TrainingEnrollment)).all()
    assert enrolled
    assert detail["trained_students"] == sum(1 for e in enrolled if e.completed)
