"""Reference rows an application or plan refers to are not deleted from under it."""

from sqlmodel import Session
from starlette.testclient import TestClient

from tests.applications.factories import make_application
from tests.reference.factories import make_certificate, make_major, office


def test_a_major_or_certificate_used_by_an_application_cannot_be_deleted(
    client: TestClient, db: Session
) -> None:
    major = make_major(db)
    certificate = make_certificate(db)
    make_application(db, majors=[major], certificate=certificate)
    headers = office(db)

    major_response = client.delete(f"/api/v1/majors/{major.id}", headers=headers)
    certificate_response = client.delete(f"/api/v1/certificates/{certificate.id}", headers=headers)

    assert major_response.status_code == 409
    assert certificate_response.status_code == 409
    assert client.get(f"/api/v1/majors/{major.id}", headers=headers).status_code == 200
