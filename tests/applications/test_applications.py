"""Pilot applications over HTTP: create, read, update, delete, the state machine and who may
do what."""

from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from starlette.testclient import TestClient

from app.applications.models import (
    ApplicationCohort,
    ApplicationMajor,
    ApplicationStatus,
    PilotApplication,
    Tier,
)
from app.core.audit import AuditEvent
from app.core.roles import Role
from app.reference.models import Level
from tests.applications.factories import make_application
from tests.factories import assert_answered_as_missing
from tests.reference.factories import (
    counting,
    headers_for,
    make_certificate,
    make_college,
    make_major,
    make_student,
    make_teacher,
    manager_of,
    office,
)

URL = "/api/v1/applications"


def _payload(db: Session, **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "year": 2022,
        "tier": "高职",
        "level": "中级",
        "cohorts": [2021, 2020],
        "headcount": 120,
        "contact": "王老师",
    }
    if "certificate_id" not in fields:
        data["certificate_id"] = make_certificate(db).id
    if "major_ids" not in fields:
        data["major_ids"] = [make_major(db).id]
    return {**data, **fields}


def _stored(db: Session, application_id: int) -> PilotApplication | None:
    db.expire_all()
    application = db.get(PilotApplication, application_id)
    db.commit()
    return application


# --- create ----------------------------------------------------------------------------------


def test_office_creates_a_draft_with_its_majors_and_cohorts_and_it_is_audited(
    client: TestClient, db: Session
) -> None:
    majors = [make_major(db), make_major(db)]
    payload = _payload(db, major_ids=[majors[1].id, majors[0].id, majors[0].id])

    response = client.post(URL, json=payload, headers=office(db))

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "draft"
    assert body["allowed_actions"] == ["update", "delete", "submit"]
    assert [m["id"] for m in body["majors"]] == sorted(m.id for m in majors)
    assert all(m["plan_status"] is None for m in body["majors"])
    assert body["cohorts"] == [2020, 2021]
    assert response.headers["ETag"] == '"1"'
    assert response.headers["Location"] == f"{URL}/{body['id']}"
    links = db.exec(
        select(ApplicationMajor.major_id).where(ApplicationMajor.application_id == body["id"])
    ).all()
    assert sorted(links) == sorted(m.id for m in majors)
    cohorts = db.exec(
        select(ApplicationCohort.cohort).where(ApplicationCohort.application_id == body["id"])
    ).all()
    assert sorted(cohorts) == [2020, 2021]
    event = db.exec(select(AuditEvent).where(AuditEvent.entity == "pilot_application")).one()
    assert event.action == "create"
    assert event.after is not None and event.after["cohorts"] == [2020, 2021]


def test_second_application_for_same_year_certificate_level_and_tier_is_409_naming_the_first(
    client: TestClient, db: Session
) -> None:
    headers = office(db)
    payload = _payload(db)
    first = client.post(URL, json=payload, headers=headers).json()

    response = client.post(URL, json={**payload, "headcount": 5}, headers=headers)

    assert response.status_code == 409
    assert response.json()["code"] == "duplicate"
    assert response.json()["existing_id"] == first["id"]
    assert f"Pilot application {first['id']}" in response.json()["detail"]
    other_tier = client.post(URL, json={**payload, "tier": "中职"}, headers=headers)
    assert other_tier.status_code == 201


def test_create_refuses_unknown_certificate_and_unknown_major(
    client: TestClient, db: Session
) -> None:
    headers = office(db)

    no_certificate = client.post(URL, json=_payload(db, certificate_id=999999), headers=headers)
    no_major = client.post(URL, json=_payload(db, major_ids=[999999]), headers=headers)

    assert no_certificate.status_code == 422
    assert no_certificate.json()["errors"][0]["field"] == "body.certificate_id"
    assert no_major.status_code == 422
    assert "999999" in no_major.json()["detail"]
    assert db.exec(select(PilotApplication)).all() == []


def test_create_refuses_a_level_the_certificate_does_not_offer(
    client: TestClient, db: Session
) -> None:
    response = client.post(URL, json=_payload(db, level="高级"), headers=office(db))

    assert response.status_code == 422
    assert "not at Senior" in response.json()["detail"]


def test_create_refuses_implausible_cohort_zero_headcount_and_no_majors(
    client: TestClient, db: Session
) -> None:
    headers = office(db)

    far_cohort = client.post(URL, json=_payload(db, cohorts=[2010]), headers=headers)
    zero = client.post(URL, json=_payload(db, headcount=0), headers=headers)
    no_majors = client.post(URL, json=_payload(db, major_ids=[]), headers=headers)
    no_cohorts = client.post(URL, json=_payload(db, cohorts=[]), headers=headers)
    bad_year = client.post(URL, json=_payload(db, year=1999), headers=headers)

    assert far_cohort.status_code == 422
    assert "cohort 2010 is not plausible for 2022" in far_cohort.json()["detail"]
    assert zero.status_code == 422
    assert zero.json()["errors"][0]["field"] == "body.headcount"
    assert no_majors.status_code == 422
    assert no_cohorts.status_code == 422
    assert bad_year.status_code == 422


def test_college_manager_files_for_majors_of_their_own_college(
    client: TestClient, db: Session
) -> None:
    college = make_college(db)
    payload = _payload(db, major_ids=[make_major(db, college).id])

    response = client.post(URL, json=payload, headers=manager_of(db, college))

    assert response.status_code == 201, response.text


def test_college_manager_may_not_file_when_a_major_belongs_to_another_college(
    client: TestClient, db: Session
) -> None:
    college = make_college(db)
    foreign = make_major(db, name="外院专业")
    payload = _payload(db, major_ids=[make_major(db, college).id, foreign.id])

    headers = manager_of(db, college)
    response = client.post(URL, json=payload, headers=headers)
    missing_ids = [payload["major_ids"][0], 999999]
    missing = client.post(URL, json={**payload, "major_ids": missing_ids}, headers=headers)

    # A major of another college, which the manager may not read, is answered as a missing one.
    assert response.status_code == 422
    assert_answered_as_missing(response, missing, foreign.id, 999999)
    assert "外院专业" not in response.text
    assert db.exec(select(PilotApplication)).all() == []


def test_teacher_student_and_auditor_may_not_file(client: TestClient, db: Session) -> None:
    payload = _payload(db)
    teacher = make_teacher(db)
    student = make_student(db)
    for headers in (
        headers_for(db, Role.teacher, teacher_id=teacher.id),
        headers_for(db, Role.student, student_id=student.id),
        headers_for(db, Role.auditor),
    ):
        response = client.post(URL, json=payload, headers=headers)
        assert response.status_code == 403
        assert response.json()["allowed_roles"] == ["academic_office", "college_manager"]


# --- update and delete -----------------------------------------------------------------------


def test_update_of_a_draft_with_if_match_replaces_majors_and_cohorts(
    client: TestClient, db: Session
) -> None:
    application = make_application(db)
    new_major = make_major(db)

    response = client.patch(
        f"{URL}/{application.id}",
        json={"major_ids": [new_major.id], "cohorts": [2022], "headcount": 77, "notes": "补报"},
        headers={**office(db), "If-Match": '"1"'},
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert [m["id"] for m in body["majors"]] == [new_major.id]
    assert body["cohorts"] == [2022]
    assert body["headcount"] == 77
    assert body["version"] == 2
    assert response.headers["ETag"] == '"2"'


def test_update_with_a_stale_if_match_is_412_and_changes_nothing(
    client: TestClient, db: Session
) -> None:
    application = make_application(db, headcount=40)

    response = client.patch(
        f"{URL}/{application.id}",
        json={"headcount": 99},
        headers={**office(db), "If-Match": '"7"'},
    )

    assert response.status_code == 412
    stored = _stored(db, application.id or 0)
    assert stored is not None and stored.headcount == 40


def test_update_into_an_existing_key_is_409(client: TestClient, db: Session) -> None:
    certificate = make_certificate(db)
    first = make_application(db, certificate=certificate, tier=Tier.higher_vocational)
    second = make_application(db, certificate=certificate, tier=Tier.secondary_vocational)

    response = client.patch(f"{URL}/{second.id}", json={"tier": "高职"}, headers=office(db))

    assert response.status_code == 409
    assert response.json()["existing_id"] == first.id


def test_update_of_a_submitted_application_is_409_invalid_state(
    client: TestClient, db: Session
) -> None:
    application = make_application(db, status=ApplicationStatus.submitted)

    response = client.patch(f"{URL}/{application.id}", json={"headcount": 1}, headers=office(db))

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "invalid_state"
    assert body["current_state"] == "submitted"
    assert body["allowed_actions"] == ["approve", "reject"]


def test_null_for_a_required_field_is_422(client: TestClient, db: Session) -> None:
    application = make_application(db)

    response = client.patch(f"{URL}/{application.id}", json={"headcount": None}, headers=office(db))

    assert response.status_code == 422


def test_deleting_a_draft_removes_it_and_its_links(client: TestClient, db: Session) -> None:
    application = make_application(db)

    response = client.delete(f"{URL}/{application.id}", headers=office(db))

    assert response.status_code == 204
    assert _stored(db, application.id or 0) is None
    assert db.exec(select(ApplicationMajor)).all() == []


def test_deleting_an_approved_application_is_409(client: TestClient, db: Session) -> None:
    application = make_application(db, status=ApplicationStatus.approved)

    response = client.delete(f"{URL}/{application.id}", headers=office(db))

    assert response.status_code == 409
    assert response.json()["current_state"] == "approved"
    assert _stored(db, application.id or 0) is not None


# --- state machine ---------------------------------------------------------------------------


def test_submitted_application_is_approved_and_then_closed(client: TestClient, db: Session) -> None:
    college = make_college(db)
    application = make_application(db, majors=[make_major(db, college)])
    headers = office(db)

    submitted = client.post(f"{URL}/{application.id}/submit", headers=manager_of(db, college))
    approved = client.post(f"{URL}/{application.id}/approve", headers=headers)
    closed = client.post(f"{URL}/{application.id}/close", headers=headers)

    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["status"] == "submitted"
    assert approved.json()["status"] == "approved"
    assert approved.json()["allowed_actions"] == ["close"]
    assert closed.json()["status"] == "closed"
    assert closed.json()["allowed_actions"] == []
    actions = db.exec(
        select(AuditEvent.action)
        .where(AuditEvent.entity == "pilot_application")
        .order_by(col(AuditEvent.id))
    ).all()
    assert actions == ["submit", "approve", "close"]


def test_rejection_needs_a_reason_and_keeps_it(client: TestClient, db: Session) -> None:
    application = make_application(db, status=ApplicationStatus.submitted)
    headers = office(db)

    without = client.post(f"{URL}/{application.id}/reject", json={}, headers=headers)
    blank = client.post(f"{URL}/{application.id}/reject", json={"reason": "  "}, headers=headers)
    rejected = client.post(
        f"{URL}/{application.id}/reject", json={"reason": "师资不足"}, headers=headers
    )

    assert without.status_code == 422
    assert blank.status_code == 422
    assert rejected.status_code == 200
    assert rejected.json()["status"] == "rejected"
    assert rejected.json()["rejection_reason"] == "师资不足"


def test_approving_a_draft_is_409_with_state_and_allowed_actions_and_changes_nothing(
    client: TestClient, db: Session
) -> None:
    application = make_application(db)

    response = client.post(f"{URL}/{application.id}/approve", headers=office(db))

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "invalid_state"
    assert body["current_state"] == "draft"
    assert body["allowed_actions"] == ["update", "delete", "submit"]
    assert "Cannot approve" in body["detail"]
    stored = _stored(db, application.id or 0)
    assert stored is not None
    assert stored.status == ApplicationStatus.draft
    assert stored.version == 1


def test_closing_a_submitted_and_resubmitting_an_approved_application_are_409(
    client: TestClient, db: Session
) -> None:
    submitted = make_application(db, status=ApplicationStatus.submitted)
    approved = make_application(db, status=ApplicationStatus.approved)
    headers = office(db)

    close = client.post(f"{URL}/{submitted.id}/close", headers=headers)
    submit = client.post(f"{URL}/{approved.id}/submit", headers=headers)
    reject = client.post(f"{URL}/{approved.id}/reject", json={"reason": "x"}, headers=headers)

    assert (close.status_code, close.json()["current_state"]) == (409, "submitted")
    assert (submit.status_code, submit.json()["current_state"]) == (409, "approved")
    assert reject.status_code == 409


def test_only_the_academic_office_approves_rejects_and_closes(
    client: TestClient, db: Session
) -> None:
    college = make_college(db)
    application = make_application(
        db, majors=[make_major(db, college)], status=ApplicationStatus.submitted
    )
    for headers in (manager_of(db, college), headers_for(db, Role.auditor)):
        approve = client.post(f"{URL}/{application.id}/approve", headers=headers)
        reject = client.post(
            f"{URL}/{application.id}/reject", json={"reason": "x"}, headers=headers
        )
        close = client.post(f"{URL}/{application.id}/close", headers=headers)
        assert approve.status_code == 403
        assert reject.status_code == 403
        assert close.status_code == 403
        assert approve.json()["allowed_roles"] == ["academic_office"]
        assert reject.json()["allowed_roles"] == ["academic_office"]
    stored = _stored(db, application.id or 0)
    assert stored is not None and stored.status == ApplicationStatus.submitted


def test_college_manager_may_not_submit_an_application_with_another_colleges_major(
    client: TestClient, db: Session
) -> None:
    college = make_college(db)
    application = make_application(db, majors=[make_major(db, college), make_major(db)])

    response = client.post(f"{URL}/{application.id}/submit", headers=manager_of(db, college))

    assert response.status_code == 403
    assert response.json()["code"] == "out_of_scope"


# --- reading ---------------------------------------------------------------------------------


def test_unknown_application_is_404(client: TestClient, db: Session) -> None:
    response = client.get(f"{URL}/424242", headers=office(db))

    assert response.status_code == 404
    assert "424242" in response.json()["detail"]


def test_list_filters_by_every_documented_field(client: TestClient, db: Session) -> None:
    college = make_college(db)
    major = make_major(db, college)
    certificate = make_certificate(db)
    target = make_application(
        db,
        majors=[major],
        certificate=certificate,
        year=2023,
        level=Level.junior,
        tier=Tier.undergraduate,
        cohorts=(2022, 2023),
        status=ApplicationStatus.approved,
    )
    make_application(db, year=2022, cohorts=(2021,))
    headers = office(db)
    filters: list[dict[str, Any]] = [
        {"year": 2023},
        {"status": "approved"},
        {"certificate_id": certificate.id},
        {"college_id": college.id},
        {"major_id": major.id},
        {"level": "初级"},
        {"tier": "本科"},
        {"cohort": 2023},
    ]
    for params in filters:
        response = client.get(URL, params=params, headers=headers)
        assert response.status_code == 200, (params, response.text)
        assert [a["id"] for a in response.json()["items"]] == [target.id], params
    assert client.get(URL, headers=headers).json()["total"] == 2
    assert client.get(URL, params={"cohort": 1999}, headers=headers).status_code == 422


def test_college_manager_reads_only_applications_with_a_major_of_their_college(
    client: TestClient, db: Session
) -> None:
    college = make_college(db)
    mine = make_application(db, majors=[make_major(db, college), make_major(db)])
    other = make_application(db)
    headers = manager_of(db, college)

    listed = client.get(URL, headers=headers).json()
    hidden = client.get(f"{URL}/{other.id}", headers=headers)

    assert [a["id"] for a in listed["items"]] == [mine.id]
    assert hidden.status_code == 404


def test_student_reads_approved_applications_for_their_major_and_cohort_only(
    client: TestClient, db: Session
) -> None:
    major = make_major(db)
    student = make_student(db, major, cohort=2021)
    approved = make_application(
        db, majors=[major], cohorts=(2021,), status=ApplicationStatus.approved
    )
    make_application(db, majors=[major], cohorts=(2021,), status=ApplicationStatus.submitted)
    make_application(db, majors=[major], cohorts=(2020,), status=ApplicationStatus.approved)
    headers = headers_for(db, Role.student, student_id=student.id)

    listed = client.get(URL, headers=headers).json()

    assert [a["id"] for a in listed["items"]] == [approved.id]


def test_admin_reads_but_may_not_file(client: TestClient, db: Session) -> None:
    application = make_application(db)
    headers = headers_for(db, Role.admin)

    assert client.get(f"{URL}/{application.id}", headers=headers).status_code == 200
    assert client.post(f"{URL}/{application.id}/submit", headers=headers).status_code == 403


def test_list_uses_the_same_number_of_statements_for_1_and_50_items(
    client: TestClient, db: Session, engine: Engine
) -> None:
    certificate = make_certificate(db)
    majors = [make_major(db) for _ in range(3)]
    for year in range(2040, 2095):
        make_application(db, majors=majors, certificate=certificate, year=year, cohorts=(year,))
    headers = office(db)
    counts = []
    for limit in (1, 50):
        with counting(engine) as statements:
            response = client.get(URL, params={"limit": limit}, headers=headers)
        assert response.status_code == 200
        assert len(response.json()["items"]) == limit
        assert len(response.json()["items"][0]["majors"]) == 3
        counts.append(len(statements))
    assert counts[0] == counts[1]


@pytest.mark.usefixtures("chinese")
def test_list_exports_csv_with_the_tables_headers(client: TestClient, db: Session) -> None:
    make_application(db, cohorts=(2020, 2021))
    headers = office(db)

    csv = client.get(URL, params={"format": "csv"}, headers=headers)
    xlsx = client.get(URL, params={"format": "xlsx"}, headers=headers)

    assert csv.status_code == 200
    text = csv.content.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("序号,本科/高职/中职,申报试点证书名称,申报级别")
    assert "2020级、2021级" in text
    assert xlsx.status_code == 200
    assert xlsx.content.startswith(b"PK")


def test_college_manager_may_not_add_another_colleges_major_to_their_draft(
    client: TestClient, db: Session
) -> None:
    college = make_college(db)
    application = make_application(db, majors=[make_major(db, college)])
    foreign = make_major(db)

    headers = manager_of(db, college)
    response = client.patch(
        f"{URL}/{application.id}", json={"major_ids": [foreign.id]}, headers=headers
    )
    missing = client.patch(f"{URL}/{application.id}", json={"major_ids": [999999]}, headers=headers)

    assert response.status_code == 422
    assert_answered_as_missing(response, missing, foreign.id, 999999)
    assert foreign.name not in response.text


def test_a_nul_character_in_a_text_field_is_422_naming_the_field(
    client: TestClient, db: Session
) -> None:
    response = client.post(URL, json=_payload(db, contact="王\x00老师"), headers=office(db))

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.contact"
