"""Subsidy runs: one payment per passed result of the session, none for the others, never two
for the same result, all or nothing."""

from decimal import Decimal
from typing import Any

from sqlmodel import Session, func, select
from starlette.testclient import TestClient

from app.core.audit import AuditEvent
from app.core.roles import Role
from app.exams.models import ExamResult
from app.funding.models import Category, Expenditure, ExpenditureKind, SubsidyRun
from app.funding.service import spent_on_line
from tests.exams.factories import make_pilot, make_registration, make_result, pilot_students
from tests.funding.factories import held_session, make_line, make_source
from tests.reference.factories import headers_for, office


def _run(
    client: TestClient, headers: dict[str, str], session_id: Any, line_id: Any, **params: Any
) -> Any:
    return client.post(
        "/api/v1/subsidy-runs",
        params=params,
        json={"session_id": session_id, "line_id": line_id, "amount_per_student": "200.00"},
        headers=headers,
    )


def _payments(db: Session) -> int:
    return int(db.exec(select(func.count()).select_from(Expenditure)).one())


def test_a_dry_run_shows_who_would_be_paid_and_writes_nothing(
    client: TestClient, db: Session
) -> None:
    pilot = make_pilot(db)
    exam = held_session(db, pilot, passed=3, failed=2)
    line = make_line(db, make_source(db), pilot, category=Category.exam_subsidy, amount="1000")

    response = _run(client, office(db), exam.id, line.id, dry_run="true")

    assert response.status_code == 200
    body = response.json()
    assert body["dry_run"] is True and body["id"] is None
    assert body["paid_count"] == 3 and body["total"] == "600.00"
    assert body["line_remaining"] == "400.00"
    assert len(body["payments"]) == 3
    assert _payments(db) == 0
    assert db.exec(select(SubsidyRun)).all() == []


def test_only_passed_candidates_are_paid_and_never_twice(client: TestClient, db: Session) -> None:
    headers = office(db)
    pilot = make_pilot(db)
    exam = held_session(db, pilot, passed=4, failed=2)
    line = make_line(db, make_source(db), pilot, category=Category.exam_subsidy, amount="2000")

    first = _run(client, headers, exam.id, line.id)
    second = _run(client, headers, exam.id, line.id)
    (late,) = pilot_students(db, pilot, 1)
    make_result(db, make_registration(db, exam, late), passed=True)
    third = _run(client, headers, exam.id, line.id)

    assert first.status_code == 201 and first.json()["paid_count"] == 4
    assert first.headers["location"] == f"/api/v1/subsidy-runs/{first.json()['id']}"
    assert second.status_code == 409 and second.json()["code"] == "nothing_to_pay"
    assert (second.json()["passed"], second.json()["already_paid"]) == (4, 4)
    assert third.json()["paid_count"] == 1
    assert [p["student_id"] for p in third.json()["payments"]] == [late.id]
    assert _payments(db) == 5
    assert spent_on_line(db, line.id or 0) == Decimal("1000.00")
    shown = client.get(f"/api/v1/subsidy-runs/{first.json()['id']}", headers=headers).json()
    assert len(shown["payments"]) == 4
    assert all(p["amount"] == "200.00" for p in shown["payments"])
    listed = client.get(
        f"/api/v1/expenditures?subsidy_run_id={first.json()['id']}", headers=headers
    ).json()
    assert listed["total"] == 4 and {i["kind"] for i in listed["items"]} == {"subsidy"}
    runs = client.get(f"/api/v1/subsidy-runs?session_id={exam.id}", headers=headers).json()
    assert [r["paid_count"] for r in runs["items"]] == [1, 4]


def test_a_line_that_cannot_cover_everyone_pays_nobody(client: TestClient, db: Session) -> None:
    pilot = make_pilot(db)
    exam = held_session(db, pilot, passed=5, failed=0)
    line = make_line(db, make_source(db), pilot, category=Category.exam_subsidy, amount="999.99")

    response = _run(client, office(db), exam.id, line.id)

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "insufficient_funds"
    assert body["needed"] == "1000.00" and body["available"] == "999.99"
    assert body["shortfall"] == "0.01"
    assert _payments(db) == 0 and db.exec(select(SubsidyRun)).all() == []


def test_subsidies_come_from_the_sessions_pilots_exam_subsidy_line(
    client: TestClient, db: Session
) -> None:
    headers = office(db)
    pilot, other = make_pilot(db), make_pilot(db)
    exam = held_session(db, pilot, passed=1, failed=0)
    source = make_source(db)
    equipment = make_line(db, source, pilot, category=Category.equipment)
    foreign = make_line(db, source, other, category=Category.exam_subsidy)

    wrong_category = _run(client, headers, exam.id, equipment.id)
    wrong_pilot = _run(client, headers, exam.id, foreign.id)
    no_session = _run(client, headers, 9999, foreign.id)

    assert wrong_category.status_code == 422 and "exam_subsidy" in wrong_category.json()["detail"]
    assert wrong_pilot.status_code == 422 and "pilot" in wrong_pilot.json()["detail"]
    assert no_session.status_code == 422
    assert no_session.json()["errors"][0]["field"] == "body.session_id"
    assert _payments(db) == 0


def test_a_reversed_subsidy_is_paid_again_once_by_the_next_run(
    client: TestClient, db: Session
) -> None:
    """A payment reversed by mistake (红冲) leaves the student unpaid: the next run pays the
    still-passed result again, once; a result corrected to failed is not paid again."""
    headers = office(db)
    pilot = make_pilot(db)
    exam = held_session(db, pilot, passed=3, failed=0)
    line = make_line(db, make_source(db), pilot, category=Category.exam_subsidy, amount="1000")
    run = _run(client, headers, exam.id, line.id).json()
    mistaken, corrected = run["payments"][0], run["payments"][1]
    for payment, reason in ((mistaken, "付错账户"), (corrected, "成绩更正")):
        response = client.post(
            f"/api/v1/expenditures/{payment['expenditure_id']}/reverse",
            json={"reason": reason},
            headers=headers,
        )
        assert response.status_code == 201, response.text
    result = db.get(ExamResult, corrected["exam_result_id"])
    assert result is not None
    result.passed = False
    db.add(result)
    db.commit()

    dry = _run(client, headers, exam.id, line.id, dry_run="true")
    again = _run(client, headers, exam.id, line.id)
    third = _run(client, headers, exam.id, line.id)
    report = client.get("/api/v1/reports/funding?group_by=category", headers=headers).json()

    assert dry.status_code == 200
    assert [p["exam_result_id"] for p in dry.json()["payments"]] == [mistaken["exam_result_id"]]
    assert again.status_code == 201, again.text
    assert again.json()["paid_count"] == 1
    assert again.json()["passed"] == 2 and again.json()["already_paid"] == 1
    assert [p["exam_result_id"] for p in again.json()["payments"]] == [mistaken["exam_result_id"]]
    assert third.status_code == 409 and third.json()["already_paid"] == 2
    standing = db.exec(
        select(Expenditure.exam_result_id, func.count())
        .where(Expenditure.kind == ExpenditureKind.subsidy)
        .group_by(Expenditure.exam_result_id)
    ).all()
    assert sorted(n for _, n in standing) == [1, 1, 2]  # the mistaken one: paid, reversed, paid
    assert spent_on_line(db, line.id or 0) == Decimal("400.00")
    assert report["total"]["subsidies_paid"] == 2
    assert report["total"]["subsidies_amount"] == "400.00"
    assert report["total"]["spent"] == "400.00"


def test_every_subsidy_payment_has_its_own_audit_event(client: TestClient, db: Session) -> None:
    headers = office(db)
    pilot = make_pilot(db)
    exam = held_session(db, pilot, passed=3, failed=1)
    line = make_line(db, make_source(db), pilot, category=Category.exam_subsidy, amount="1000")

    run = _run(client, headers, exam.id, line.id).json()

    events = db.exec(
        select(AuditEvent).where(AuditEvent.entity == "expenditure", AuditEvent.action == "create")
    ).all()
    paid = {p["expenditure_id"]: p for p in run["payments"]}
    assert sorted(int(e.entity_id) for e in events) == sorted(paid)
    for event in events:
        assert event.after is not None
        payment = paid[int(event.entity_id)]
        assert event.after["exam_result_id"] == payment["exam_result_id"]
        assert event.after["subsidy_run_id"] == run["id"]
    (run_event,) = db.exec(select(AuditEvent).where(AuditEvent.entity == "subsidy_run")).all()
    assert run_event.entity_id == str(run["id"])
    assert sorted(run_event.after["expenditure_ids"]) == sorted(paid)  # type: ignore[index]


def test_only_the_office_runs_subsidies_and_others_read_by_scope(
    client: TestClient, db: Session
) -> None:
    pilot = make_pilot(db)
    exam = held_session(db, pilot, passed=1, failed=0)
    line = make_line(db, make_source(db), pilot, category=Category.exam_subsidy)
    run = _run(client, office(db), exam.id, line.id).json()

    refused = _run(client, headers_for(db, Role.auditor), exam.id, line.id)
    manager = headers_for(db, Role.college_manager)

    assert refused.status_code == 403
    assert client.get(f"/api/v1/subsidy-runs/{run['id']}", headers=manager).status_code == 404
    auditor = headers_for(db, Role.auditor)
    assert client.get(f"/api/v1/subsidy-runs/{run['id']}", headers=auditor).status_code == 200


def test_a_run_with_nobody_to_pay_is_refused_and_not_recorded(
    client: TestClient, db: Session
) -> None:
    headers = office(db)
    pilot = make_pilot(db)
    exam = held_session(db, pilot, passed=0, failed=2)
    line = make_line(db, make_source(db), pilot, category=Category.exam_subsidy, amount="2000")

    dry = _run(client, headers, exam.id, line.id, dry_run="true")
    response = _run(client, headers, exam.id, line.id)

    assert dry.status_code == 200 and dry.json()["payments"] == []
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "nothing_to_pay"
    assert (response.json()["passed"], response.json()["already_paid"]) == (0, 0)
    assert db.exec(select(SubsidyRun)).all() == []
    assert not db.exec(select(AuditEvent).where(AuditEvent.entity == "subsidy_run")).all()
