"""Conversion rules: created and changed by the academic office, read by everyone, filtered by
certificate, course, major and date; a rule a request used is versioned, not edited."""

from datetime import date
from typing import Any

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.core.audit import AuditEvent
from app.core.roles import Role
from app.credits.models import ConversionRule
from app.reference.models import College, Level, Major
from tests.credits.factories import issue_certificate, make_rule
from tests.imports.helpers import count
from tests.reference.factories import (
    headers_for,
    make_certificate,
    make_course,
    make_major,
    make_student,
    manager_of,
    office,
)

URL = "/api/v1/credit-rules"


def _body(db: Session, **extra: Any) -> dict[str, Any]:
    return {
        "certificate_id": make_certificate(db).id,
        "min_level": "中级",
        "course_id": make_course(db).id,
        "credits": "4",
        "mode": "替换",
        "major_ids": [make_major(db).id],
        **extra,
    }


def test_the_office_creates_a_rule(client: TestClient, db: Session) -> None:
    body = _body(db, effective_from="2022-09-01")

    response = client.post(URL, json=body, headers=office(db))

    assert response.status_code == 201, response.text
    rule = response.json()
    assert rule["credits"] == "4.0" and rule["mode"] == "替换" and rule["min_level"] == "中级"
    assert [m["id"] for m in rule["majors"]] == body["major_ids"]
    assert rule["used"] is False and rule["superseded_by_id"] is None
    assert response.headers["Location"] == f"{URL}/{rule['id']}"
    assert db.exec(select(AuditEvent).where(AuditEvent.entity == "conversion_rule")).first()


def test_credits_must_be_above_zero(client: TestClient, db: Session) -> None:
    for credits in ("0", -1, "abc", 100):
        response = client.post(URL, json=_body(db, credits=credits), headers=office(db))
        assert response.status_code == 422, credits
    assert count(db, ConversionRule) == 0


def test_a_period_ending_before_it_starts_is_refused(client: TestClient, db: Session) -> None:
    body = _body(db, effective_from="2023-01-01", effective_to="2022-01-01")

    assert client.post(URL, json=body, headers=office(db)).status_code == 422


def test_unknown_references_are_named(client: TestClient, db: Session) -> None:
    body = _body(db, course_id=999999, major_ids=[999998])

    response = client.post(URL, json=body, headers=office(db))

    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"body.course_id", "body.major_ids"}


def test_a_level_the_certificate_does_not_offer_is_refused(client: TestClient, db: Session) -> None:
    response = client.post(URL, json=_body(db, min_level="高级"), headers=office(db))

    assert response.status_code == 422
    assert "not at Senior" in response.json()["detail"]


def test_a_second_rule_for_the_same_certificate_and_course_in_an_overlapping_period_is_refused(
    client: TestClient, db: Session
) -> None:
    headers = office(db)
    body = _body(db, effective_to="2023-08-31")
    first = client.post(URL, json=body, headers=headers).json()

    overlap = client.post(URL, json={**body, "effective_from": "2023-01-01"}, headers=headers)
    after = client.post(
        URL, json={**body, "effective_from": "2023-09-01", "effective_to": None}, headers=headers
    )

    assert overlap.status_code == 409
    assert overlap.json()["code"] == "duplicate" and overlap.json()["existing_id"] == first["id"]
    assert after.status_code == 201


def test_only_the_office_writes_rules(client: TestClient, db: Session) -> None:
    body = _body(db)
    for role in (Role.student, Role.auditor, Role.teacher, Role.evaluation_org):
        assert client.post(URL, json=body, headers=headers_for(db, role)).status_code == 403
    major = db.get(Major, body["major_ids"][0])
    assert major is not None
    college = db.get(College, major.college_id)
    assert college is not None
    assert client.post(URL, json=body, headers=manager_of(db, college)).status_code == 403


def test_everyone_reads_rules_and_filters_them(client: TestClient, db: Session) -> None:
    certificate = make_certificate(db)
    major, other_major = make_major(db), make_major(db)
    course = make_course(db)
    early = make_rule(
        db, certificate, [major], course=course, effective_to=date(2022, 8, 31), credits="2"
    )
    late = make_rule(db, certificate, [major], course=course, effective_from=date(2022, 9, 1))
    elsewhere = make_rule(db, make_certificate(db), [other_major])
    student = headers_for(db, Role.student)

    def ids(**params: Any) -> list[int]:
        response = client.get(URL, params=params, headers=student)
        assert response.status_code == 200, response.text
        return [r["id"] for r in response.json()["items"]]

    assert sorted(ids()) == sorted([early.id, late.id, elsewhere.id])
    assert sorted(ids(certificate_id=certificate.id)) == sorted([early.id, late.id])
    assert ids(major_id=other_major.id) == [elsewhere.id]
    assert sorted(ids(course_id=course.id, on="2022-06-01")) == [early.id]
    assert ids(course_id=course.id, on="2022-09-01") == [late.id]
    assert ids(course_id=course.id, on="2022-08-31") == [early.id]


@pytest.mark.usefixtures("chinese")
def test_rules_export_with_the_upload_headers(client: TestClient, db: Session) -> None:
    make_rule(db, make_certificate(db), [make_major(db, name="软件技术Y")])

    response = client.get(URL, params={"format": "csv"}, headers=office(db))

    lines = response.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("规则ID,证书名称,最低级别,课程代码,课程名称,学分,转换方式,适用专业")
    assert "软件技术Y" in lines[1]


def test_an_unused_rule_changes_in_place(client: TestClient, db: Session) -> None:
    rule = make_rule(db, make_certificate(db), [make_major(db)])
    headers = office(db)
    etag = client.get(f"{URL}/{rule.id}", headers=headers).headers["ETag"]

    response = client.patch(
        f"{URL}/{rule.id}", json={"credits": "3.5"}, headers={**headers, "If-Match": etag}
    )

    assert response.status_code == 200, response.text
    assert response.json()["id"] == rule.id and response.json()["credits"] == "3.5"
    assert count(db, ConversionRule) == 1


def test_a_stale_if_match_is_412(client: TestClient, db: Session) -> None:
    rule = make_rule(db, make_certificate(db), [make_major(db)])

    response = client.patch(
        f"{URL}/{rule.id}", json={"credits": "3"}, headers={**office(db), "If-Match": '"9"'}
    )

    assert response.status_code == 412


def _used_rule(client: TestClient, db: Session) -> ConversionRule:
    major = make_major(db)
    student = make_student(db, major)
    certificate = make_certificate(db)
    issued = issue_certificate(db, student, certificate)
    rule = make_rule(db, certificate, [major], effective_from=date(2022, 1, 1))
    response = client.post(
        "/api/v1/conversion-requests",
        json={"student_id": student.id, "issued_certificate_id": issued.id, "rule_id": rule.id},
        headers=office(db),
    )
    assert response.status_code == 201, response.text
    return rule


def test_changing_a_used_rule_closes_it_and_opens_a_new_version(
    client: TestClient, db: Session
) -> None:
    rule = _used_rule(client, db)
    headers = office(db)

    response = client.patch(
        f"{URL}/{rule.id}",
        json={"credits": "2", "mode": "免修", "effective_from": "2023-09-01"},
        headers=headers,
    )

    assert response.status_code == 200, response.text
    new = response.json()
    assert new["id"] != rule.id and new["replaces_id"] == rule.id
    assert new["credits"] == "2.0" and new["mode"] == "免修"
    assert new["effective_from"] == "2023-09-01" and new["effective_to"] is None
    assert response.headers["Location"] == f"{URL}/{new['id']}"
    old = client.get(f"{URL}/{rule.id}", headers=headers).json()
    assert old["credits"] == "4.0" and old["effective_to"] == "2023-08-31"
    assert old["superseded_by_id"] == new["id"] and old["used"] is True
    assert new["majors"] == old["majors"]


def test_a_replaced_rule_is_not_changed_again(client: TestClient, db: Session) -> None:
    rule = _used_rule(client, db)
    headers = office(db)
    new = client.patch(
        f"{URL}/{rule.id}", json={"credits": "2", "effective_from": "2023-09-01"}, headers=headers
    ).json()

    again = client.patch(f"{URL}/{rule.id}", json={"credits": "1"}, headers=headers)

    assert again.status_code == 409
    assert again.json()["superseded_by_id"] == new["id"]


def test_closing_a_used_rule_is_done_in_place(client: TestClient, db: Session) -> None:
    rule = _used_rule(client, db)

    response = client.patch(
        f"{URL}/{rule.id}", json={"effective_to": "2024-08-31"}, headers=office(db)
    )

    assert response.status_code == 200, response.text
    assert response.json()["id"] == rule.id and response.json()["effective_to"] == "2024-08-31"
    assert count(db, ConversionRule) == 1


def test_a_new_version_must_start_after_the_old_one(client: TestClient, db: Session) -> None:
    rule = _used_rule(client, db)

    response = client.patch(
        f"{URL}/{rule.id}",
        json={"credits": "2", "effective_from": "2022-01-01"},
        headers=office(db),
    )

    assert response.status_code == 422
    assert count(db, ConversionRule) == 1


def test_a_used_rule_is_not_deleted(client: TestClient, db: Session) -> None:
    rule = _used_rule(client, db)
    unused = make_rule(db, make_certificate(db), [make_major(db)], min_level=Level.junior)
    headers = office(db)

    refused = client.delete(f"{URL}/{rule.id}", headers=headers)
    deleted = client.delete(f"{URL}/{unused.id}", headers=headers)

    assert refused.status_code == 409 and refused.json()["code"] == "rule_in_use"
    assert deleted.status_code == 204
    assert count(db, ConversionRule) == 1
