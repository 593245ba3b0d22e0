"""Racing approvals and racing requests leave one credit per student and course (the student's
row is locked, then the request's; a unique constraint on live requests backs it); a revocation
racing approvals leaves no credit of the revoked certificate standing; a rule changed while
requests are filed is never changed in place under a request."""

from collections import Counter

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from app.core.audit import AuditEvent
from app.credits.models import ConversionRequest, ConversionRule, CreditRecord
from tests.concurrency import Call, fire_concurrently
from tests.credits.factories import file_request, issue_certificate, make_rule
from tests.reference.factories import (
    make_certificate,
    make_course,
    make_major,
    make_student,
    office,
)

RACERS = 12


@pytest.fixture
def postgres_only(is_postgres: bool) -> None:
    if not is_postgres:
        pytest.skip("row locks are what is under test; SQLite serialises writers anyway")


def _credits(db: Session, student_id: int) -> int:
    return int(
        db.exec(
            select(func.count()).where(
                CreditRecord.student_id == student_id, col(CreditRecord.kind) == "credit"
            )
        ).one()
    )


@pytest.mark.slow
@pytest.mark.usefixtures("postgres_only")
def test_racing_approvals_of_one_request_write_one_credit(
    app: FastAPI, db: Session, engine: Engine
) -> None:
    major = make_major(db)
    student = make_student(db, major)
    certificate = make_certificate(db)
    issued = issue_certificate(db, student, certificate)
    request = file_request(db, student, issued, make_rule(db, certificate, [major]))
    headers = office(db)
    calls = [
        Call("POST", f"/api/v1/conversion-requests/{request.id}/approve", {"headers": headers})
    ] * RACERS

    responses = fire_concurrently(app, calls, max_in_flight=RACERS)

    assert Counter(r.status_code for r in responses) == {200: 1, 409: RACERS - 1}
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"invalid_state"}
    assert _credits(db, student.id or 0) == 1


@pytest.mark.slow
@pytest.mark.usefixtures("postgres_only")
def test_racing_requests_and_approvals_for_one_course_leave_one_credit(
    app: FastAPI, db: Session, engine: Engine
) -> None:
    major = make_major(db)
    student = make_student(db, major)
    course = make_course(db)
    rules = []
    issued = []
    for _ in range(RACERS):
        certificate = make_certificate(db)
        issued.append(issue_certificate(db, student, certificate))
        rules.append(make_rule(db, certificate, [major], course=course))
    headers = office(db)
    calls = [
        Call(
            "POST",
            "/api/v1/conversion-requests",
            {
                "json": {
                    "student_id": student.id,
                    "issued_certificate_id": issued[i].id,
                    "rule_id": rules[i].id,
                },
                "headers": headers,
            },
        )
        for i in range(RACERS)
    ]

    created = fire_concurrently(app, calls, max_in_flight=RACERS)

    assert Counter(r.status_code for r in created) == {201: 1, 409: RACERS - 1}
    (winner,) = [r.json()["id"] for r in created if r.status_code == 201]
    approvals = [
        Call("POST", f"/api/v1/conversion-requests/{winner}/approve", {"headers": headers}),
        Call(
            "POST",
            "/api/v1/conversion-requests/bulk-approve",
            {"json": {"ids": [winner]}, "headers": headers},
        ),
    ] * 4
    fire_concurrently(app, approvals, max_in_flight=len(approvals))
    assert _credits(db, student.id or 0) == 1
    live = db.exec(
        select(func.count()).where(
            ConversionRequest.student_id == student.id, col(ConversionRequest.live).is_(True)
        )
    ).one()
    assert live == 1


@pytest.mark.slow
@pytest.mark.usefixtures("postgres_only")
def test_a_revocation_racing_approvals_leaves_no_credit_of_the_revoked_certificate(
    app: FastAPI, db: Session, engine: Engine
) -> None:
    major = make_major(db)
    student = make_student(db, major)
    certificate = make_certificate(db)
    issued = issue_certificate(db, student, certificate)
    requests = []
    for _ in range(RACERS):
        requests.append(file_request(db, student, issued, make_rule(db, certificate, [major])).id)
    headers = office(db)
    approvals = [
        Call("POST", f"/api/v1/conversion-requests/{request_id}/approve", {"headers": headers})
        for request_id in requests
    ]
    revoke = Call(
        "POST",
        f"/api/v1/issued-certificates/{issued.id}/revoke",
        {"json": {"reason": "证书作废"}, "headers": headers},
    )
    middle = RACERS // 2

    responses = fire_concurrently(
        app, [*approvals[:middle], revoke, *approvals[middle:]], max_in_flight=RACERS + 1
    )

    assert responses[middle].status_code == 200, responses[middle].text
    assert {r.status_code for r in responses} <= {200, 409}
    lines = db.exec(
        select(CreditRecord).where(CreditRecord.issued_certificate_id == issued.id)
    ).all()
    credits = [line for line in lines if line.kind == "credit"]
    reversed_ids = {line.reverses_id for line in lines if line.kind == "reversal"}
    assert {line.id for line in credits} == reversed_ids
    assert sum(line.credits for line in lines) == 0
    statuses = set(
        db.exec(
            select(ConversionRequest.status)
            .where(col(ConversionRequest.id).in_(requests))
            .execution_options(populate_existing=True)
        ).all()
    )
    assert statuses <= {"reversed", "rejected"}


@pytest.mark.slow
@pytest.mark.usefixtures("postgres_only")
def test_a_rule_changed_while_requests_are_filed_is_never_changed_under_a_request(
    app: FastAPI, db: Session, engine: Engine
) -> None:
    major = make_major(db)
    certificate = make_certificate(db)
    rule = make_rule(db, certificate, [major], credits="4")
    filings = []
    for _ in range(RACERS - 1):
        student = make_student(db, major)
        issued = issue_certificate(db, student, certificate)
        filings.append(
            Call(
                "POST",
                "/api/v1/conversion-requests",
                {
                    "json": {
                        "student_id": student.id,
                        "issued_certificate_id": issued.id,
                        "rule_id": rule.id,
                    },
                    "headers": office(db),
                },
            )
        )
    change = Call(
        "PATCH",
        f"/api/v1/credit-rules/{rule.id}",
        {"json": {"credits": "2"}, "headers": office(db)},
    )
    middle = len(filings) // 2

    responses = fire_concurrently(
        app, [*filings[:middle], change, *filings[middle:]], max_in_flight=RACERS
    )

    changed = responses[middle]
    assert changed.status_code == 200, changed.text
    filed = [r for r in responses if r is not changed]
    assert {r.status_code for r in filed} == {201}
    assert {r.json()["rule_id"] for r in filed} == {rule.id}
    events = db.exec(
        select(AuditEvent)
        .where(
            col(AuditEvent.entity).in_(["conversion_rule", "conversion_request"]),
            col(AuditEvent.action).in_(["create", "update", "close"]),
        )
        .order_by(col(AuditEvent.id))
    ).all()
    edit = next(e for e in events if e.entity == "conversion_rule" and e.entity_id == str(rule.id))
    filed_before = [
        e for e in events if e.entity == "conversion_request" and (e.id or 0) < (edit.id or 0)
    ]
    stored = db.exec(
        select(ConversionRule)
        .where(ConversionRule.id == rule.id)
        .execution_options(populate_existing=True)
    ).one()
    if changed.json()["id"] == rule.id:
        assert edit.action == "update" and filed_before == []
        assert str(stored.credits) == "2.0"
        for response in filed:
            assert response.json()["credits"] == "2.0"
    else:
        assert edit.action == "close" and filed_before != []
        assert str(stored.credits) == "4.0" and stored.effective_to is not None
        assert changed.json()["replaces_id"] == rule.id
        for response in filed:
            assert response.json()["credits"] == "4.0"


@pytest.mark.slow
@pytest.mark.usefixtures("postgres_only")
def test_racing_rules_for_one_certificate_and_course_leave_one_in_force_on_any_day(
    app: FastAPI, db: Session, engine: Engine
) -> None:
    major, certificate, course = make_major(db), make_certificate(db), make_course(db)
    headers = office(db)
    # every rule is open-ended from a day of 2023, so any two of them overlap
    created = [
        Call(
            "POST",
            "/api/v1/credit-rules",
            {
                "json": {
                    "certificate_id": certificate.id,
                    "min_level": "中级",
                    "course_id": course.id,
                    "credits": "4",
                    "mode": "替换",
                    "major_ids": [major.id],
                    "effective_from": f"2023-{n % 12 + 1:02d}-01",
                },
                "headers": headers,
            },
        )
        for n in range(RACERS)
    ]
    cells = f"{certificate.name}\t中级\t{course.code}\t{course.name}\t4\t替换\t{major.code}"
    uploaded = Call(
        "POST",
        "/api/v1/imports/credit-rules",
        {
            "files": {
                "file": (
                    "r.tsv",
                    f"证书名称\t最低级别\t课程代码\t课程名称\t学分\t转换方式\t适用专业\n{cells}\n".encode(),
                )
            },
            "headers": headers,
        },
    )
    middle = RACERS // 2

    responses = fire_concurrently(
        app, [*created[:middle], uploaded, *created[middle:]], max_in_flight=RACERS + 1
    )

    upload_answer = responses[middle]
    posts = [r for r in responses if r is not upload_answer]
    assert {r.status_code for r in posts} <= {201, 409}, [r.text for r in posts]
    assert upload_answer.status_code in (200, 422), upload_answer.text
    # one rule was created: by one POST, or by the upload (which else changes it in place)
    created = [r for r in posts if r.status_code == 201]
    by_upload = upload_answer.json().get("created", 0) if upload_answer.status_code == 200 else 0
    assert len(created) + by_upload == 1, [(r.status_code, r.text) for r in responses]
    rules = db.exec(
        select(ConversionRule).where(
            ConversionRule.certificate_id == certificate.id, ConversionRule.course_id == course.id
        )
    ).all()
    assert len(rules) == 1
