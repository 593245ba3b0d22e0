"""A pass with a standing subsidy payment (奖励补贴 paid and not reversed) is not turned into a
fail until the payment is reversed: single corrections, uploads, and corrections racing a
subsidy run (the correction holds the session's row shared, the run locks it for update)."""

from collections import Counter
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from starlette.testclient import TestClient

from app.exams.models import ExamRegistration, ExamResult, ExamSession
from app.funding.models import Category, Expenditure, ExpenditureKind
from app.funding.service import not_reversed
from app.reference.models import Student
from tests.concurrency import Call, fire_concurrently
from tests.exams.factories import make_pilot
from tests.funding.factories import held_session, make_line, make_source
from tests.imports.helpers import upload
from tests.reference.factories import office, xlsx_bytes


def _paid_session(
    client: TestClient, db: Session, headers: dict[str, str], passed: int
) -> tuple[ExamSession, Any]:
    pilot = make_pilot(db)
    exam = held_session(db, pilot, passed=passed, failed=0)
    line = make_line(db, make_source(db), pilot, category=Category.exam_subsidy, amount="9000")
    run = client.post(
        "/api/v1/subsidy-runs",
        json={"session_id": exam.id, "line_id": line.id, "amount_per_student": "200.00"},
        headers=headers,
    )
    assert run.status_code == 201, run.text
    return exam, line


def _registrations(db: Session, exam: ExamSession) -> list[ExamRegistration]:
    return list(
        db.exec(
            select(ExamRegistration)
            .where(ExamRegistration.session_id == exam.id)
            .order_by(col(ExamRegistration.id))
        ).all()
    )


def test_a_paid_pass_becomes_a_fail_only_after_the_payment_is_reversed(
    client: TestClient, db: Session
) -> None:
    headers = office(db)
    exam, _line = _paid_session(client, db, headers, passed=1)
    (registration,) = _registrations(db, exam)
    student = db.get(Student, registration.student_id)
    assert student is not None
    payment = db.exec(select(Expenditure).where(Expenditure.kind == ExpenditureKind.subsidy)).one()

    put = client.put(
        f"/api/v1/registrations/{registration.id}/result", json={"passed": False}, headers=headers
    )
    uploaded = upload(
        client,
        headers,
        "exam-results",
        "r.xlsx",
        xlsx_bytes([["考核ID", "学号", "是否通过"], [exam.id, student.student_no, "否"]]),
    )

    assert put.status_code == 409, put.text
    assert put.json()["code"] == "subsidy_paid"
    assert put.json()["voucher_no"] == payment.voucher_no
    assert "reverse the payment" in put.json()["detail"]
    assert uploaded.status_code == 422, uploaded.text
    assert payment.voucher_no in uploaded.json()["errors"][0]["reason"]
    assert db.exec(select(ExamResult.passed)).one() is True

    reversed_ = client.post(
        f"/api/v1/expenditures/{payment.id}/reverse", json={"reason": "成绩更正"}, headers=headers
    )
    assert reversed_.status_code == 201, reversed_.text
    again = client.put(
        f"/api/v1/registrations/{registration.id}/result", json={"passed": False}, headers=headers
    )
    assert again.status_code == 200, again.text
    db.expire_all()
    assert db.exec(select(ExamResult.passed)).one() is False


def test_corrections_racing_a_subsidy_run_never_leave_a_payment_on_a_fail(
    client: TestClient, app: FastAPI, db: Session, engine: Engine
) -> None:
    headers = office(db)
    pilot = make_pilot(db)
    exam = held_session(db, pilot, passed=12, failed=0)
    line = make_line(db, make_source(db), pilot, category=Category.exam_subsidy, amount="9000")
    registrations = _registrations(db, exam)
    calls = [
        Call(
            "POST",
            "/api/v1/subsidy-runs",
            {
                "json": {
                    "session_id": exam.id,
                    "line_id": line.id,
                    "amount_per_student": "200.00",
                },
                "headers": headers,
            },
        ),
        *(
            Call(
                "PUT",
                f"/api/v1/registrations/{r.id}/result",
                {"json": {"passed": False}, "headers": headers},
            )
            for r in registrations[::2]
        ),
    ]

    run, *corrections = fire_concurrently(app, calls, max_in_flight=8)

    assert run.status_code == 201, run.text
    assert all(r.status_code in {200, 409} for r in corrections), Counter(
        r.status_code for r in corrections
    )
    refused = [r.json() for r in corrections if r.status_code == 409]
    assert all(body["code"] == "subsidy_paid" for body in refused)
    db.expire_all()
    paid_on_fail = db.exec(
        select(Expenditure.voucher_no)
        .join(ExamResult, col(ExamResult.id) == Expenditure.exam_result_id)
        .where(col(ExamResult.passed).is_(False), not_reversed())
    ).all()
    assert paid_on_fail == []
    failed = db.exec(select(ExamResult).where(col(ExamResult.passed).is_(False))).all()
    assert len(failed) == sum(1 for r in corrections if r.status_code == 200)
    assert run.json()["paid_count"] == 12 - len(failed)
