"""The year's scheme: documented defaults, valid weights only, the plan deadline, frozen with
the year."""

from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.core.audit import AuditEvent
from app.core.roles import Role
from app.evaluations.models import EvaluationScheme
from tests.evaluations.factories import (
    EVALUATIONS,
    SCHEMES,
    YEAR,
    build_pilot,
    by_application,
    compute,
    file_plan,
    indicator,
    score,
)
from tests.exams.factories import make_pilot
from tests.reference.factories import headers_for, office


def _body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "weights": {
            "plans_filed": 10,
            "plans_on_time": 10,
            "registration_rate": 10,
            "pass_rate": 20,
            "certificates_issued": 10,
            "teacher_coverage": 10,
            "budget_execution": 10,
            "conversions_approved": 0,
        },
        "committee_weight": 20,
        "thresholds": {"excellent": "90", "good": "75", "qualified": "60"},
        "plan_deadline": "2022-03-31",
    }
    body.update(changes)
    return body


def test_a_year_without_a_scheme_answers_the_defaults(client: TestClient, db: Session) -> None:
    response = client.get(f"{SCHEMES}/2031", headers=headers_for(db, Role.auditor))

    assert response.status_code == 200
    body = response.json()
    assert body["is_default"] is True and body["stored"] is False
    weights = {w["key"]: w["weight"] for w in body["weights"]}
    assert weights["pass_rate"] == 15 and weights["budget_execution"] == 10
    assert sum(weights.values()) + body["committee_weight"] == 100
    assert body["thresholds"] == {"excellent": "90.0", "good": "75.0", "qualified": "60.0"}
    assert db.exec(select(EvaluationScheme)).first() is None


def test_weights_must_cover_every_indicator_and_sum_to_100(client: TestClient, db: Session) -> None:
    headers = office(db)
    url = f"{SCHEMES}/{YEAR}"
    wrong_sum = _body(committee_weight=25)
    unknown = _body(weights={**_body()["weights"], "bogus": 0})
    missing = _body(weights={k: v for k, v in _body()["weights"].items() if k != "pass_rate"})
    negative = _body(weights={**_body()["weights"], "pass_rate": -5})
    unordered = _body(thresholds={"excellent": "70", "good": "75", "qualified": "60"})

    for body, field in (
        (wrong_sum, "body.weights"),
        (unknown, "body.weights.bogus"),
        (missing, "body.weights.pass_rate"),
    ):
        response = client.put(url, json=body, headers=headers)
        assert response.status_code == 422, body
        assert field in [e["field"] for e in response.json()["errors"]]
    assert "sum to 105" in client.put(url, json=wrong_sum, headers=headers).json()["detail"]
    assert client.put(url, json=negative, headers=headers).status_code == 422
    assert client.put(url, json=unordered, headers=headers).status_code == 422
    assert db.exec(select(EvaluationScheme)).first() is None


def test_the_office_sets_a_scheme_and_only_the_office(client: TestClient, db: Session) -> None:
    url = f"{SCHEMES}/{YEAR}"
    assert client.put(url, json=_body(), headers=headers_for(db, Role.auditor)).status_code == 403

    response = client.put(url, json=_body(), headers=office(db))

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["stored"] is True and body["is_default"] is False
    assert body["plan_deadline"] == "2022-03-31"
    assert response.headers["ETag"] == f'"{body["version"]}"'
    stale = client.put(url, json=_body(), headers={**office(db), "If-Match": '"99"'})
    assert stale.status_code == 412


def test_plans_filed_after_the_deadline_are_not_on_time(client: TestClient, db: Session) -> None:
    headers = office(db)
    early = build_pilot(db).pilot  # filed 1 March 2022 (10:00 school time)
    late = build_pilot(db, plan=False).pilot
    file_plan(db, late, filed_at=datetime(2022, 3, 31, 16, 30, tzinfo=UTC))  # 1 April, Beijing
    before = by_application(compute(client, headers).json())
    assert indicator(before[early.id], "plans_on_time")["value"] is None

    client.put(f"{SCHEMES}/{YEAR}", json=_body(), headers=headers)

    after = {
        e["application_id"]: e
        for e in client.get(EVALUATIONS, params={"year": YEAR}, headers=headers).json()["items"]
    }
    assert indicator(after[early.id], "plans_on_time")["value"] == "100.0"
    assert indicator(after[late.id], "plans_on_time")["value"] == "0.0"
    assert indicator(after[late.id], "plans_filed")["value"] == "100.0"
    assert indicator(after[late.id], "plans_on_time")["weight"] == 10


def test_a_finalized_years_scheme_cannot_change(client: TestClient, db: Session) -> None:
    make_pilot(db)
    headers = office(db)
    evaluation = compute(client, headers).json()["evaluations"][0]
    score(client, headers, evaluation["id"], "75")
    client.post(f"{EVALUATIONS}/finalize", params={"year": YEAR}, headers=headers)
    stored = client.get(f"{SCHEMES}/{YEAR}", headers=headers).json()

    response = client.put(f"{SCHEMES}/{YEAR}", json=_body(), headers=headers)

    assert response.status_code == 409
    assert response.json()["current_state"] == "finalized"
    assert client.get(f"{SCHEMES}/{YEAR}", headers=headers).json() == stored
    assert stored["is_default"] is True and stored["finalized_at"] is not None


def test_creating_a_scheme_honours_if_none_match_and_if_match_zero(
    client: TestClient, db: Session
) -> None:
    url = f"{SCHEMES}/{YEAR}"
    headers = office(db)
    stale = client.put(url, json=_body(), headers={**headers, "If-Match": '"3"'})
    assert stale.status_code == 412, stale.text
    assert stale.json()["current_version"] == 0
    assert db.exec(select(EvaluationScheme)).all() == []  # nothing stored

    created = client.put(url, json=_body(), headers={**headers, "If-None-Match": "*"})
    assert created.status_code == 200, created.text
    version = created.json()["version"]

    for precondition in ({"If-None-Match": "*"}, {"If-Match": '"0"'}):
        refused = client.put(url, json=_body(plan_deadline=None), headers=headers | precondition)
        assert refused.status_code == 412, refused.text
        assert refused.json()["current_version"] == version
    db.expire_all()
    stored = db.exec(select(EvaluationScheme)).one()
    assert stored.version == version
    assert str(stored.plan_deadline) == "2022-03-31"

    other_year = client.put(
        f"{SCHEMES}/{YEAR + 1}", json=_body(), headers={**headers, "If-Match": '"0"'}
    )
    assert other_year.status_code == 200, other_year.text


def test_a_plan_filed_in_time_then_returned_and_filed_again_late_is_on_time(
    client: TestClient, db: Session
) -> None:
    headers = office(db)
    refiled = build_pilot(db, plan=False).pilot
    plan = file_plan(db, refiled, filed_at=datetime(2022, 4, 20, 2, 0, tzinfo=UTC))  # re-filed
    for action, at in (("file", datetime(2022, 3, 20, 2, 0)), ("return", datetime(2022, 4, 2))):
        db.add(
            AuditEvent(
                actor="college",
                action=action,
                entity="pilot_plan",
                entity_id=str(plan.id),
                created_at=at.replace(tzinfo=UTC),
                updated_at=at.replace(tzinfo=UTC),
            )
        )
    db.commit()
    late = build_pilot(db, plan=False).pilot
    file_plan(db, late, filed_at=datetime(2022, 4, 20, 2, 0, tzinfo=UTC))
    assert client.put(f"{SCHEMES}/{YEAR}", json=_body(), headers=headers).status_code == 200

    evaluations = by_application(compute(client, headers).json())

    assert indicator(evaluations[refiled.id], "plans_on_time")["value"] == "100.0"
    assert indicator(evaluations[late.id], "plans_on_time")["value"] == "0.0"
