"""The ledger: append-only lines with net totals, reversal by a negative line (once), the
options a student may still claim, and who reads them."""

from datetime import date
from typing import Any

from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.core.roles import Role
from app.credits.models import ConversionMode, ConversionRequest, CreditRecord, RequestStatus
from app.reference.models import Level, Major
from tests.credits.factories import issue_certificate, make_rule
from tests.reference.factories import (
    headers_for,
    make_certificate,
    make_college,
    make_course,
    make_major,
    make_student,
    office,
)


def _approved(client: TestClient, db: Session) -> dict[str, Any]:
    major = make_major(db)
    student = make_student(db, major)
    certificate = make_certificate(db)
    issued = issue_certificate(db, student, certificate)
    rules = [
        make_rule(db, certificate, [major], credits="4"),
        make_rule(db, certificate, [major], credits="2", mode=ConversionMode.exemption),
    ]
    headers = office(db)
    ids = []
    for rule in rules:
        request = client.post(
            "/api/v1/conversion-requests",
            json={"student_id": student.id, "issued_certificate_id": issued.id, "rule_id": rule.id},
            headers=headers,
        ).json()
        assert (
            client.post(
                f"/api/v1/conversion-requests/{request['id']}/approve", headers=headers
            ).status_code
            == 200
        )
        ids.append(request["id"])
    return {"student": student, "major": major, "rules": rules, "requests": ids, "issued": issued}


def test_the_ledger_totals_by_mode(client: TestClient, db: Session) -> None:
    setup = _approved(client, db)
    student = setup["student"]

    response = client.get(
        f"/api/v1/students/{student.id}/credits",
        headers=headers_for(db, Role.student, student_id=student.id),
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["student_no"] == student.student_no
    assert body["totals"] == {
        "credits": "6.0",
        "exemption_credits": "2.0",
        "substitution_credits": "4.0",
        "courses": 2,
    }
    assert [line["kind"] for line in body["items"]] == ["credit", "credit"]
    assert body["items"][0]["certificate_number"] == setup["issued"].number


def test_a_reversal_adds_a_negative_line_once_and_frees_the_course(
    client: TestClient, db: Session
) -> None:
    setup = _approved(client, db)
    student = setup["student"]
    headers = office(db)
    credit = db.exec(
        select(CreditRecord).where(CreditRecord.request_id == setup["requests"][0])
    ).one()

    reversed_ = client.post(
        f"/api/v1/credit-records/{credit.id}/reverse",
        json={"reason": "证书信息有误"},
        headers=headers,
    )
    again = client.post(
        f"/api/v1/credit-records/{credit.id}/reverse", json={"reason": "again"}, headers=headers
    )

    assert reversed_.status_code == 201, reversed_.text
    line = reversed_.json()
    assert line["kind"] == "reversal" and line["credits"] == "-4.0"
    assert line["reverses_id"] == credit.id and line["reason"] == "证书信息有误"
    assert again.status_code == 409 and again.json()["code"] == "already_reversed"
    ledger = client.get(f"/api/v1/students/{student.id}/credits", headers=headers).json()
    assert ledger["totals"]["credits"] == "2.0" and ledger["totals"]["courses"] == 1
    assert len(ledger["items"]) == 3
    assert ledger["items"][0]["reversed_by_id"] == line["id"]
    assert db.get(CreditRecord, credit.id) is not None
    request = db.get(ConversionRequest, setup["requests"][0])
    assert request is not None and request.status == RequestStatus.reversed
    options = client.get(
        f"/api/v1/students/{student.id}/conversion-options", headers=headers
    ).json()
    assert [o["rule_id"] for o in options["items"]] == [setup["rules"][0].id]


def test_a_reversal_line_is_not_reversed(client: TestClient, db: Session) -> None:
    setup = _approved(client, db)
    headers = office(db)
    credit = db.exec(
        select(CreditRecord).where(CreditRecord.request_id == setup["requests"][0])
    ).one()
    line = client.post(
        f"/api/v1/credit-records/{credit.id}/reverse", json={"reason": "x"}, headers=headers
    ).json()

    response = client.post(
        f"/api/v1/credit-records/{line['id']}/reverse", json={"reason": "y"}, headers=headers
    )

    assert response.status_code == 409 and response.json()["code"] == "invalid_state"


def test_only_the_office_reverses(client: TestClient, db: Session) -> None:
    setup = _approved(client, db)
    credit = db.exec(select(CreditRecord)).first()
    assert credit is not None
    me = headers_for(db, Role.student, student_id=setup["student"].id)

    response = client.post(
        f"/api/v1/credit-records/{credit.id}/reverse", json={"reason": "x"}, headers=me
    )

    assert response.status_code == 403


def test_options_leave_out_what_does_not_qualify(client: TestClient, db: Session) -> None:
    major = make_major(db)
    student = make_student(db, major)
    certificate = make_certificate(db)
    issue_certificate(db, student, certificate, level=Level.junior, issue_date=date(2022, 6, 1))
    fits = make_rule(db, certificate, [major], min_level=Level.junior)
    make_rule(db, certificate, [major], min_level=Level.intermediate)  # level too low
    make_rule(db, certificate, [make_major(db)], min_level=Level.junior)  # another major
    make_rule(db, certificate, [major], min_level=Level.junior, effective_from=date(2023, 1, 1))
    make_rule(db, make_certificate(db), [major], course=make_course(db))  # not held

    response = client.get(
        f"/api/v1/students/{student.id}/conversion-options",
        headers=headers_for(db, Role.student, student_id=student.id),
    )

    assert response.status_code == 200
    assert [o["rule_id"] for o in response.json()["items"]] == [fits.id]


def test_who_reads_a_students_credit_bank(client: TestClient, db: Session) -> None:
    setup = _approved(client, db)
    student = setup["student"]
    college_id = db.get(Major, student.major_id).college_id  # type: ignore[union-attr]
    url = f"/api/v1/students/{student.id}/credits"

    assert client.get(url, headers=headers_for(db, Role.auditor)).status_code == 200
    own_college = headers_for(db, Role.college_manager, college_id=college_id)
    assert client.get(url, headers=own_college).status_code == 200
    other_college = headers_for(db, Role.college_manager, college_id=make_college(db).id)
    assert client.get(url, headers=other_college).status_code == 404
    assert client.get(url, headers=headers_for(db, Role.student)).status_code == 404
    assert client.get(url, headers=headers_for(db, Role.teacher)).status_code == 403
    options = f"/api/v1/students/{student.id}/conversion-options"
    assert client.get(options, headers=headers_for(db, Role.student)).status_code == 404


def test_options_list_a_course_once_with_the_best_certificate_first(
    client: TestClient, db: Session
) -> None:
    major = make_major(db)
    student = make_student(db, major)
    course = make_course(db)
    web, other = make_certificate(db), make_certificate(db)
    junior = issue_certificate(db, student, web, level=Level.junior, issue_date=date(2022, 6, 1))
    middle = issue_certificate(db, student, web, issue_date=date(2022, 12, 1))
    held_other = issue_certificate(db, student, other, issue_date=date(2022, 3, 1))
    web_rule = make_rule(db, web, [major], course=course, min_level=Level.junior, credits="4")
    other_rule = make_rule(db, other, [major], course=course, credits="2")
    me = headers_for(db, Role.student, student_id=student.id)

    response = client.get(f"/api/v1/students/{student.id}/conversion-options", headers=me)

    assert response.status_code == 200, response.text
    (option,) = response.json()["items"]
    assert option["course_id"] == course.id
    assert (option["rule_id"], option["issued_certificate_id"]) == (web_rule.id, middle.id)
    assert option["level"] == "中级" and option["credits"] == "4.0"
    assert [(a["rule_id"], a["issued_certificate_id"]) for a in option["alternatives"]] == [
        (web_rule.id, junior.id),
        (other_rule.id, held_other.id),
    ]
    claimed = client.post(
        "/api/v1/conversion-requests",
        json={"issued_certificate_id": middle.id, "rule_id": web_rule.id},
        headers=me,
    )
    assert claimed.status_code == 201, claimed.text
    after = client.get(f"/api/v1/students/{student.id}/conversion-options", headers=me)
    assert after.json()["items"] == []
