"""Computing, scoring, ranking and freezing a year's evaluations."""

from datetime import date
from decimal import Decimal

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.applications.models import ApplicationStatus
from app.core.audit import AuditEvent
from app.core.roles import Role
from app.evaluations.models import Evaluation
from app.reference.models import Certificate
from app.trainings.models import TrainingStatus
from tests.evaluations.factories import (
    EVALUATIONS,
    SCHEMES,
    YEAR,
    add_candidates,
    build_pilot,
    by_application,
    compute,
    indicator,
    score,
)
from tests.exams.factories import make_pilot, make_session
from tests.reference.factories import headers_for, make_teacher, manager_of, office
from tests.trainings.factories import assign, make_training


def _three_pilots(db: Session) -> tuple[int, int, int]:
    strong = build_pilot(db, sat=8, passed=7).pilot.id
    close = build_pilot(db, sat=8, passed=6).pilot.id
    idle = build_pilot(db, plan=False, teacher=False).pilot.id
    assert strong and close and idle
    return strong, close, idle


def test_compute_gives_each_approved_pilot_its_indicators(client: TestClient, db: Session) -> None:
    strong, close, idle = _three_pilots(db)
    make_pilot(db, status=ApplicationStatus.submitted)  # not evaluated

    response = compute(client, office(db))

    assert response.status_code == 200, response.text
    run = by_application(response.json())
    assert set(run) == {strong, close, idle}
    first = run[strong]
    assert indicator(first, "plans_filed")["value"] == "100.0"
    assert indicator(first, "registration_rate")["value"] == "80.0"
    assert indicator(first, "pass_rate")["value"] == "87.5"
    assert indicator(first, "certificates_issued")["value"] == "7"
    assert indicator(first, "certificates_issued")["score"] == "70.0"
    assert indicator(first, "teacher_coverage")["value"] == "100.0"
    # 10×100 + 15×80 + 15×87.5 + 10×70 + 10×100 over the 60 weight points that counted
    assert first["total"] == "86.9"
    assert first["weight_counted"] == 60
    assert first["rating"] == "良好"
    assert first["provisional"] is True
    assert first["rank"] == 1
    assert run[close]["total"] == "82.1"
    assert run[close]["rank"] == 2


def test_indicators_that_cannot_be_measured_are_missing_not_zero(
    client: TestClient, db: Session
) -> None:
    _, _, idle = _three_pilots(db)

    evaluation = by_application(compute(client, office(db)).json())[idle]

    for key in (
        "registration_rate",  # no exam session to register for yet
        "pass_rate",
        "certificates_issued",
        "teacher_coverage",
        "plans_on_time",
        "budget_execution",
        "conversions_approved",
    ):
        figure = indicator(evaluation, key)
        assert figure["value"] is None and figure["score"] is None, key
        assert figure["counted"] is False, key
    assert indicator(evaluation, "plans_filed")["value"] == "0.0"
    assert evaluation["weight_counted"] == 10
    assert evaluation["total"] == "0.0"


def test_two_committee_scores_swap_the_ranking(client: TestClient, db: Session) -> None:
    strong, close, _ = _three_pilots(db)
    headers = office(db)
    run = by_application(compute(client, headers).json())
    assert (run[strong]["rank"], run[close]["rank"]) == (1, 2)

    assert score(client, headers, run[strong]["id"], "60").status_code == 200
    response = score(client, headers, run[close]["id"], "95")

    assert response.status_code == 200, response.text
    body = response.json()
    # (4925 + 20×95) ÷ 80
    assert body["total"] == "85.3"
    assert body["rank"] == 1
    assert body["provisional"] is False
    assert body["committee_comments"] == "评审意见"
    listed = client.get(EVALUATIONS, params={"year": YEAR}, headers=headers).json()["items"]
    assert [e["application_id"] for e in listed][:2] == [close, strong]
    assert listed[1]["total"] == "80.2"
    stored = db.exec(select(Evaluation).where(Evaluation.application_id == close)).one()
    assert stored.committee_score == Decimal("95.0") and stored.rank == 1


def test_a_failing_pilot_is_flagged_for_rectification(client: TestClient, db: Session) -> None:
    _, _, idle = _three_pilots(db)
    headers = office(db)
    evaluation = by_application(compute(client, headers).json())[idle]

    body = score(client, headers, evaluation["id"], "40").json()

    # (plans filed 0 × 10 + committee 40 × 20) ÷ 30; no exam session: no registration rate
    assert body["total"] == "26.7"
    assert body["rating"] == "不合格"
    assert body["needs_rectification"] is True
    flagged = client.get(
        EVALUATIONS, params={"year": YEAR, "needs_rectification": "true"}, headers=headers
    ).json()
    assert [e["application_id"] for e in flagged["items"]] == [idle]


def test_compute_again_is_idempotent_and_keeps_committee_scores(
    client: TestClient, db: Session
) -> None:
    strong, _, _ = _three_pilots(db)
    headers = office(db)
    first = by_application(compute(client, headers).json())[strong]
    score(client, headers, first["id"], "88")

    again = by_application(compute(client, headers).json())
    third = by_application(compute(client, headers).json())

    assert len(third) == 3
    assert again[strong]["id"] == first["id"]
    assert third[strong]["committee_score"] == "88.0"
    assert third[strong]["total"] == again[strong]["total"]
    assert len(db.exec(select(Evaluation)).all()) == 3


def test_finalize_freezes_the_figures_against_later_data(client: TestClient, db: Session) -> None:
    built = build_pilot(db, sat=4, passed=2)
    headers = office(db)
    evaluation = compute(client, headers).json()["evaluations"][0]
    score(client, headers, evaluation["id"], "70")
    before = client.get(f"{EVALUATIONS}/{evaluation['id']}", headers=headers).json()

    finalized = client.post(f"{EVALUATIONS}/finalize", params={"year": YEAR}, headers=headers)
    assert finalized.status_code == 200, finalized.text
    assert finalized.json()["finalized_at"] is not None
    add_candidates(db, built.pilot, sat=4, passed=4)  # a later exam result

    after = client.get(f"{EVALUATIONS}/{evaluation['id']}", headers=headers).json()
    assert after["indicators"] == before["indicators"]
    assert indicator(after, "pass_rate")["value"] == "50.0"
    assert after["total"] == before["total"]
    assert after["finalized_at"] is not None and after["allowed_actions"] == []
    refused = compute(client, headers)
    assert refused.status_code == 409
    assert refused.json()["current_state"] == "finalized"
    rescored = score(client, headers, evaluation["id"], "99")
    assert rescored.status_code == 409
    assert rescored.json()["committee_score"] == "70.0"
    again = client.post(f"{EVALUATIONS}/finalize", params={"year": YEAR}, headers=headers)
    assert again.status_code == 409
    assert client.get(f"{EVALUATIONS}/{evaluation['id']}", headers=headers).json() == after


def test_finalize_needs_every_committee_score(client: TestClient, db: Session) -> None:
    strong, _, _ = _three_pilots(db)
    headers = office(db)
    run = by_application(compute(client, headers).json())
    score(client, headers, run[strong]["id"], "80")

    response = client.post(f"{EVALUATIONS}/finalize", params={"year": YEAR}, headers=headers)

    assert response.status_code == 409
    assert response.json()["code"] == "committee_scores_missing"
    assert sorted(response.json()["evaluation_ids"]) == sorted(
        e["id"] for a, e in run.items() if a != strong
    )
    assert client.get(f"{SCHEMES}/{YEAR}", headers=headers).json()["finalized_at"] is None


def test_finalize_before_compute_is_409(client: TestClient, db: Session) -> None:
    response = client.post(f"{EVALUATIONS}/finalize", params={"year": 2030}, headers=office(db))
    assert response.status_code == 409
    assert response.json()["allowed_actions"] == ["compute"]


def test_committee_score_is_checked_and_versioned(client: TestClient, db: Session) -> None:
    build_pilot(db)
    headers = office(db)
    evaluation = compute(client, headers).json()["evaluations"][0]
    url = f"{EVALUATIONS}/{evaluation['id']}/committee-score"

    assert client.put(url, json={"score": "101"}, headers=headers).status_code == 422
    assert client.put(url, json={"score": "-1"}, headers=headers).status_code == 422
    stale = client.put(url, json={"score": "80"}, headers={**headers, "If-Match": '"999"'})
    assert stale.status_code == 412
    assert (
        client.put(
            f"{EVALUATIONS}/999999/committee-score", json={"score": "8"}, headers=headers
        ).status_code
        == 404
    )
    ok = client.put(
        url, json={"score": "80"}, headers={**headers, "If-Match": f'"{evaluation["version"]}"'}
    )
    assert ok.status_code == 200
    assert ok.headers["ETag"] == f'"{ok.json()["version"]}"'
    events = db.exec(
        select(AuditEvent).where(
            AuditEvent.entity == "evaluation", AuditEvent.action == "committee_score"
        )
    ).all()
    assert len(events) == 1 and events[0].after["committee_score"] == "80.0"


def test_roles_office_writes_auditors_read_managers_read_their_college(
    client: TestClient, db: Session
) -> None:
    mine = build_pilot(db)
    other = build_pilot(db)
    compute(client, office(db))
    auditor = headers_for(db, Role.auditor)

    assert client.get(EVALUATIONS, params={"year": YEAR}, headers=auditor).json()["total"] == 2
    assert compute(client, auditor).status_code == 403
    manager = manager_of(db, mine.college)
    visible = client.get(EVALUATIONS, params={"year": YEAR}, headers=manager).json()
    assert [e["application_id"] for e in visible["items"]] == [mine.pilot.id]
    other_id = db.exec(
        select(Evaluation.id).where(Evaluation.application_id == other.pilot.id)
    ).one()
    assert client.get(f"{EVALUATIONS}/{other_id}", headers=manager).status_code == 404
    assert score(client, manager, other_id, "50").status_code == 403
    teacher = headers_for(db, Role.teacher)
    assert client.get(EVALUATIONS, headers=teacher).status_code == 403


@pytest.mark.usefixtures("chinese")
def test_ranking_exports_as_csv_and_xlsx(client: TestClient, db: Session) -> None:
    _three_pilots(db)
    headers = office(db)
    compute(client, headers)

    csv = client.get(EVALUATIONS, params={"year": YEAR, "format": "csv"}, headers=headers)
    xlsx = client.get(EVALUATIONS, params={"year": YEAR, "format": "xlsx"}, headers=headers)

    assert csv.status_code == 200 and csv.text.startswith("\ufeff排名")
    lines = csv.text.strip().splitlines()
    assert len(lines) == 4
    assert "考核通过率" in lines[0] and "(%)" not in lines[0] and "需整改" in lines[0]
    assert lines[1].startswith("1,")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"


def test_closed_pilots_are_evaluated_and_other_years_are_not(
    client: TestClient, db: Session
) -> None:
    closed = make_pilot(db, status=ApplicationStatus.closed)
    make_pilot(db, status=ApplicationStatus.rejected)
    other_year = build_pilot(db).pilot
    other_year.year = 2023
    db.add(other_year)
    db.commit()

    run = compute(client, office(db)).json()

    assert [e["application_id"] for e in run["evaluations"]] == [closed.id]
    assert run["year"] == YEAR and run["finalized_at"] is None


def test_teacher_coverage_is_measured_on_the_years_last_day(
    client: TestClient, db: Session
) -> None:
    built = build_pilot(db, teacher=False)
    certificate = db.get(Certificate, built.pilot.certificate_id)
    assert certificate is not None
    valid_then = [make_teacher(db), make_teacher(db)]  # expired since, valid on 31 Dec 2022
    for teacher in valid_then:
        make_training(
            db, teacher, certificate, status=TrainingStatus.certified, valid_until=date(2023, 6, 30)
        )
    expired = make_teacher(db)  # expired before the year ended
    make_training(
        db, expired, certificate, status=TrainingStatus.certified, valid_until=date(2022, 6, 30)
    )
    later = make_teacher(db)  # certified only after the year
    training = make_training(db, later, certificate, status=TrainingStatus.certified)
    training.certified_on = date(2023, 2, 1)
    db.add(training)
    db.commit()
    for teacher in (*valid_then, expired, later):
        assign(db, built.pilot, teacher)

    evaluation = compute(client, office(db)).json()["evaluations"][0]

    assert indicator(evaluation, "teacher_coverage")["value"] == "50.0"  # 2 of 4


def test_registration_rate_is_zero_once_a_session_exists_and_missing_before(
    client: TestClient, db: Session
) -> None:
    opened = build_pilot(db).pilot
    make_session(db, opened)  # open for registration, nobody registered
    waiting = build_pilot(db).pilot

    run = by_application(compute(client, office(db)).json())

    assert indicator(run[opened.id], "registration_rate")["value"] == "0.0"
    assert indicator(run[opened.id], "registration_rate")["counted"] is True
    assert indicator(run[waiting.id], "registration_rate")["value"] is None
