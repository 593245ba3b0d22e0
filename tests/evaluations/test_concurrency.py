"""A year's writes never interleave: concurrent computes store one scheme and one evaluation
per pilot; committee scores racing a finalize either land before it or are refused."""

from collections import Counter
from decimal import Decimal

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from starlette.testclient import TestClient

from app.core.audit import AuditEvent
from app.evaluations.models import Evaluation, EvaluationScheme
from tests.concurrency import Call, fire_concurrently
from tests.evaluations.factories import EVALUATIONS, YEAR, build_pilot, compute, score
from tests.reference.factories import office

IN_FLIGHT = 20


@pytest.mark.slow
def test_concurrent_computes_store_one_scheme_and_one_evaluation_per_pilot(
    app: FastAPI, db: Session, engine: Engine
) -> None:
    pilots = [build_pilot(db, sat=2, passed=1).pilot.id for _ in range(3)]
    headers = office(db)
    calls = [
        Call("POST", f"{EVALUATIONS}/compute", {"params": {"year": YEAR}, "headers": headers})
        for _ in range(12)
    ]

    responses = fire_concurrently(app, calls, max_in_flight=IN_FLIGHT)

    assert Counter(r.status_code for r in responses) == {200: 12}
    assert len(db.exec(select(EvaluationScheme)).all()) == 1
    stored = db.exec(select(Evaluation.application_id)).all()
    assert sorted(stored) == sorted(pilots)


@pytest.mark.slow
def test_committee_scores_racing_finalize_land_before_it_or_are_refused(
    app: FastAPI, client: TestClient, db: Session, engine: Engine
) -> None:
    for _ in range(3):
        build_pilot(db, sat=4, passed=3)
    headers = office(db)
    evaluations = compute(client, headers).json()["evaluations"]
    for evaluation in evaluations:
        score(client, headers, evaluation["id"], "50")
    calls = [
        Call(
            "PUT",
            f"{EVALUATIONS}/{evaluations[i % 3]['id']}/committee-score",
            {"json": {"score": str(60 + i)}, "headers": headers},
        )
        for i in range(30)
    ]
    calls.insert(
        10, Call("POST", f"{EVALUATIONS}/finalize", {"params": {"year": YEAR}, "headers": headers})
    )

    responses = fire_concurrently(app, calls, max_in_flight=IN_FLIGHT)

    assert responses[10].status_code == 200, responses[10].text
    scored = [r for i, r in enumerate(responses) if i != 10]
    assert {r.status_code for r in scored} <= {200, 409}
    assert all(r.json()["current_state"] == "finalized" for r in scored if r.status_code == 409)
    finalize_event = db.exec(
        select(AuditEvent).where(
            AuditEvent.action == "finalize", AuditEvent.entity == "evaluation_scheme"
        )
    ).one()
    late = db.exec(
        select(AuditEvent).where(
            AuditEvent.action == "committee_score", col(AuditEvent.id) > finalize_event.id
        )
    ).all()
    assert late == []
    frozen = client.get(EVALUATIONS, params={"year": YEAR}, headers=headers).json()["items"]
    for item in frozen:
        row = db.get(Evaluation, item["id"])
        assert row is not None and row.finalized_at is not None
        last = db.exec(
            select(AuditEvent)
            .where(
                AuditEvent.entity == "evaluation",
                AuditEvent.entity_id == str(item["id"]),
                AuditEvent.action == "committee_score",
            )
            .order_by(col(AuditEvent.id).desc())
        ).first()
        assert last is not None
        assert Decimal(last.after["committee_score"]) == row.committee_score
        assert last.after["total"] == item["total"]


@pytest.mark.slow
def test_concurrent_scheme_puts_creating_a_year_never_silently_replace_each_other(
    app: FastAPI, db: Session, engine: Engine
) -> None:
    """Ten PUTs with different content create the same year's scheme at once: the first is
    stored; one that meant to create it and finds it stored meanwhile is refused (412), one that
    arrives after it was stored replaces it (no If-Match: last writer wins). Every answer that
    succeeded is one version of the row, and the row holds one of the answered contents."""
    headers = office(db)

    def body(deadline_day: int) -> dict[str, object]:
        return {
            "weights": {
                "plans_filed": 10,
                "plans_on_time": 5,
                "registration_rate": 15,
                "pass_rate": 15,
                "certificates_issued": 10,
                "teacher_coverage": 10,
                "budget_execution": 10,
                "conversions_approved": 5,
            },
            "committee_weight": 20,
            "thresholds": {"excellent": "90", "good": "75", "qualified": "60"},
            "plan_deadline": f"2022-03-{deadline_day:02d}",
        }

    calls = [
        Call("PUT", f"/api/v1/evaluation-schemes/{YEAR}", {"json": body(day), "headers": headers})
        for day in range(1, 11)
    ]

    responses = fire_concurrently(app, calls, max_in_flight=IN_FLIGHT)

    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) <= {200, 412}, statuses
    assert statuses[200] >= 1
    for refused in (r for r in responses if r.status_code == 412):
        assert refused.json()["current_version"] >= 2
    db.expire_all()
    scheme = db.exec(select(EvaluationScheme)).one()
    assert scheme.is_default is False
    assert scheme.version == 1 + statuses[200]  # stored from the defaults, then one per 200
    answered = {r.json()["plan_deadline"] for r in responses if r.status_code == 200}
    assert str(scheme.plan_deadline) in answered
    versions = sorted(r.json()["version"] for r in responses if r.status_code == 200)
    assert versions == list(range(2, 2 + statuses[200]))
    events = db.exec(
        select(AuditEvent.action).where(AuditEvent.entity == "evaluation_scheme")
    ).all()
    assert Counter(events) == Counter({"create": 1, "update": statuses[200] - 1}) - Counter()


@pytest.mark.slow
def test_concurrent_scheme_puts_with_the_same_if_match_let_exactly_one_through(
    app: FastAPI, client: TestClient, db: Session, engine: Engine
) -> None:
    headers = office(db)
    url = f"/api/v1/evaluation-schemes/{YEAR}"
    current = client.get(url, headers=headers).json()
    body = {
        "weights": {w["key"]: w["weight"] for w in current["weights"]},
        "committee_weight": current["committee_weight"],
        "thresholds": current["thresholds"],
    }
    created = client.put(url, json=body, headers={**headers, "If-None-Match": "*"})
    assert created.status_code == 200, created.text
    etag = created.headers["ETag"]
    calls = [
        Call(
            "PUT",
            url,
            {
                "json": {**body, "plan_deadline": f"2022-04-{day:02d}"},
                "headers": {**headers, "If-Match": etag},
            },
        )
        for day in range(1, 11)
    ]

    responses = fire_concurrently(app, calls, max_in_flight=IN_FLIGHT)

    assert Counter(r.status_code for r in responses) == {200: 1, 412: 9}
    winner = next(r for r in responses if r.status_code == 200).json()
    db.expire_all()
    scheme = db.exec(select(EvaluationScheme)).one()
    assert str(scheme.plan_deadline) == winner["plan_deadline"]
    assert scheme.version == winner["version"] == int(etag.strip('"')) + 1
