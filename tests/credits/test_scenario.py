"""The issue's done-when, as a new user would try it: import the sample rules, a student with
an issued 1+X Web前端开发 中级 certificate sees three options, asks for two, gets one approved
and one rejected, and the ledger totals 4 credits."""

from pathlib import Path

from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.core.roles import Role
from app.credits.models import ConversionRequest, ConversionRule, CreditRecord
from app.reference.models import Certificate, Course
from tests.applications.factories import import_table, load_sample_majors, major_named
from tests.credits.factories import issue_certificate
from tests.imports.helpers import count, upload
from tests.reference.factories import headers_for, make_student, office

RULES = (
    Path(__file__).resolve().parents[2] / "app" / "demo" / "fixtures" / "credit-rules-sample.tsv"
)


def load_sample_rules(client: TestClient, headers: dict[str, str]) -> dict:
    load_sample_majors(client, headers)
    assert import_table(client, headers, status="approved").status_code == 200
    response = upload(
        client, headers, "credit-rules", "credit-rules-sample.tsv", RULES.read_bytes()
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_a_student_converts_a_web_certificate_into_four_credits(
    client: TestClient, db: Session
) -> None:
    headers = office(db)
    report = load_sample_rules(client, headers)
    assert report["created"] == 32 and report["errors"] == []
    assert report["also_created"] == {"courses": 32}
    assert count(db, ConversionRule) == 32
    assert len({r.certificate_id for r in db.exec(select(ConversionRule)).all()}) == 13
    web = db.exec(select(Certificate).where(Certificate.normalized_name == "web前端开发")).one()
    student = make_student(db, major_named(db, "软件技术"), cohort=2020)
    issued = issue_certificate(db, student, web)
    me = headers_for(db, Role.student, student_id=student.id)

    options = client.get(f"/api/v1/students/{student.id}/conversion-options", headers=me)
    assert options.status_code == 200, options.text
    items = options.json()["items"]
    assert sorted(o["course_code"] for o in items) == ["C5102031", "C5102032", "C5102033"]
    assert {o["issued_certificate_id"] for o in items} == {issued.id}
    by_code = {o["course_code"]: o for o in items}

    ids = []
    for code in ("C5102031", "C5102033"):
        response = client.post(
            "/api/v1/conversion-requests",
            json={"issued_certificate_id": issued.id, "rule_id": by_code[code]["rule_id"]},
            headers=me,
        )
        assert response.status_code == 201, response.text
        assert response.json()["status"] == "submitted"
        assert (
            response.headers["Location"] == f"/api/v1/conversion-requests/{response.json()['id']}"
        )
        ids.append(response.json()["id"])
    left = client.get(f"/api/v1/students/{student.id}/conversion-options", headers=me).json()
    assert [o["course_code"] for o in left["items"]] == ["C5102032"]

    approved = client.post(f"/api/v1/conversion-requests/{ids[0]}/approve", headers=headers)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    rejected = client.post(
        f"/api/v1/conversion-requests/{ids[1]}/reject",
        json={"reason": "课程已修读"},
        headers=headers,
    )
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["status"] == "rejected" and rejected.json()["reason"] == "课程已修读"

    ledger = client.get(f"/api/v1/students/{student.id}/credits", headers=me)
    assert ledger.status_code == 200, ledger.text
    body = ledger.json()
    assert body["totals"]["credits"] == "4.0"
    assert body["totals"]["substitution_credits"] == "4.0"
    assert body["totals"]["courses"] == 1
    (line,) = body["items"]
    assert line["course_code"] == "C5102031" and line["mode"] == "替换"
    assert line["certificate_number"] == issued.number
    assert count(db, CreditRecord) == 1
    assert db.get(ConversionRequest, ids[1]).live is None  # type: ignore[union-attr]
    course = db.exec(select(Course).where(Course.code == "C5102031")).one()
    assert course.name == "Web前端开发基础"


def test_importing_the_sample_rules_twice_changes_nothing(client: TestClient, db: Session) -> None:
    headers = office(db)
    load_sample_rules(client, headers)

    again = upload(client, headers, "credit-rules", "rules.tsv", RULES.read_bytes())

    assert again.status_code == 200, again.text
    assert again.json()["unchanged"] == 32 and again.json()["created"] == 0
    assert again.json()["also_created"] == {}
