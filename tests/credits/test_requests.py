"""Conversion requests: every refusal names the rule it broke and writes nothing; the review
actions and who may take them."""

from datetime import date
from typing import Any

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.core.roles import Role
from app.credits.models import ConversionRequest, CreditRecord, RequestStatus
from app.exams.models import CertificateStatus
from app.reference.models import Level
from tests.credits.factories import issue_certificate, make_rule
from tests.factories import assert_answered_as_missing
from tests.imports.helpers import count
from tests.reference.factories import (
    headers_for,
    make_certificate,
    make_college,
    make_course,
    make_major,
    make_student,
    manager_of,
    office,
)

URL = "/api/v1/conversion-requests"


def _ask(client: TestClient, headers: dict[str, str], **body: Any) -> Any:
    return client.post(URL, json=body, headers=headers)


def _setup(db: Session, **rule: Any) -> tuple[Any, Any, Any, dict[str, str]]:
    major = make_major(db)
    student = make_student(db, major, cohort=2021)
    certificate = make_certificate(db)
    issued = issue_certificate(db, student, certificate)
    made = make_rule(db, certificate, [major], **rule)
    return student, issued, made, headers_for(db, Role.student, student_id=student.id)


def _refused(response: Any, code: str, rule_id: int) -> dict[str, Any]:
    assert response.status_code == 409, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    assert body["rule_id"] == rule_id
    assert response.headers["content-type"].startswith("application/problem+json")
    return body


def test_a_student_asks_for_themself_without_naming_themself(
    client: TestClient, db: Session
) -> None:
    student, issued, rule, me = _setup(db)

    response = _ask(client, me, issued_certificate_id=issued.id, rule_id=rule.id, note="请审核")

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["student_id"] == student.id and body["note"] == "请审核"
    assert body["allowed_actions"] == ["approve", "reject", "withdraw"]
    assert body["credits"] == "4.0" and body["mode"] == "替换"


def test_the_office_asks_for_a_student(client: TestClient, db: Session) -> None:
    student, issued, rule, _me = _setup(db)

    response = _ask(
        client, office(db), student_id=student.id, issued_certificate_id=issued.id, rule_id=rule.id
    )

    assert response.status_code == 201, response.text


def test_a_certificate_of_another_student_is_refused(client: TestClient, db: Session) -> None:
    student, _issued, rule, _me = _setup(db)
    someone = make_student(db, make_major(db))
    theirs = issue_certificate(db, someone)

    response = _ask(
        client, office(db), student_id=student.id, issued_certificate_id=theirs.id, rule_id=rule.id
    )

    body = _refused(response, "certificate_not_own", rule.id)
    assert theirs.number in body["detail"]
    assert count(db, ConversionRequest) == 0


def test_to_a_student_another_students_certificate_is_answered_as_a_missing_one(
    client: TestClient, db: Session
) -> None:
    _student, _issued, rule, me = _setup(db)
    someone = make_student(db, make_major(db))
    theirs = issue_certificate(db, someone)

    response = _ask(client, me, issued_certificate_id=theirs.id, rule_id=rule.id)
    missing = _ask(client, me, issued_certificate_id=999999, rule_id=rule.id)

    # Stepping through ids tells nothing: no certificate number, no student number.
    assert response.status_code == 422
    assert_answered_as_missing(response, missing, theirs.id, 999999)
    assert theirs.number not in response.text and someone.student_no not in response.text
    assert count(db, ConversionRequest) == 0


def test_a_revoked_certificate_is_refused(client: TestClient, db: Session) -> None:
    major = make_major(db)
    student = make_student(db, major)
    certificate = make_certificate(db)
    issued = issue_certificate(db, student, certificate, status=CertificateStatus.revoked)
    rule = make_rule(db, certificate, [major])

    response = _ask(
        client, office(db), student_id=student.id, issued_certificate_id=issued.id, rule_id=rule.id
    )

    _refused(response, "certificate_revoked", rule.id)


def test_a_rule_for_another_certificate_is_refused(client: TestClient, db: Session) -> None:
    _student, issued, _rule, me = _setup(db)
    other_rule = make_rule(db, make_certificate(db), [make_major(db)])

    response = _ask(client, me, issued_certificate_id=issued.id, rule_id=other_rule.id)

    body = _refused(response, "certificate_mismatch", other_rule.id)
    assert "is for the certificate" in body["detail"]


def test_a_certificate_below_the_rules_level_is_refused(client: TestClient, db: Session) -> None:
    major = make_major(db)
    student = make_student(db, major)
    certificate = make_certificate(db)
    issued = issue_certificate(db, student, certificate, level=Level.junior)
    rule = make_rule(db, certificate, [major], min_level=Level.intermediate)
    me = headers_for(db, Role.student, student_id=student.id)

    response = _ask(client, me, issued_certificate_id=issued.id, rule_id=rule.id)

    body = _refused(response, "level_below_rule", rule.id)
    assert body["min_level"] == "中级" and body["level"] == "初级"


def test_a_higher_level_than_the_rules_is_accepted(client: TestClient, db: Session) -> None:
    major = make_major(db)
    student = make_student(db, major)
    certificate = make_certificate(db)
    issued = issue_certificate(db, student, certificate, level=Level.intermediate)
    rule = make_rule(db, certificate, [major], min_level=Level.junior)
    me = headers_for(db, Role.student, student_id=student.id)

    assert _ask(client, me, issued_certificate_id=issued.id, rule_id=rule.id).status_code == 201


def test_a_rule_that_does_not_cover_the_major_is_refused(client: TestClient, db: Session) -> None:
    major = make_major(db)
    student = make_student(db, major)
    certificate = make_certificate(db)
    issued = issue_certificate(db, student, certificate)
    covered = make_major(db, name="软件技术X")
    rule = make_rule(db, certificate, [covered])
    me = headers_for(db, Role.student, student_id=student.id)

    response = _ask(client, me, issued_certificate_id=issued.id, rule_id=rule.id)

    body = _refused(response, "major_not_covered", rule.id)
    assert "软件技术X" in body["detail"] and body["major_ids"] == [covered.id]


def test_a_rule_not_in_force_on_the_issue_date_is_refused(client: TestClient, db: Session) -> None:
    major = make_major(db)
    student = make_student(db, major)
    certificate = make_certificate(db)
    issued = issue_certificate(db, student, certificate, issue_date=date(2022, 12, 20))
    late = make_rule(db, certificate, [major], effective_from=date(2023, 9, 1))
    me = headers_for(db, Role.student, student_id=student.id)

    response = _ask(client, me, issued_certificate_id=issued.id, rule_id=late.id)

    body = _refused(response, "rule_not_in_force", late.id)
    assert body["effective_from"] == "2023-09-01" and body["issue_date"] == "2022-12-20"


def test_a_second_live_request_for_the_same_course_is_refused(
    client: TestClient, db: Session
) -> None:
    _student, issued, rule, me = _setup(db)
    first = _ask(client, me, issued_certificate_id=issued.id, rule_id=rule.id)
    assert first.status_code == 201

    again = _ask(client, me, issued_certificate_id=issued.id, rule_id=rule.id)

    body = _refused(again, "course_already_claimed", rule.id)
    assert body["existing_id"] == first.json()["id"]
    assert count(db, ConversionRequest) == 1


def test_after_a_rejection_the_course_may_be_asked_for_again(
    client: TestClient, db: Session
) -> None:
    _student, issued, rule, me = _setup(db)
    first = _ask(client, me, issued_certificate_id=issued.id, rule_id=rule.id).json()
    rejected = client.post(
        f"{URL}/{first['id']}/reject", json={"reason": "材料不全"}, headers=office(db)
    )
    assert rejected.status_code == 200

    assert _ask(client, me, issued_certificate_id=issued.id, rule_id=rule.id).status_code == 201


def test_unknown_certificate_or_rule_is_a_422_naming_the_field(
    client: TestClient, db: Session
) -> None:
    _student, _issued, _rule, me = _setup(db)

    response = _ask(client, me, issued_certificate_id=999999, rule_id=999999)

    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"body.issued_certificate_id", "body.rule_id"}


def test_a_student_cannot_ask_for_someone_else(client: TestClient, db: Session) -> None:
    _student, issued, rule, me = _setup(db)
    other = make_student(db)

    response = _ask(
        client, me, student_id=other.id, issued_certificate_id=issued.id, rule_id=rule.id
    )

    assert response.status_code == 403
    assert count(db, ConversionRequest) == 0


def test_college_managers_and_auditors_do_not_file_requests(
    client: TestClient, db: Session
) -> None:
    student, issued, rule, _me = _setup(db)
    for headers in (headers_for(db, Role.auditor), manager_of(db, make_college(db))):
        response = _ask(
            client, headers, student_id=student.id, issued_certificate_id=issued.id, rule_id=rule.id
        )
        assert response.status_code == 403


# --- review ------------------------------------------------------------------------------


def _submitted(client: TestClient, db: Session) -> tuple[Any, dict[str, Any], dict[str, str]]:
    student, issued, rule, me = _setup(db)
    request = _ask(client, me, issued_certificate_id=issued.id, rule_id=rule.id).json()
    return student, request, me


def test_approval_writes_the_credit_in_the_same_step(client: TestClient, db: Session) -> None:
    student, request, _me = _submitted(client, db)

    response = client.post(f"{URL}/{request['id']}/approve", headers=office(db))

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "approved" and body["decided_on"] is not None
    assert body["allowed_actions"] == []
    (credit,) = db.exec(select(CreditRecord).where(CreditRecord.student_id == student.id)).all()
    assert credit.request_id == request["id"] and str(credit.credits) == "4.0"


def test_approving_twice_is_an_invalid_state_and_writes_one_credit(
    client: TestClient, db: Session
) -> None:
    _student, request, _me = _submitted(client, db)
    headers = office(db)
    client.post(f"{URL}/{request['id']}/approve", headers=headers)

    again = client.post(f"{URL}/{request['id']}/approve", headers=headers)

    assert again.status_code == 409
    assert again.json()["code"] == "invalid_state"
    assert again.json()["current_state"] == "approved"
    assert count(db, CreditRecord) == 1


def test_revoking_the_certificate_rejects_its_waiting_request_which_then_cannot_be_approved(
    client: TestClient, db: Session
) -> None:
    _student, request, _me = _submitted(client, db)
    headers = office(db)
    revoked = client.post(
        f"/api/v1/issued-certificates/{request['issued_certificate_id']}/revoke",
        json={"reason": "成绩作废"},
        headers=headers,
    )
    assert revoked.status_code == 200, revoked.text

    response = client.post(f"{URL}/{request['id']}/approve", headers=headers)

    assert response.status_code == 409, response.text
    assert response.json()["code"] == "invalid_state"
    assert response.json()["current_state"] == "rejected"
    stored = db.get(ConversionRequest, request["id"])
    assert stored is not None
    db.refresh(stored)
    assert stored.status == RequestStatus.rejected and stored.live is None
    assert stored.reason is not None and "成绩作废" in stored.reason
    assert request["certificate_number"] in stored.reason
    assert count(db, CreditRecord) == 0


def test_reject_needs_a_reason(client: TestClient, db: Session) -> None:
    _student, request, _me = _submitted(client, db)

    response = client.post(f"{URL}/{request['id']}/reject", json={}, headers=office(db))

    assert response.status_code == 422
    assert db.get(ConversionRequest, request["id"]).status == RequestStatus.submitted  # type: ignore[union-attr]


def test_only_the_office_approves_or_rejects(client: TestClient, db: Session) -> None:
    _student, request, me = _submitted(client, db)

    assert client.post(f"{URL}/{request['id']}/approve", headers=me).status_code == 403
    rejected = client.post(f"{URL}/{request['id']}/reject", json={"reason": "x"}, headers=me)
    assert rejected.status_code == 403
    auditor = headers_for(db, Role.auditor)
    assert client.post(f"{URL}/{request['id']}/approve", headers=auditor).status_code == 403


def test_the_student_withdraws_while_submitted_only(client: TestClient, db: Session) -> None:
    _student, request, me = _submitted(client, db)

    withdrawn = client.post(f"{URL}/{request['id']}/withdraw", headers=me)
    again = client.post(f"{URL}/{request['id']}/withdraw", headers=me)

    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
    assert again.status_code == 409 and again.json()["allowed_actions"] == []
    assert client.post(f"{URL}/{request['id']}/approve", headers=office(db)).status_code == 409


def test_another_student_does_not_see_or_withdraw_the_request(
    client: TestClient, db: Session
) -> None:
    _student, request, _me = _submitted(client, db)
    stranger = headers_for(db, Role.student)

    assert client.get(f"{URL}/{request['id']}", headers=stranger).status_code == 404
    assert client.post(f"{URL}/{request['id']}/withdraw", headers=stranger).status_code == 404


def test_bulk_approve_answers_per_id(client: TestClient, db: Session) -> None:
    _s1, first, _m1 = _submitted(client, db)
    _s2, second, _m2 = _submitted(client, db)
    headers = office(db)
    client.post(f"{URL}/{second['id']}/reject", json={"reason": "不符合"}, headers=headers)

    response = client.post(
        f"{URL}/bulk-approve", json={"ids": [first["id"], second["id"], 999999]}, headers=headers
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["approved"] == 1 and body["refused"] == 2
    outcomes = {r["id"]: r for r in body["results"]}
    assert outcomes[first["id"]]["approved"] is True
    assert outcomes[second["id"]]["code"] == "invalid_state"
    assert outcomes[second["id"]]["status"] == "rejected"
    assert outcomes[999999]["code"] == "not_found"
    assert count(db, CreditRecord) == 1


def test_lists_are_scoped(client: TestClient, db: Session) -> None:
    student, request, me = _submitted(client, db)
    _other, _theirs, _them = _submitted(client, db)
    from app.reference.models import Major

    college_id = db.get(Major, student.major_id).college_id  # type: ignore[union-attr]

    mine = client.get(URL, headers=me).json()
    everyone = client.get(URL, headers=headers_for(db, Role.auditor)).json()
    college = client.get(URL, headers=headers_for(db, Role.college_manager, college_id=college_id))
    teacher = client.get(URL, headers=headers_for(db, Role.teacher))

    assert [r["id"] for r in mine["items"]] == [request["id"]]
    assert everyone["total"] == 2
    assert [r["id"] for r in college.json()["items"]] == [request["id"]]
    assert teacher.status_code == 403


@pytest.mark.usefixtures("chinese")
def test_the_list_exports_as_csv(client: TestClient, db: Session) -> None:
    _submitted(client, db)

    response = client.get(URL, params={"format": "csv"}, headers=office(db))

    assert response.status_code == 200
    text = response.content.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("申请ID,学号,姓名")
    assert len(text.splitlines()) == 2


def test_a_course_may_be_claimed_by_another_certificates_rule_only_once(
    client: TestClient, db: Session
) -> None:
    major = make_major(db)
    student = make_student(db, major)
    course = make_course(db)
    first_cert, second_cert = make_certificate(db), make_certificate(db)
    first = issue_certificate(db, student, first_cert)
    second = issue_certificate(db, student, second_cert)
    rule_a = make_rule(db, first_cert, [major], course=course)
    rule_b = make_rule(db, second_cert, [major], course=course)
    me = headers_for(db, Role.student, student_id=student.id)
    assert _ask(client, me, issued_certificate_id=first.id, rule_id=rule_a.id).status_code == 201

    response = _ask(client, me, issued_certificate_id=second.id, rule_id=rule_b.id)

    _refused(response, "course_already_claimed", rule_b.id)
