"""Clumsy and unauthorised clients of the committee: clear 4xx answers, nothing written."""

from sqlmodel import Session, func, select
from starlette.testclient import TestClient

from app.committee.models import Expert, Meeting, MeetingAttendee
from app.core.roles import Role
from tests.committee.test_committee import EXPERTS, MEETINGS, _expert, _meeting_body
from tests.reference.factories import headers_for, office


def _count(db: Session, table: type) -> int:
    return int(db.exec(select(func.count()).select_from(table)).one())


def test_only_the_office_writes_and_students_teachers_managers_do_not_read(
    client: TestClient, db: Session
) -> None:
    expert = _expert(client, office(db))
    for role in (Role.auditor, Role.college_manager, Role.teacher, Role.student):
        headers = headers_for(db, role)
        assert client.post(EXPERTS, json={"name": "王"}, headers=headers).status_code in (403, 422)
        refused = client.post(MEETINGS, json=_meeting_body([expert["id"]]), headers=headers)
        assert refused.status_code == 403, refused.text
        assert "academic_office" in refused.text
    for role in (Role.college_manager, Role.teacher, Role.student):
        headers = headers_for(db, role)
        assert client.get(EXPERTS, headers=headers).status_code == 403
        assert client.get(MEETINGS, headers=headers).status_code == 403
    assert _count(db, Expert) == 1 and _count(db, Meeting) == 0


def test_bad_experts_and_meetings_are_422_and_write_nothing(
    client: TestClient, db: Session
) -> None:
    headers = office(db)
    expert = _expert(client, headers)
    for body in (
        {"name": "   ", "organisation": "某企业", "kind": "enterprise"},
        {"name": "王工", "organisation": "某企业", "kind": "government"},
        {"name": "王工", "organisation": "某企业", "kind": "enterprise", "contact": "x" * 5000},
    ):
        response = client.post(EXPERTS, json=body, headers=headers)
        assert response.status_code == 422, response.text
        assert response.json()["errors"]
    for body in (
        _meeting_body([expert["id"]], meeting_date="2022-02-30"),
        _meeting_body([expert["id"]], decisions=[{"text": "x", "due_date": "soon"}]),
        _meeting_body([expert["id"], 999999]),
        _meeting_body([expert["id"]], topic="   "),
    ):
        response = client.post(MEETINGS, json=body, headers=headers)
        assert response.status_code == 422, response.text
    assert _count(db, Expert) == 1 and _count(db, Meeting) == 0

    twice = client.post(MEETINGS, json=_meeting_body([expert["id"]] * 2), headers=headers)
    assert twice.status_code == 201, twice.text
    assert [a["id"] for a in twice.json()["attendees"]] == [expert["id"]]
    assert _count(db, MeetingAttendee) == 1
    assert client.get(f"{MEETINGS}/999999", headers=headers).status_code == 404
    assert client.delete(f"{EXPERTS}/999999", headers=headers).status_code == 404
