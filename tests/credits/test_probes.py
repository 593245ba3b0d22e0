"""A clumsy or hostile client: odd numbers, blank reasons, repeated and duplicated actions,
the wrong role. Every answer is a 4xx naming what was wrong, and nothing is written."""

from typing import Any

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.core.roles import Role
from app.credits.models import ConversionRequest, ConversionRule, CreditRecord, RequestStatus
from tests.credits.factories import issue_certificate, make_rule
from tests.imports.helpers import count
from tests.reference.factories import (
    headers_for,
    make_certificate,
    make_course,
    make_major,
    make_student,
    office,
)

REQUESTS = "/api/v1/conversion-requests"


def _filed(client: TestClient, db: Session, rules: int = 1) -> dict[str, Any]:
    major = make_major(db)
    student = make_student(db, major)
    certificate = make_certificate(db)
    issued = issue_certificate(db, student, certificate)
    me = headers_for(db, Role.student, student_id=student.id)
    ids = []
    for _ in range(rules):
        rule = make_rule(db, certificate, [major])
        response = client.post(
            REQUESTS, json={"issued_certificate_id": issued.id, "rule_id": rule.id}, headers=me
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return {"student": student, "issued": issued, "me": me, "ids": ids, "major": major}


@pytest.mark.parametrize("credits", ["1e2", "0.05", "NaN", "Infinity", True, "", "4,5", -0.0])
def test_odd_credits_are_refused_naming_the_field(
    client: TestClient, db: Session, credits: Any
) -> None:
    body = {
        "certificate_id": make_certificate(db).id,
        "min_level": "中级",
        "course_id": make_course(db).id,
        "credits": credits,
        "mode": "替换",
        "major_ids": [make_major(db).id],
    }

    response = client.post("/api/v1/credit-rules", json=body, headers=office(db))

    assert response.status_code == 422, (credits, response.text)
    assert any("credits" in e["field"] for e in response.json()["errors"])
    assert count(db, ConversionRule) == 0


def test_bulk_approve_with_a_repeated_id_approves_once(client: TestClient, db: Session) -> None:
    setup = _filed(client, db)
    (request_id,) = setup["ids"]

    response = client.post(
        f"{REQUESTS}/bulk-approve", json={"ids": [request_id, request_id]}, headers=office(db)
    )

    assert response.status_code == 200, response.text
    first, second = response.json()["results"]
    assert first["approved"] is True
    assert second["approved"] is False and second["code"] == "invalid_state"
    assert second["status"] == "approved"
    assert count(db, CreditRecord) == 1


def test_bulk_approve_of_nothing_is_a_422(client: TestClient, db: Session) -> None:
    response = client.post(f"{REQUESTS}/bulk-approve", json={"ids": []}, headers=office(db))

    assert response.status_code == 422


def test_a_blank_reason_is_refused_and_nothing_changes(client: TestClient, db: Session) -> None:
    setup = _filed(client, db)
    (request_id,) = setup["ids"]
    headers = office(db)

    rejected = client.post(
        f"{REQUESTS}/{request_id}/reject", json={"reason": "   "}, headers=headers
    )
    approved = client.post(f"{REQUESTS}/{request_id}/approve", headers=headers)
    credit = db.exec(select(CreditRecord)).one()
    reversed_ = client.post(
        f"/api/v1/credit-records/{credit.id}/reverse", json={"reason": " "}, headers=headers
    )

    assert rejected.status_code == 422 and approved.status_code == 200
    assert reversed_.status_code == 422
    assert count(db, CreditRecord) == 1


def test_rejecting_twice_keeps_the_first_reason(client: TestClient, db: Session) -> None:
    setup = _filed(client, db)
    (request_id,) = setup["ids"]
    headers = office(db)
    client.post(f"{REQUESTS}/{request_id}/reject", json={"reason": "材料不全"}, headers=headers)

    again = client.post(f"{REQUESTS}/{request_id}/reject", json={"reason": "其他"}, headers=headers)

    assert again.status_code == 409 and again.json()["current_state"] == "rejected"
    assert client.get(f"{REQUESTS}/{request_id}", headers=headers).json()["reason"] == "材料不全"


def test_the_office_does_not_withdraw_for_the_student(client: TestClient, db: Session) -> None:
    setup = _filed(client, db)
    (request_id,) = setup["ids"]

    response = client.post(f"{REQUESTS}/{request_id}/withdraw", headers=office(db))

    assert response.status_code == 403
    stored = db.get(ConversionRequest, request_id)
    assert stored is not None and stored.status == RequestStatus.submitted


def test_an_approved_course_is_not_asked_for_again(client: TestClient, db: Session) -> None:
    setup = _filed(client, db)
    (request_id,) = setup["ids"]
    assert client.post(f"{REQUESTS}/{request_id}/approve", headers=office(db)).status_code == 200
    request = db.get(ConversionRequest, request_id)
    assert request is not None

    again = client.post(
        REQUESTS,
        json={"issued_certificate_id": setup["issued"].id, "rule_id": request.rule_id},
        headers=setup["me"],
    )

    assert again.status_code == 409
    assert again.json()["code"] == "course_already_claimed"
    assert again.json()["existing_id"] == request_id
    assert "Approved" in again.json()["detail"]


def test_the_certificate_of_an_unknown_student_is_a_422(client: TestClient, db: Session) -> None:
    setup = _filed(client, db)
    request = db.get(ConversionRequest, setup["ids"][0])
    assert request is not None

    response = client.post(
        REQUESTS,
        json={
            "student_id": 2_000_000_000,
            "issued_certificate_id": setup["issued"].id,
            "rule_id": request.rule_id,
        },
        headers=office(db),
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.student_id"
