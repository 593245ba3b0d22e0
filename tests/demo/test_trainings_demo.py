"""The issue's Done-when on the demo data, through the HTTP API: the Web front-end pilot has
three teachers and two certified (66.7 %, the third named); certifying the third gives 100 %;
an expired certificate drops it again."""

from datetime import timedelta

from sqlmodel import Session, col, select
from starlette.testclient import TestClient

from app.applications.models import PilotApplication
from app.core.types import school_today
from app.demo.loader import load_demo
from app.reference.models import Certificate, Teacher
from app.trainings.models import TeacherTraining, TrainingEnrollment
from tests.reference.factories import office

REPORT = "/api/v1/reports/teacher-coverage"
TRAININGS = "/api/v1/teacher-trainings"


def _web_pilot(client: TestClient, headers: dict[str, str], web_id: int) -> tuple[dict, dict]:
    detail = client.get(f"/api/v1/applications/{web_id}", headers=headers).json()
    report = client.get(REPORT, params={"year": 2022}, headers=headers).json()
    row = next(p for p in report["pilots"] if p["application_id"] == web_id)
    return detail["teacher_coverage"], row


def test_demo_web_pilot_goes_from_66_7_to_100_and_back_when_a_certificate_expires(
    client: TestClient, db: Session
) -> None:
    assert load_demo(db, "admin", "demo-password-123").created
    web = db.exec(
        select(PilotApplication)
        .join(Certificate, col(Certificate.id) == PilotApplication.certificate_id)
        .where(Certificate.normalized_name == "web前端开发")
    ).one()
    third = db.exec(
        select(TeacherTraining)
        .join(Teacher, col(Teacher.id) == TeacherTraining.teacher_id)
        .where(Teacher.staff_no == "T2001")
    ).one()
    assert web.id is not None
    headers = office(db)

    figure, row = _web_pilot(client, headers, web.id)
    assert (figure["assigned"], figure["certified"], figure["coverage_percent"]) == (3, 2, 66.7)
    assert figure["missing"] == row["missing"] == ["陈刚 (T2001)"]
    assert row["below_target"] is True

    certified = client.post(
        f"{TRAININGS}/{third.id}/certify",
        json={"trainer_certificate_no": "WEB-ZJ-2022-0003", "certified_on": "2022-07-15"},
        headers=headers,
    )
    figure, row = _web_pilot(client, headers, web.id)
    assert certified.status_code == 200, certified.text
    assert (figure["coverage_percent"], figure["missing"]) == (100.0, [])
    assert row["below_target"] is False

    yesterday = school_today("Asia/Shanghai") - timedelta(days=1)
    expired = client.patch(
        f"{TRAININGS}/{third.id}",
        json={"valid_until": yesterday.isoformat()},
        headers={**headers, "If-Match": certified.headers["ETag"]},
    )
    figure, row = _web_pilot(client, headers, web.id)
    assert expired.status_code == 200, expired.text
    assert (figure["coverage_percent"], figure["missing"]) == (66.7, ["陈刚 (T2001)"])
    assert row["below_target"] is True


def test_demo_batch_counts_its_completed_students_as_trained(
    client: TestClient, db: Session
) -> None:
    assert load_demo(db, "admin", "demo-password-123").created
    web_id = db.exec(
        select(PilotApplication.id)
        .join(Certificate, col(Certificate.id) == PilotApplication.certificate_id)
        .where(Certificate.normalized_name == "web前端开发")
    ).one()

    detail = client.get(f"/api/v1/applications/{web_id}", headers=office(db)).json()

    enrolled = db.exec(select(TrainingEnrollment)).all()
    assert enrolled
    assert 0 < detail["trained_students"] == sum(1 for e in enrolled if e.completed)
