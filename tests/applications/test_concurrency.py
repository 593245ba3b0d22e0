"""Concurrent writers: the unique key and the state machine hold when requests race."""

import dataclasses
import threading
import time
from collections import Counter
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import Session, col, select
from starlette.testclient import TestClient

from app.applications.models import (
    ApplicationStatus,
    PilotApplication,
    PilotPlan,
    PilotTeacher,
    PlanCourse,
    PlanStatus,
)
from app.core.audit import AuditEvent
from app.core.roles import Principal
from app.imports.registry import KINDS
from app.reference.models import Major
from tests.applications.factories import major_courses, make_application
from tests.concurrency import Call, fire_concurrently
from tests.imports.helpers import upload
from tests.reference.factories import make_certificate, make_major, make_teacher, office


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


def _plan_with_courses(db: Session, application_id: int, major: Major) -> PilotPlan:
    plan = PilotPlan(application_id=application_id, major_id=major.id)
    db.add(plan)
    db.flush()
    for course in major_courses(db, major, 4):
        db.add(PlanCourse(plan_id=plan.id, course_id=course.id))
    db.commit()
    db.refresh(plan)
    db.commit()
    return plan


def _events(db: Session, entity: str, *actions: str) -> list[AuditEvent]:
    db.expire_all()
    return list(
        db.exec(
            select(AuditEvent)
            .where(AuditEvent.entity == entity, col(AuditEvent.action).in_(actions))
            .order_by(col(AuditEvent.id))
        ).all()
    )


@pytest.mark.slow
def test_closing_an_application_while_its_plans_are_filed_files_none_after_the_close(
    app: FastAPI, db: Session
) -> None:
    majors = [make_major(db) for _ in range(4)]
    application = make_application(db, majors=majors, status=ApplicationStatus.approved)
    assert application.id is not None
    plans = [_plan_with_courses(db, application.id, major) for major in majors]
    headers = office(db)
    calls = [Call("POST", f"/api/v1/plans/{p.id}/file", {"headers": headers}) for p in plans]
    calls.insert(
        2, Call("POST", f"/api/v1/applications/{application.id}/close", {"headers": headers})
    )

    responses = fire_concurrently(app, calls)

    assert responses[2].status_code == 200, responses[2].text
    filed = [r for i, r in enumerate(responses) if i != 2 and r.status_code == 200]
    refused = [r for i, r in enumerate(responses) if i != 2 and r.status_code != 200]
    assert all(r.status_code == 409 for r in refused), [r.text for r in refused]
    assert all(r.json()["application_status"] == "closed" for r in refused)
    (close,) = _events(db, "pilot_application", "close")
    files = _events(db, "pilot_plan", "file")
    assert len(files) == len(filed)
    assert all(event.id < close.id for event in files)  # nothing is filed once it is closed
    stored = db.exec(select(PilotPlan).where(PilotPlan.status == PlanStatus.filed)).all()
    assert len(stored) == len(filed)


@pytest.mark.slow
def test_racing_edits_and_submit_of_a_draft_leave_no_edit_after_the_submit(
    app: FastAPI, db: Session
) -> None:
    application = make_application(db)
    headers = office(db)
    url = f"/api/v1/applications/{application.id}"
    etag = {"If-Match": f'"{application.version}"', **headers}
    calls = [Call("PATCH", url, {"headers": etag, "json": {"headcount": 41 + i}}) for i in range(6)]
    calls.insert(3, Call("POST", f"{url}/submit", {"headers": headers}))

    responses = fire_concurrently(app, calls)

    assert responses[3].status_code == 200, responses[3].text
    edits = [r.status_code for i, r in enumerate(responses) if i != 3]
    assert edits.count(200) <= 1  # one If-Match version admits one edit
    assert set(edits) <= {200, 409, 412}
    (submit,) = _events(db, "pilot_application", "submit")
    updates = _events(db, "pilot_application", "update")
    assert len(updates) == edits.count(200)
    assert all(event.id < submit.id for event in updates)
    stored = db.get(PilotApplication, application.id)
    assert stored is not None and stored.status == ApplicationStatus.submitted
    won = [(event.after or {})["headcount"] for event in updates]
    assert stored.headcount == (won[0] if won else 40)


@pytest.mark.slow
def test_acknowledge_and_return_racing_on_a_filed_plan_leave_one_decision(
    app: FastAPI, db: Session
) -> None:
    major = make_major(db)
    application = make_application(db, majors=[major], status=ApplicationStatus.approved)
    assert application.id is not None
    plan = _plan_with_courses(db, application.id, major)
    plan.status = PlanStatus.filed
    db.add(plan)
    db.commit()
    headers = office(db)
    url = f"/api/v1/plans/{plan.id}"
    calls = [
        Call("POST", f"{url}/acknowledge", {"headers": headers}),
        Call("POST", f"{url}/return", {"headers": headers, "json": {"reason": "补充预算"}}),
    ] * 4

    responses = fire_concurrently(app, calls)

    assert Counter(r.status_code for r in responses) == {200: 1, 409: 7}
    (decision,) = _events(db, "pilot_plan", "acknowledge", "return")
    stored = db.get(PilotPlan, plan.id)
    expected = {"acknowledge": PlanStatus.acknowledged, "return": PlanStatus.returned}
    assert stored is not None and stored.status == expected[decision.action]


@pytest.mark.slow
def test_concurrent_plans_for_one_major_and_assignments_of_one_teacher_make_one_each(
    app: FastAPI, db: Session
) -> None:
    major = make_major(db)
    application = make_application(db, majors=[major], status=ApplicationStatus.approved)
    teacher = make_teacher(db)
    headers = office(db)
    plan = {"application_id": application.id, "major_id": major.id}
    assign = {"teacher_id": teacher.id, "roles": ["trainer"]}
    calls = [Call("POST", "/api/v1/plans", {"headers": headers, "json": plan})] * 5 + [
        Call(
            "POST",
            f"/api/v1/applications/{application.id}/teachers",
            {"headers": headers, "json": assign},
        )
    ] * 5

    responses = fire_concurrently(app, calls)

    assert Counter(r.status_code for r in responses[:5]) == {201: 1, 409: 4}
    assert Counter(r.status_code for r in responses[5:]) == {201: 1, 409: 4}
    db.expire_all()
    assert len(db.exec(select(PilotPlan)).all()) == 1
    assert len(db.exec(select(PilotTeacher)).all()) == 1


def _table(headcount: int) -> bytes:
    lines = ["本科/高职/中职\t申报试点证书名称\t申报级别\t申报专业\t申报年级\t申报人数"]
    lines += [f"高职\t赛道证书{i}\t中级\t赛道专业{i}\t2021级\t{headcount + i}" for i in range(6)]
    return "\n".join(lines).encode()


@pytest.mark.slow
def test_submits_during_an_upload_wait_for_it_and_are_never_undone_by_it(
    app: FastAPI, client: TestClient, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The upload reads the applications it compares; submits sent while it works wait for
    it (PostgreSQL: the rows it read are locked), then submit what it wrote. Unlocked, they
    would commit in between and the upload would write them back to draft."""
    for i in range(6):
        make_major(db, name=f"赛道专业{i}")
    headers = office(db)
    first = upload(client, headers, "applications", "t.tsv", _table(30), year=2022)
    assert first.status_code == 200 and first.json()["created"] == 6, first.text
    ids = db.exec(select(PilotApplication.id).order_by(col(PilotApplication.id))).all()
    submits = [Call("POST", f"/api/v1/applications/{i}/submit", {"headers": headers}) for i in ids]
    kind = KINDS["applications"]
    answers: list[httpx.Response] = []
    workers: list[threading.Thread] = []

    def prepare_then_let_submits_in(session: Session, principal: Principal) -> Any:
        plan = kind.prepare(session, principal)
        worker = threading.Thread(target=lambda: answers.extend(fire_concurrently(app, submits)))
        worker.start()
        workers.append(worker)
        time.sleep(0.5)  # room for the submits to overtake the upload, were they not held
        return plan

    monkeypatch.setitem(
        KINDS, "applications", dataclasses.replace(kind, prepare=prepare_then_let_submits_in)
    )
    response = upload(client, headers, "applications", "t.tsv", _table(50), year=2022)
    workers[0].join()

    assert response.status_code == 200 and response.json()["updated"] == 6, response.text
    assert [r.status_code for r in answers] == [200] * 6, [r.text for r in answers]
    db.expire_all()
    stored = db.exec(select(PilotApplication).order_by(col(PilotApplication.id))).all()
    assert [(a.status, a.headcount) for a in stored] == [
        (ApplicationStatus.submitted, 50 + i) for i in range(6)
    ]
