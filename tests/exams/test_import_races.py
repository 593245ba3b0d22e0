"""The results and certificates uploads check what they read unlocked (to name each row's
problem) again under the registrations' row locks before writing: a candidate marked absent,
or a result corrected to a fail, between the check and the write is never written over."""

import dataclasses
from collections import Counter
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from starlette.testclient import TestClient

from app.applications.models import ApplicationStatus, PilotApplication
from app.exams.models import (
    ExamRegistration,
    ExamResult,
    IssuedCertificate,
    RegistrationStatus,
)
from app.imports import registry
from app.imports.engine import Plan
from app.reference.models import Student
from tests.concurrency import Call, fire_concurrently
from tests.exams.factories import (
    make_pilot,
    make_registration,
    make_result,
    make_session,
    pilot_students,
)
from tests.imports.helpers import count, upload
from tests.reference.factories import office, xlsx_bytes

RESULTS = ["考核ID", "学号", "是否通过"]
CERTIFICATES = ["考核ID", "学号", "证书编号", "发证日期"]


@pytest.fixture
def after_prepare(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Run ``change`` in the upload's own transaction right after the kind's ``prepare``
    read the database: what a concurrent request committing at that moment looks like."""

    def patch(kind_name: str, change: Callable[[Session], None]) -> None:
        kind = registry.KINDS[kind_name]

        def prepare(session: Session, principal: Any) -> Plan:
            plan = kind.prepare(session, principal)
            change(session)
            return plan

        monkeypatch.setitem(registry.KINDS, kind_name, dataclasses.replace(kind, prepare=prepare))

    return patch


def _candidates(db: Session, count_: int = 2) -> tuple[int, list[Student], list[ExamRegistration]]:
    application = make_pilot(db)
    exam = make_session(db, application, closes_in_days=0, exam_in_days=0)
    students = pilot_students(db, application, count_)
    registrations = [make_registration(db, exam, s) for s in students]
    assert exam.id is not None
    return exam.id, students, registrations


def test_a_candidate_marked_absent_during_a_results_upload_gets_no_result(
    client: TestClient, db: Session, after_prepare: Callable[..., None]
) -> None:
    session_id, students, registrations = _candidates(db)
    absent_id = registrations[1].id
    after_prepare(
        "exam-results",
        lambda s: s.execute(
            sa.update(ExamRegistration)
            .where(col(ExamRegistration.id) == absent_id)
            .values(status=RegistrationStatus.absent)
        ),
    )
    content = xlsx_bytes([RESULTS, *([session_id, s.student_no, "是"] for s in students)])

    response = upload(client, office(db), "exam-results", "r.xlsx", content)

    assert response.status_code == 409, response.text
    body = response.json()
    assert body["code"] == "changed_during_import"
    assert f"{absent_id} is absent" in body["detail"]
    assert count(db, ExamResult) == 0
    statuses = db.exec(select(ExamRegistration.status)).all()
    assert statuses == [RegistrationStatus.registered] * 2


def test_a_certificate_issued_during_an_upload_of_fails_keeps_its_pass(
    client: TestClient, db: Session, after_prepare: Callable[..., None]
) -> None:
    session_id, (student,), (registration,) = _candidates(db, 1)
    result = make_result(db, registration, passed=True)

    def issue(s: Session) -> None:
        s.add(
            IssuedCertificate(
                number="W-RACE-1",
                result_id=result.id,
                student_id=student.id,
                session_id=session_id,
                issue_date=date(2022, 12, 20),
            )
        )
        s.flush()

    after_prepare("exam-results", issue)
    content = xlsx_bytes([RESULTS, [session_id, student.student_no, "否"]])

    response = upload(client, office(db), "exam-results", "r.xlsx", content)

    assert response.status_code == 409, response.text
    assert "W-RACE-1" in response.json()["detail"]
    db.refresh(result)
    assert result.passed is True
    assert count(db, IssuedCertificate) == 0  # the upload's transaction was rolled back whole


def test_a_result_corrected_to_a_fail_during_a_certificates_upload_gets_no_certificate(
    client: TestClient, db: Session, after_prepare: Callable[..., None]
) -> None:
    session_id, students, registrations = _candidates(db)
    results = [make_result(db, r, passed=True) for r in registrations]
    failed_id = results[0].id
    after_prepare(
        "issued-certificates",
        lambda s: s.execute(
            sa.update(ExamResult).where(col(ExamResult.id) == failed_id).values(passed=False)
        ),
    )
    content = xlsx_bytes(
        [
            CERTIFICATES,
            *([session_id, s.student_no, f"W-{i}", "2022-12-20"] for i, s in enumerate(students)),
        ]
    )

    response = upload(client, office(db), "issued-certificates", "c.xlsx", content)

    assert response.status_code == 409, response.text
    assert response.json()["code"] == "changed_during_import"
    assert response.json()["certificate_numbers"] == ["W-0"]
    assert count(db, IssuedCertificate) == 0


def test_results_upload_racing_absents_never_gives_an_absent_candidate_a_result(
    app: FastAPI, db: Session, engine: Engine
) -> None:
    """On PostgreSQL the upload and the absents run at once; whichever commits first, no
    candidate ends both absent and with a result."""
    session_id, students, registrations = _candidates(db, 20)
    headers = office(db)
    content = xlsx_bytes([RESULTS, *([session_id, s.student_no, "是"] for s in students)])
    calls = [
        Call(
            "POST",
            "/api/v1/imports/exam-results",
            {"files": {"file": ("r.xlsx", content)}, "headers": headers},
        ),
        *(
            Call("POST", f"/api/v1/registrations/{r.id}/absent", {"headers": headers})
            for r in registrations[::2]
        ),
    ]

    uploaded, *absents = fire_concurrently(app, calls, max_in_flight=12)

    assert uploaded.status_code in {200, 409, 422}, uploaded.text
    assert all(r.status_code in {200, 409} for r in absents), Counter(
        r.status_code for r in absents
    )
    db.expire_all()
    rows = db.exec(
        select(ExamRegistration.status, ExamResult.id).outerjoin(
            ExamResult, col(ExamResult.registration_id) == ExamRegistration.id
        )
    ).all()
    for status, result_id in rows:
        assert (status == RegistrationStatus.sat) == (result_id is not None), rows
        assert status != RegistrationStatus.absent or result_id is None
    marked = sum(1 for r in absents if r.status_code == 200)
    assert sum(1 for s, _ in rows if s == RegistrationStatus.absent) == marked
    if uploaded.status_code == 200:  # every row written: the absents all came after it
        assert marked == 0
        assert all(s == RegistrationStatus.sat for s, _ in rows)
    else:  # refused whole: nobody sat
        assert all(s != RegistrationStatus.sat for s, _ in rows)


def test_a_pilot_closed_during_a_registrations_upload_registers_nobody(
    client: TestClient, db: Session, after_prepare: Callable[..., None]
) -> None:
    application = make_pilot(db)
    exam = make_session(db, application, closes_in_days=0, exam_in_days=0)
    students = pilot_students(db, application, 3)
    after_prepare(
        "exam-registrations",
        lambda s: s.execute(
            sa.update(PilotApplication)
            .where(col(PilotApplication.id) == application.id)
            .values(status=ApplicationStatus.closed)
        ),
    )
    content = xlsx_bytes([["考核ID", "学号"], *([exam.id, s.student_no] for s in students)])

    response = upload(client, office(db), "exam-registrations", "class.xlsx", content)

    assert response.status_code == 409, response.text
    assert response.json()["code"] == "not_eligible"
    assert "Closed" in response.json()["detail"]
    assert count(db, ExamRegistration) == 0


def test_racing_cancel_and_result_leave_one_consistent_outcome(
    app: FastAPI, db: Session, engine: Engine
) -> None:
    """A candidate is never both cancelled (seat freed) and given a result."""
    _session_id, _students, registrations = _candidates(db, 10)
    headers = office(db)
    calls = []
    for registration in registrations:
        calls.append(
            Call("POST", f"/api/v1/registrations/{registration.id}/cancel", {"headers": headers})
        )
        calls.append(
            Call(
                "PUT",
                f"/api/v1/registrations/{registration.id}/result",
                {"json": {"passed": True}, "headers": headers},
            )
        )

    responses = fire_concurrently(app, calls, max_in_flight=10)

    db.expire_all()
    for index, registration in enumerate(registrations):
        cancelled, result = responses[2 * index], responses[2 * index + 1]
        assert sorted([cancelled.status_code, result.status_code]) == [200, 409], (
            cancelled.text,
            result.text,
        )
        db.refresh(registration)
        has_result = db.exec(
            select(ExamResult).where(ExamResult.registration_id == registration.id)
        ).first()
        if cancelled.status_code == 200:
            assert registration.status == RegistrationStatus.cancelled
            assert registration.live is None and has_result is None
        else:
            assert registration.status == RegistrationStatus.sat and has_result is not None


def test_certificates_upload_racing_fail_corrections_never_certifies_a_fail(
    app: FastAPI, db: Session, engine: Engine
) -> None:
    session_id, students, registrations = _candidates(db, 12)
    for registration in registrations:
        make_result(db, registration, passed=True)
    headers = office(db)
    content = xlsx_bytes(
        [
            CERTIFICATES,
            *([session_id, s.student_no, f"W-R{i}", "2022-12-20"] for i, s in enumerate(students)),
        ]
    )
    calls = [
        Call(
            "POST",
            "/api/v1/imports/issued-certificates",
            {"files": {"file": ("c.xlsx", content)}, "headers": headers},
        ),
        *(
            Call(
                "PUT",
                f"/api/v1/registrations/{r.id}/result",
                {"json": {"passed": False}, "headers": headers},
            )
            for r in registrations[::3]
        ),
    ]

    uploaded, *corrections = fire_concurrently(app, calls, max_in_flight=6)

    assert uploaded.status_code in {200, 409, 422}, uploaded.text
    assert all(r.status_code in {200, 409} for r in corrections)
    db.expire_all()
    certified_fails = db.exec(
        select(IssuedCertificate.number)
        .join(ExamResult, col(ExamResult.id) == IssuedCertificate.result_id)
        .where(col(ExamResult.passed).is_(False))
    ).all()
    assert certified_fails == []
    failed = sum(1 for r in corrections if r.status_code == 200)
    if uploaded.status_code == 200:  # all 12 issued: every correction came after and was refused
        assert failed == 0 and count(db, IssuedCertificate) == 12
        assert all(r.json()["code"] == "certificate_issued" for r in corrections)
    else:
        assert count(db, IssuedCertificate) == 0
