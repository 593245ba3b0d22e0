"""Each rule of a pilot application is written once (:mod:`app.applications.rules`, with
:func:`app.reference.rules.level_problem` for its certificate's level): its boundaries, and the
same words whether an application is written one at a time or by uploading the 一览表."""

import pytest
from sqlmodel import Session, func, select
from starlette.testclient import TestClient

from app.applications.models import ApplicationStatus, PilotApplication
from app.applications.rules import draft_problem
from app.core.i18n import N_
from app.reference.models import Level
from app.reference.rules import level_problem
from tests.applications.factories import make_application
from tests.imports.helpers import upload
from tests.reference.factories import make_certificate, make_major, office

URL = "/api/v1/applications"
HEADER = "本科/高职/中职,申报试点证书名称,申报级别,申报专业,申报年级,申报人数\n"


def test_only_a_draft_is_changed_or_deleted() -> None:
    assert draft_problem(7, ApplicationStatus.draft, N_("changed")) is None
    assert draft_problem(7, ApplicationStatus.submitted, N_("changed")) == (
        "pilot application 7 is Submitted; only a draft application can be changed"
    )
    assert draft_problem(7, ApplicationStatus.approved, N_("deleted")) == (
        "pilot application 7 is Approved; only a draft application can be deleted"
    )


@pytest.mark.parametrize("status", [s for s in ApplicationStatus if s != ApplicationStatus.draft])
def test_every_state_but_draft_is_refused(status: ApplicationStatus) -> None:
    assert draft_problem(7, status, N_("changed")) is not None


def _count(db: Session) -> int:
    db.expire_all()
    return int(db.exec(select(func.count()).select_from(PilotApplication)).one())


def test_a_submitted_application_is_refused_in_the_same_words_alone_and_by_upload(
    client: TestClient, db: Session
) -> None:
    major = make_major(db)
    certificate = make_certificate(db)
    application = make_application(
        db,
        majors=[major],
        certificate=certificate,
        status=ApplicationStatus.submitted,
        headcount=40,
    )
    headers = office(db)

    alone = client.patch(
        f"{URL}/{application.id}",
        json={"headcount": 50},
        headers={**headers, "If-Match": f'"{application.version}"'},
    )
    deleted = client.delete(f"{URL}/{application.id}", headers=headers)
    uploaded = upload(
        client,
        headers,
        "applications",
        "t.csv",
        f"{HEADER}高职,{certificate.name},中级,{major.code},2021级,50\n".encode(),
        year=2022,
    )

    changed = draft_problem(application.id, ApplicationStatus.submitted, N_("changed"))
    assert alone.status_code == 409
    assert alone.json()["detail"] == f"Not changed: {changed}"
    assert deleted.status_code == 409
    assert deleted.json()["detail"] == (
        f"Not deleted: {draft_problem(application.id, ApplicationStatus.submitted, N_('deleted'))}"
    )
    assert uploaded.status_code == 422
    assert [e["reason"] for e in uploaded.json()["errors"]] == [
        f"{changed}; this row would change headcount (40 → 50)"
    ]
    db.expire_all()
    stored = db.get(PilotApplication, application.id)
    assert stored is not None and stored.headcount == 40


def test_a_level_the_certificate_does_not_offer_is_refused_in_the_same_words_alone_and_by_upload(
    client: TestClient, db: Session
) -> None:
    major = make_major(db)
    certificate = make_certificate(db)
    headers = office(db)

    alone = client.post(
        URL,
        json={
            "year": 2022,
            "tier": "高职",
            "certificate_id": certificate.id,
            "level": "高级",
            "major_ids": [major.id],
            "cohorts": [2021],
            "headcount": 40,
        },
        headers=headers,
    )
    uploaded = upload(
        client,
        headers,
        "applications",
        "t.csv",
        f"{HEADER}高职,{certificate.name},高级,{major.code},2021级,40\n".encode(),
        year=2022,
    )

    problem = level_problem(certificate.name, certificate.level_list, Level.senior)
    assert problem is not None
    assert alone.status_code == 422
    assert alone.json()["detail"] == f"Cannot use this certificate and level: {problem}"
    assert uploaded.status_code == 422
    assert [(e["column"], e["reason"]) for e in uploaded.json()["errors"]] == [
        ("申报级别", f"{problem}; add the level to the certificate first")
    ]
    assert _count(db) == 0
