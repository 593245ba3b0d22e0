"""Racing approvals and racing requests leave one credit per student and course (the student's
row is locked, then the request's; a unique constraint on live requests backs it)."""

from collections import Counter

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from app.credits.models import ConversionRequest, CreditRecord
from tests.concurrency import Call, fire_concurrently
from tests.credits.factories import issue_certificate, make_rule
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
    rule = make_rule(db, certificate, [major])
    request = ConversionRequest(
        student_id=student.id,
        issued_certificate_id=issued.id,
        rule_id=rule.id,
        course_id=rule.course_id,
    )
    db.add(request)
    db.commit()
    db.refresh(request)
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
