"""Deleting reference data that a later domain still uses is refused, naming what uses it."""

from sqlmodel import Session
from starlette.testclient import TestClient

from app.applications.models import PilotTeacher
from app.reference.models import Certificate, Major, Teacher
from tests.applications.factories import make_application
from tests.reference.factories import make_certificate, make_major, make_teacher, office


def test_deleting_a_certificate_used_by_an_application_is_refused(
    client: TestClient, db: Session
) -> None:
    certificate = make_certificate(db)
    make_application(db, certificate=certificate)

    response = client.delete(f"/api/v1/certificates/{certificate.id}", headers=office(db))

    assert response.status_code == 409
    assert response.json()["code"] == "still_referenced"
    assert response.json()["referenced_by"] == [{"entity": "pilot applications", "count": 1}]
    assert db.get(Certificate, certificate.id) is not None


def test_deleting_a_major_of_a_pilot_or_a_teacher_on_a_pilot_is_refused(
    client: TestClient, db: Session
) -> None:
    major = make_major(db)
    application = make_application(db, majors=[major])
    teacher = make_teacher(db)
    db.add(PilotTeacher(application_id=application.id, teacher_id=teacher.id, trainer=True))
    db.commit()
    headers = office(db)

    major_response = client.delete(f"/api/v1/majors/{major.id}", headers=headers)
    teacher_response = client.delete(f"/api/v1/teachers/{teacher.id}", headers=headers)

    assert major_response.status_code == 409
    assert {"entity": "pilot application majors", "count": 1} in major_response.json()[
        "referenced_by"
    ]
    assert teacher_response.status_code == 409
    assert teacher_response.json()["referenced_by"] == [{"entity": "pilot teachers", "count": 1}]
    assert db.get(Major, major.id) is not None
    assert db.get(Teacher, teacher.id) is not None


def test_an_unused_certificate_is_deleted(client: TestClient, db: Session) -> None:
    certificate_id = make_certificate(db).id

    response = client.delete(f"/api/v1/certificates/{certificate_id}", headers=office(db))

    assert response.status_code == 204
    db.expunge_all()
    assert db.get(Certificate, certificate_id) is None
