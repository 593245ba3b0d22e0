"""Revoking an issued certificate keeps the ledger truthful: the credits converted from it are
reversed in the same transaction with the revocation's reason, its waiting requests are
rejected, and the office finds all of it through the credit-records list."""

from typing import Any

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.core.audit import AuditEvent
from app.core.roles import Role
from app.credits.models import ConversionRequest, CreditKind, CreditRecord, RequestStatus
from app.exams.models import IssuedCertificate
from app.reference.models import Major
from tests.credits.factories import issue_certificate, make_rule
from tests.reference.factories import (
    headers_for,
    make_certificate,
    make_college,
    make_major,
    make_student,
    office,
)

REQUESTS = "/api/v1/conversion-requests"
RECORDS = "/api/v1/credit-records"


def _holder_with_credits(client: TestClient, db: Session) -> dict[str, Any]:
    """A student with one certificate: two courses approved, one waiting for review."""
    major = make_major(db)
    student = make_student(db, major)
    certificate = make_certificate(db)
    issued = issue_certificate(db, student, certificate)
    rules = [make_rule(db, certificate, [major], credits=c) for c in ("4", "2", "3")]
    headers = office(db)
    ids = []
    for index, rule in enumerate(rules):
        created = client.post(
            REQUESTS,
            json={"student_id": student.id, "issued_certificate_id": issued.id, "rule_id": rule.id},
            headers=headers,
        )
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
        if index < 2:
            approved = client.post(f"{REQUESTS}/{ids[-1]}/approve", headers=headers)
            assert approved.status_code == 200, approved.text
    return {"student": student, "issued": issued, "rules": rules, "requests": ids}


def _revoke(client: TestClient, headers: dict[str, str], issued_id: int) -> Any:
    return client.post(
        f"/api/v1/issued-certificates/{issued_id}/revoke",
        json={"reason": "考试作弊，证书作废"},
        headers=headers,
    )


def test_revoking_a_certificate_reverses_its_credits_and_rejects_its_waiting_requests(
    client: TestClient, db: Session
) -> None:
    setup = _holder_with_credits(client, db)
    student, issued = setup["student"], setup["issued"]
    headers = office(db)

    response = _revoke(client, headers, issued.id)

    assert response.status_code == 200, response.text
    ledger = client.get(f"/api/v1/students/{student.id}/credits", headers=headers).json()
    assert ledger["totals"] == {
        "credits": "0.0",
        "exemption_credits": "0.0",
        "substitution_credits": "0.0",
        "courses": 0,
    }
    reversals = [line for line in ledger["items"] if line["kind"] == "reversal"]
    assert sorted(line["credits"] for line in reversals) == ["-2.0", "-4.0"]
    for line in reversals:
        assert issued.number in line["reason"] and "考试作弊" in line["reason"]
        assert line["certificate_status"] == "revoked"
    statuses = {
        r.id: (r.status, r.live)
        for r in db.exec(select(ConversionRequest).execution_options(populate_existing=True))
    }
    approved, second, waiting = setup["requests"]
    assert statuses[approved] == (RequestStatus.reversed, None)
    assert statuses[second] == (RequestStatus.reversed, None)
    assert statuses[waiting] == (RequestStatus.rejected, None)
    waiting_body = client.get(f"{REQUESTS}/{waiting}", headers=headers).json()
    assert "考试作弊" in waiting_body["reason"]
    actions = {
        (e.entity, e.action)
        for e in db.exec(select(AuditEvent).where(AuditEvent.action.in_(["reverse", "reject"])))  # type: ignore[attr-defined]
    }
    assert actions == {
        ("credit_record", "reverse"),
        ("conversion_request", "reverse"),
        ("conversion_request", "reject"),
    }
    options = client.get(
        f"/api/v1/students/{student.id}/conversion-options", headers=headers
    ).json()
    assert options["items"] == []


def test_a_credit_reversed_by_hand_is_not_reversed_again_by_the_revocation(
    client: TestClient, db: Session
) -> None:
    setup = _holder_with_credits(client, db)
    headers = office(db)
    first = db.exec(
        select(CreditRecord).where(CreditRecord.request_id == setup["requests"][0])
    ).one()
    by_hand = client.post(
        f"{RECORDS}/{first.id}/reverse", json={"reason": "录入错误"}, headers=headers
    )
    assert by_hand.status_code == 201, by_hand.text

    assert _revoke(client, headers, setup["issued"].id).status_code == 200

    lines = db.exec(
        select(CreditRecord).where(CreditRecord.student_id == setup["student"].id)
    ).all()
    assert sorted(str(line.credits) for line in lines) == ["-2.0", "-4.0", "2.0", "4.0"]
    assert {line.reason for line in lines if line.reverses_id == first.id} == {"录入错误"}


def test_the_issuing_organisation_revoking_reverses_the_credits_too(
    client: TestClient, db: Session
) -> None:
    setup = _holder_with_credits(client, db)
    issued = db.get(IssuedCertificate, setup["issued"].id)
    assert issued is not None
    from app.exams.models import ExamSession

    exam = db.get(ExamSession, issued.session_id)
    assert exam is not None
    org = headers_for(db, Role.evaluation_org, evaluation_org_id=exam.evaluation_org_id)

    response = _revoke(client, org, issued.id)

    assert response.status_code == 200, response.text
    open_credits = client.get(
        RECORDS,
        params={"certificate_status": "revoked", "reversed": "false"},
        headers=office(db),
    ).json()
    assert open_credits["total"] == 0


def test_a_revocation_refused_changes_no_credit(client: TestClient, db: Session) -> None:
    setup = _holder_with_credits(client, db)
    headers = office(db)
    assert _revoke(client, headers, setup["issued"].id).status_code == 200
    before = len(db.exec(select(CreditRecord)).all())

    again = _revoke(client, headers, setup["issued"].id)

    assert again.status_code == 409 and again.json()["code"] == "invalid_state"
    assert len(db.exec(select(CreditRecord)).all()) == before


# --- the list across students ------------------------------------------------------------


def test_the_office_finds_every_line_of_one_certificate(client: TestClient, db: Session) -> None:
    setup = _holder_with_credits(client, db)
    _holder_with_credits(client, db)
    headers = office(db)

    everything = client.get(RECORDS, headers=headers)
    mine = client.get(
        RECORDS, params={"issued_certificate_id": setup["issued"].id}, headers=headers
    )

    assert everything.status_code == 200, everything.text
    assert everything.json()["total"] == 4
    body = mine.json()
    assert body["total"] == 2
    line = body["items"][0]
    assert line["student_no"] == setup["student"].student_no
    assert line["certificate_number"] == setup["issued"].number
    assert line["certificate_status"] == "valid" and line["reversed_by_id"] is None
    one = client.get(f"{RECORDS}/{line['id']}", headers=headers)
    assert one.status_code == 200 and one.json() == line


def test_the_list_filters_reversed_and_kind(client: TestClient, db: Session) -> None:
    setup = _holder_with_credits(client, db)
    headers = office(db)
    first = db.exec(
        select(CreditRecord).where(CreditRecord.request_id == setup["requests"][0])
    ).one()
    client.post(f"{RECORDS}/{first.id}/reverse", json={"reason": "x"}, headers=headers)

    def ids(**params: Any) -> list[int]:
        response = client.get(RECORDS, params=params, headers=headers)
        assert response.status_code == 200, response.text
        return [line["id"] for line in response.json()["items"]]

    assert ids(reversed="true") == [first.id]
    assert len(ids(reversed="false")) == 1 and first.id not in ids(reversed="false")
    (reversal,) = ids(kind=CreditKind.reversal.value)
    assert reversal not in ids(kind="credit")
    assert ids(recorded_from="2100-01-01") == []


def test_who_reads_credit_records(client: TestClient, db: Session) -> None:
    setup = _holder_with_credits(client, db)
    _holder_with_credits(client, db)
    student = setup["student"]
    college_id = db.get(Major, student.major_id).college_id  # type: ignore[union-attr]

    def total(headers: dict[str, str]) -> int:
        response = client.get(RECORDS, headers=headers)
        assert response.status_code == 200, response.text
        return int(response.json()["total"])

    assert total(headers_for(db, Role.auditor)) == 4
    assert total(headers_for(db, Role.student, student_id=student.id)) == 2
    assert total(headers_for(db, Role.college_manager, college_id=college_id)) == 2
    assert total(headers_for(db, Role.college_manager, college_id=make_college(db).id)) == 0
    assert client.get(RECORDS, headers=headers_for(db, Role.teacher)).status_code == 403
    line = db.exec(select(CreditRecord)).first()
    assert line is not None
    stranger = headers_for(db, Role.student)
    assert client.get(f"{RECORDS}/{line.id}", headers=stranger).status_code == 404


@pytest.mark.usefixtures("chinese")
def test_credit_records_export_csv_and_xlsx(client: TestClient, db: Session) -> None:
    _holder_with_credits(client, db)
    headers = office(db)

    csv = client.get(RECORDS, params={"format": "csv"}, headers=headers)
    xlsx = client.get(RECORDS, params={"format": "xlsx"}, headers=headers)

    assert csv.status_code == 200 and xlsx.status_code == 200
    lines = csv.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("记录ID,记账日期,类型,学号,姓名")
    assert len(lines) == 3
