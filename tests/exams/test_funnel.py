"""The funnel: headcount → trained → registered → sat → passed → certified, per group and
overall."""

from datetime import date

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.applications.models import ApplicationMajor
from app.core.roles import Role
from app.exams.models import IssuedCertificate, RegistrationStatus
from app.trainings.models import TrainingBatch, TrainingEnrollment
from tests.exams.factories import (
    make_pilot,
    make_registration,
    make_result,
    make_session,
    pilot_students,
)
from tests.reference.factories import headers_for, office


def _seed(db: Session) -> int:
    application = make_pilot(db, headcount=40)
    exam = make_session(db, application)
    certified, failed, waiting, cancelled = pilot_students(db, application, 4)
    result = make_result(db, make_registration(db, exam, certified), passed=True)
    make_result(db, make_registration(db, exam, failed), passed=False)
    make_registration(db, exam, waiting)
    make_registration(db, exam, cancelled, RegistrationStatus.cancelled)
    db.add(
        IssuedCertificate(
            number="N001",
            result_id=result.id,
            student_id=certified.id,
            session_id=exam.id,
            issue_date=date(2022, 12, 20),
        )
    )
    batch = TrainingBatch(
        application_id=application.id,
        title="考前集训",
        hours=16,
        start_date=date(2022, 10, 8),
        end_date=date(2022, 10, 9),
    )
    db.add(batch)
    db.commit()
    for student in (certified, failed):
        db.add(TrainingEnrollment(batch_id=batch.id, student_id=student.id, attended_hours=16))
    db.commit()
    assert application.id is not None
    return application.id


def test_funnel_counts_each_stage_per_pilot_and_overall(client: TestClient, db: Session) -> None:
    application_id = _seed(db)
    make_pilot(db, headcount=10)

    response = client.get(
        "/api/v1/reports/funnel",
        params={"year": 2022, "group_by": "application"},
        headers=office(db),
    )

    assert response.status_code == 200, response.text
    body = response.json()
    row = next(r for r in body["rows"] if r["key"] == str(application_id))
    assert {
        k: row[k] for k in ("headcount", "trained", "registered", "sat", "passed", "certified")
    } == {
        "headcount": 40,
        "trained": 2,
        "registered": 3,
        "sat": 2,
        "passed": 1,
        "certified": 1,
    }
    assert row["pass_rate"] == 0.5
    assert body["total"]["headcount"] == 50
    assert body["total"]["registered"] == 3
    assert len(body["rows"]) == 2


@pytest.mark.usefixtures("chinese")
def test_funnel_by_major_and_as_csv(client: TestClient, db: Session) -> None:
    _seed(db)
    headers = headers_for(db, Role.auditor)

    by_major = client.get("/api/v1/reports/funnel", params={"group_by": "major"}, headers=headers)
    csv = client.get(
        "/api/v1/reports/funnel", params={"group_by": "cohort", "format": "csv"}, headers=headers
    )

    assert by_major.status_code == 200
    assert by_major.json()["rows"][0]["registered"] == 3
    text = csv.content.decode("utf-8-sig").splitlines()
    assert text[0] == "年级,申报人数,已培训,已报名,实考,通过,已发证,通过率"
    assert text[1].startswith("2021级,40,2,3,2,1,1,0.5")
    english = client.get(
        "/api/v1/reports/funnel",
        params={"group_by": "cohort"},
        headers={**headers, "Accept-Language": "en"},
    )
    assert english.json()["rows"][0]["label"] == "Class of 2021"
    assert text[-1].startswith("合计,40")


def test_funnel_is_for_the_office_and_auditors(client: TestClient, db: Session) -> None:
    from tests.reference.factories import make_student

    student = make_student(db)
    response = client.get(
        "/api/v1/reports/funnel", headers=headers_for(db, Role.student, student_id=student.id)
    )

    assert response.status_code == 403


def test_a_college_manager_sees_their_colleges_pilots_and_candidates(
    client: TestClient, db: Session
) -> None:
    from app.reference.models import College, Major

    application_id = _seed(db)
    make_pilot(db, headcount=10)
    own_major = db.exec(
        select(Major)
        .join(ApplicationMajor)
        .where(ApplicationMajor.application_id == application_id)
    ).one()
    college = db.get(College, own_major.college_id)
    assert college is not None

    response = client.get(
        "/api/v1/reports/funnel",
        headers=headers_for(db, Role.college_manager, college_id=college.id),
    )

    assert response.status_code == 200
    body = response.json()
    assert [r["key"] for r in body["rows"]] == [str(application_id)]
    assert body["total"]["registered"] == 3
