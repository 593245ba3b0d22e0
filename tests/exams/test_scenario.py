"""The issue's Done-when, as a new user would do it through the HTTP API: a session for an
approved 2022 pilot, 30 students registered from an .xlsx, an ineligible one refused with the
reason, results with 24 passes, 24 certificates, one verified publicly, revoked, and seen
revoked."""

from datetime import timedelta
from typing import Any

from sqlmodel import Session, col, select
from starlette.testclient import TestClient

from app.core.audit import AuditEvent
from app.core.roles import Role
from app.exams.models import (
    ExamRegistration,
    ExamResult,
    ExamSession,
    IssuedCertificate,
    RegistrationStatus,
)
from tests.exams.factories import make_pilot, pilot_students, school_today
from tests.imports.helpers import upload
from tests.reference.factories import (
    headers_for,
    make_major,
    make_org,
    make_student,
    office,
    xlsx_bytes,
)


def _xlsx(header: list[str], rows: list[list[Any]]) -> bytes:
    return xlsx_bytes([header, *rows])


def test_done_when_scenario_end_to_end(client: TestClient, db: Session) -> None:
    application = make_pilot(db, headcount=40)
    students = pilot_students(db, application, 30)
    outsider = make_student(db, make_major(db, name="会计"), cohort=2021)
    office_headers = office(db)
    today = school_today()

    created = client.post(
        "/api/v1/exam-sessions",
        json={
            "application_id": application.id,
            "exam_date": str(today + timedelta(days=14)),
            "site": "实训楼A301",
            "capacity": 40,
            "registration_opens": str(today - timedelta(days=1)),
            "registration_closes": str(today + timedelta(days=7)),
            "fee": "260.00",
        },
        headers=office_headers,
    )
    assert created.status_code == 201, created.text
    exam = created.json()
    org_headers = headers_for(db, Role.evaluation_org, evaluation_org_id=exam["evaluation_org_id"])

    # an .xlsx with the ineligible student: refused with the reason, nothing written
    header = ["考核ID", "学号", "姓名"]
    rows = [[exam["id"], s.student_no, s.name] for s in students]
    bad = upload(
        client,
        office_headers,
        "exam-registrations",
        "class.xlsx",
        _xlsx(header, [*rows, [exam["id"], outsider.student_no, outsider.name]]),
    )
    assert bad.status_code == 422
    (error,) = bad.json()["errors"]
    assert error["row"] == 32
    assert "major 会计 is not among the pilot's majors" in error["reason"]
    assert db.exec(select(ExamRegistration)).all() == []

    registered = upload(
        client, office_headers, "exam-registrations", "class.xlsx", _xlsx(header, rows)
    )
    assert registered.status_code == 200, registered.text
    assert registered.json()["created"] == 30
    again = upload(client, office_headers, "exam-registrations", "class.xlsx", _xlsx(header, rows))
    assert (again.json()["created"], again.json()["unchanged"]) == (0, 30)
    registered_events = db.exec(
        select(AuditEvent).where(AuditEvent.entity == "exam_registration")
    ).all()
    assert len(registered_events) == 30

    single = client.post(
        f"/api/v1/exam-sessions/{exam['id']}/registrations",
        json={"student_id": outsider.id},
        headers=office_headers,
    )
    assert single.status_code == 409
    assert "会计" in single.json()["detail"]

    # results: 24 passes, uploaded by the session's own organisation
    result_header = ["考核ID", "学号", "理论成绩", "实操成绩", "是否通过"]
    result_rows = [
        [exam["id"], s.student_no, "85", "78.5", "是" if i < 24 else "否"]
        for i, s in enumerate(students)
    ]
    early = upload(
        client, org_headers, "exam-results", "results.xlsx", _xlsx(result_header, result_rows)
    )
    assert early.status_code == 422
    assert "results are recorded from the exam date on" in early.json()["errors"][0]["reason"]
    assert db.exec(select(ExamResult)).all() == []
    # two weeks later the exam has been held: move the session's calendar to today
    held = db.get(ExamSession, exam["id"])
    assert held is not None
    held.registration_opens = today - timedelta(days=15)
    held.registration_closes = today - timedelta(days=8)
    held.exam_date = today
    db.add(held)
    db.commit()
    result_rows = [
        [exam["id"], s.student_no, "85", "78.5", "是" if i < 24 else "否"]
        for i, s in enumerate(students)
    ]
    results = upload(
        client, org_headers, "exam-results", "results.xlsx", _xlsx(result_header, result_rows)
    )
    assert results.status_code == 200, results.text
    assert results.json()["created"] == 30
    passed = db.exec(select(ExamResult).where(col(ExamResult.passed).is_(True))).all()
    assert len(passed) == 24
    sat = db.exec(
        select(ExamRegistration).where(ExamRegistration.status == RegistrationStatus.sat)
    ).all()
    assert len(sat) == 30

    # 24 certificates
    cert_header = ["考核ID", "学号", "证书编号", "发证日期"]
    cert_rows = [
        [exam["id"], s.student_no, f"W0100112200{i:02d}", "2022-12-20"]
        for i, s in enumerate(students[:24])
    ]
    issued = upload(
        client, org_headers, "issued-certificates", "certs.xlsx", _xlsx(cert_header, cert_rows)
    )
    assert issued.status_code == 200, issued.text
    assert issued.json()["created"] == 24
    assert len(db.exec(select(IssuedCertificate)).all()) == 24
    issue_events = db.exec(select(AuditEvent).where(AuditEvent.action == "issue")).all()
    assert len(issue_events) == 24

    # verify one publicly, with no credential
    number = "W010011220000"
    public = client.get(f"/api/v1/public/certificates/{number}")
    assert public.status_code == 200, public.text
    body = public.json()
    name = students[0].name
    assert body == {
        "number": number,
        "holder": name[0] + "*" * (len(name) - 2) + name[-1],
        "certificate": body["certificate"],
        "level": "中级",
        "evaluation_org": body["evaluation_org"],
        "issue_date": "2022-12-20",
        "status": "valid",
    }
    assert students[0].student_no not in public.text

    # revoke it and see `revoked`
    certificate_id = db.exec(
        select(IssuedCertificate.id).where(IssuedCertificate.number == number)
    ).one()
    revoked = client.post(
        f"/api/v1/issued-certificates/{certificate_id}/revoke",
        json={"reason": "考核作弊，撤销证书"},
        headers=office_headers,
    )
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked"
    assert client.get(f"/api/v1/public/certificates/{number}").json()["status"] == "revoked"
    assert db.exec(select(AuditEvent).where(AuditEvent.action == "revoke")).one()


def test_another_organisations_results_are_refused_row_by_row(
    client: TestClient, db: Session
) -> None:
    application = make_pilot(db)
    from tests.exams.factories import make_registration, make_session

    exam = make_session(db, application)
    student, other = pilot_students(db, application, 2)
    make_registration(db, exam, student)
    make_registration(db, exam, other)
    stranger = headers_for(db, Role.evaluation_org, evaluation_org_id=make_org(db).id)
    content = _xlsx(
        ["考核ID", "学号", "是否通过"],
        [[exam.id, student.student_no, "是"], [exam.id, other.student_no, "否"]],
    )

    response = upload(client, stranger, "exam-results", "r.xlsx", content)

    assert response.status_code == 422
    errors = response.json()["errors"]
    assert [e["row"] for e in errors] == [2, 3]
    assert "uploads only for its own sessions" in errors[0]["reason"]
    assert db.exec(select(ExamResult)).all() == []
