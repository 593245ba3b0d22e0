"""Subsidy runs: one payment per passed result of the session, none for the others, never two
for the same result, all or nothing."""

from decimal import Decimal
from typing import Any

from sqlmodel import Session, func, select
from starlette.testclient import TestClient

from app.core.roles import Role
from app.funding.models import Category, Expenditure, SubsidyRun
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
    assert second.status_code == 201 and second.json()["paid_count"] == 0
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
    assert [r["paid_count"] for r in runs["items"]] == [1, 0, 4]


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


def test_a_reversed_subsidy_is_not_paid_again_and_leaves_the_report(
    client: TestClient, db: Session
) -> None:
    headers = office(db)
    pilot = make_pilot(db)
    exam = held_session(db, pilot, passed=2, failed=0)
    line = make_line(db, make_source(db), pilot, category=Category.exam_subsidy, amount="1000")
    run = _run(client, headers, exam.id, line.id).json()

    reversed_ = client.post(
        f"/api/v1/expenditures/{run['payments'][0]['expenditure_id']}/reverse",
        json={"reason": "成绩更正"},
        headers=headers,
    )
    again = _run(client, headers, exam.id, line.id).json()
    report = client.get("/api/v1/reports/funding?group_by=category", headers=headers).json()

    assert reversed_.status_code == 201
    assert again["paid_count"] == 0
    assert report["total"]["subsidies_paid"] == 1
    assert report["total"]["subsidies_amount"] == "200.00"
    assert report["total"]["spent"] == "200.00"


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
