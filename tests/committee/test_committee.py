"""The expert advisory committee: experts and meetings with attendees and decisions."""

from typing import Any

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.committee.models import MeetingAttendee, MeetingDecision
from app.core.audit import AuditEvent
from app.core.roles import Role
from tests.reference.factories import headers_for, office

EXPERTS = "/api/v1/experts"
MEETINGS = "/api/v1/meetings"


def _expert(client: TestClient, headers: dict[str, str], **changes: Any) -> dict[str, Any]:
    body = {
        "name": "李工",
        "organisation": "北京新大陆时代科技有限公司",
        "kind": "evaluation_org",
        "title": "高级工程师",
        "contact": "13800000000",
        **changes,
    }
    response = client.post(EXPERTS, json=body, headers=headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def _meeting_body(attendee_ids: list[int], **changes: Any) -> dict[str, Any]:
    return {
        "meeting_date": "2022-06-15",
        "topic": "1+X 试点年度推进例会",
        "location": "行政楼 301",
        "attendee_ids": attendee_ids,
        "minutes": "听取各二级学院试点进展汇报。",
        "decisions": [
            {"text": "6 月底前完成师资培训", "owner": "计算机与软件学院", "due_date": "2022-06-30"},
            {"text": "修订考核方案", "owner": "教务处"},
        ],
        **changes,
    }


@pytest.mark.usefixtures("chinese")
def test_the_office_adds_experts_and_auditors_read_them(client: TestClient, db: Session) -> None:
    headers = office(db)
    created = _expert(client, headers)
    _expert(client, headers, name="张经理", organisation="阿里巴巴", kind="enterprise")

    auditor = headers_for(db, Role.auditor)
    listed = client.get(EXPERTS, params={"kind": "enterprise"}, headers=auditor)

    assert listed.status_code == 200
    assert [e["name"] for e in listed.json()["items"]] == ["张经理"]
    assert created["meetings_attended"] == 0 and created["active"] is True
    # Refused for the role before the body is read: an incomplete body is 403 too.
    assert client.post(EXPERTS, json={"name": "x"}, headers=auditor).status_code == 403
    refused = client.post(
        EXPERTS, json={"name": "x", "organisation": "y", "kind": "school"}, headers=auditor
    )
    assert refused.status_code == 403
    assert client.get(EXPERTS, headers=headers_for(db, Role.student)).status_code == 403
    csv = client.get(EXPERTS, params={"format": "csv"}, headers=auditor)
    assert csv.status_code == 200 and csv.text.startswith("\ufeff姓名")


def test_an_expert_is_updated_with_if_match(client: TestClient, db: Session) -> None:
    headers = office(db)
    expert = _expert(client, headers)
    url = f"{EXPERTS}/{expert['id']}"

    stale = client.patch(url, json={"title": "教授"}, headers={**headers, "If-Match": '"9"'})
    ok = client.patch(
        url, json={"title": None, "active": False}, headers={**headers, "If-Match": '"1"'}
    )

    assert stale.status_code == 412
    assert ok.status_code == 200, ok.text
    assert ok.json()["title"] is None and ok.json()["active"] is False
    assert ok.headers["ETag"] == '"2"'
    assert client.patch(url, json={"name": None}, headers=headers).status_code == 422


def test_a_meeting_records_attendees_minutes_and_decisions(client: TestClient, db: Session) -> None:
    headers = office(db)
    first = _expert(client, headers)
    second = _expert(client, headers, name="王教授", kind="school", organisation="某大学")

    response = client.post(
        MEETINGS, json=_meeting_body([second["id"], first["id"], first["id"]]), headers=headers
    )

    assert response.status_code == 201, response.text
    meeting = response.json()
    assert response.headers["Location"] == f"/api/v1/meetings/{meeting['id']}"
    assert [a["name"] for a in meeting["attendees"]] == ["李工", "王教授"]
    assert [d["owner"] for d in meeting["decisions"]] == ["计算机与软件学院", "教务处"]
    assert meeting["decisions"][0]["due_date"] == "2022-06-30"
    assert meeting["open_decisions"] == 2
    attended = client.get(f"{EXPERTS}/{first['id']}", headers=headers).json()
    assert attended["meetings_attended"] == 1
    by_expert = client.get(MEETINGS, params={"expert_id": second["id"]}, headers=headers).json()
    assert by_expert["total"] == 1
    assert db.exec(select(AuditEvent).where(AuditEvent.entity == "meeting")).first() is not None


def test_unknown_attendees_are_refused_and_nothing_is_written(
    client: TestClient, db: Session
) -> None:
    response = client.post(MEETINGS, json=_meeting_body([999999]), headers=office(db))

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.attendee_ids"
    assert client.get(MEETINGS, headers=office(db)).json()["total"] == 0


def test_decisions_are_replaced_and_marked_done(client: TestClient, db: Session) -> None:
    headers = office(db)
    expert = _expert(client, headers)
    meeting = client.post(MEETINGS, json=_meeting_body([expert["id"]]), headers=headers).json()
    decisions = [
        {**d, "done": True} if d["owner"] == "教务处" else d for d in _meeting_body([])["decisions"]
    ]

    response = client.patch(
        f"{MEETINGS}/{meeting['id']}",
        json={"decisions": decisions, "attendee_ids": []},
        headers={**headers, "If-Match": f'"{meeting["version"]}"'},
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["open_decisions"] == 1 and body["attendees"] == []
    assert body["version"] == meeting["version"] + 1
    assert len(db.exec(select(MeetingDecision)).all()) == 2


def test_an_expert_who_attended_is_kept_and_a_meeting_is_deleted(
    client: TestClient, db: Session
) -> None:
    headers = office(db)
    expert = _expert(client, headers)
    meeting = client.post(MEETINGS, json=_meeting_body([expert["id"]]), headers=headers).json()

    refused = client.delete(f"{EXPERTS}/{expert['id']}", headers=headers)
    assert refused.status_code == 409
    assert refused.json()["code"] == "expert_attended_meetings"

    assert client.delete(f"{MEETINGS}/{meeting['id']}", headers=headers).status_code == 204
    assert db.exec(select(MeetingAttendee)).first() is None
    assert db.exec(select(MeetingDecision)).first() is None
    assert client.delete(f"{EXPERTS}/{expert['id']}", headers=headers).status_code == 204
    assert client.get(f"{EXPERTS}/{expert['id']}", headers=headers).status_code == 404


def test_a_stale_meeting_update_is_412_and_changes_nothing(client: TestClient, db: Session) -> None:
    headers = office(db)
    meeting = client.post(MEETINGS, json=_meeting_body([]), headers=headers).json()
    url = f"{MEETINGS}/{meeting['id']}"

    stale = client.patch(url, json={"topic": "改"}, headers={**headers, "If-Match": '"7"'})

    assert stale.status_code == 412
    assert client.get(url, headers=headers).json()["topic"] == meeting["topic"]
    assert (
        client.patch(url, json={"topic": "改"}, headers=headers_for(db, Role.auditor)).status_code
        == 403
    )
