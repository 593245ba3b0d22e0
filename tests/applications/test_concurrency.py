"""Concurrent writers: the unique key and the state machine hold when requests race."""

from collections import Counter

import pytest
from fastapi import FastAPI
from sqlmodel import Session, col, select

from app.applications.models import ApplicationStatus, PilotApplication
from app.core.audit import AuditEvent
from tests.applications.factories import make_application
from tests.concurrency import Call, fire_concurrently
from tests.reference.factories import make_certificate, make_major, office


@pytest.mark.slow
def test_concurrent_creates_of_the_same_key_make_one_application(app: FastAPI, db: Session) -> None:
    payload = {
        "year": 2022,
        "tier": "高职",
        "certificate_id": make_certificate(db).id,
        "level": "中级",
        "major_ids": [make_major(db).id],
        "cohorts": [2021],
        "headcount": 30,
    }
    create = Call("POST", "/api/v1/applications", {"json": payload, "headers": office(db)})

    responses = fire_concurrently(app, [create] * 8)

    assert Counter(r.status_code for r in responses) == {201: 1, 409: 7}
    assert len(db.exec(select(PilotApplication)).all()) == 1


@pytest.mark.slow
def test_concurrent_approve_and_reject_leave_one_decision(app: FastAPI, db: Session) -> None:
    application = make_application(db, status=ApplicationStatus.submitted)
    headers = office(db)
    url = f"/api/v1/applications/{application.id}"
    calls = [
        Call("POST", f"{url}/approve", {"headers": headers}),
        Call("POST", f"{url}/reject", {"headers": headers, "json": {"reason": "名额已满"}}),
    ] * 4

    responses = fire_concurrently(app, calls)

    assert Counter(r.status_code for r in responses) == {200: 1, 409: 7}
    db.expire_all()
    decisions = db.exec(
        select(AuditEvent.action).where(col(AuditEvent.action).in_(["approve", "reject"]))
    ).all()
    assert len(decisions) == 1
    stored = db.get(PilotApplication, application.id)
    expected = {"approve": ApplicationStatus.approved, "reject": ApplicationStatus.rejected}
    assert stored is not None and stored.status == expected[decisions[0]]
