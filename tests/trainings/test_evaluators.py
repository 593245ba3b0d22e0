"""Evaluator (考评员) qualifications: recorded with their own number, issuer and validity,
uploaded through the import engine, and counted as the evaluator coverage of each pilot
beside the trainer coverage (the report, its export and the application's detail)."""

import csv
import io
from datetime import date, timedelta

from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.applications.models import ApplicationStatus, PilotTeacher
from app.core.audit import AuditEvent
from app.core.roles import Role
from app.reference.models import Level
from app.trainings.models import EvaluatorQualification, TrainingStatus
from tests.applications.factories import make_application
from tests.exams.factories import school_today
from tests.imports.helpers import upload
from tests.reference.factories import (
    headers_for,
    make_certificate,
    make_college,
    make_major,
    make_teacher,
    manager_of,
    office,
)
from tests.trainings.factories import make_training

QUALIFICATIONS = "/api/v1/evaluator-qualifications"
REPORT = "/api/v1/reports/teacher-coverage"


def _body(teacher_id: int, certificate_id: int, number: str, **fields: object) -> dict:
    return {
        "teacher_id": teacher_id,
        "certificate_id": certificate_id,
        "level": "中级",
        "qualification_no": number,
        "issuer": "评价组织",
        "issued_on": "2022-07-15",
        **fields,
    }


def _assign(db: Session, application_id: int, teacher_id: int, *, trainer: bool) -> None:
    db.add(
        PilotTeacher(
            application_id=application_id, teacher_id=teacher_id, trainer=trainer, evaluator=True
        )
    )
    db.commit()


def test_a_qualification_is_recorded_changed_and_its_refusals(
    client: TestClient, db: Session
) -> None:
    college = make_college(db)
    teacher, other = make_teacher(db, college), make_teacher(db, make_college(db))
    certificate = make_certificate(db)
    headers = office(db)

    created = client.post(
        QUALIFICATIONS, json=_body(teacher.id, certificate.id, "KPY-1"), headers=headers
    )
    duplicate = client.post(
        QUALIFICATIONS, json=_body(other.id, certificate.id, "KPY-1"), headers=headers
    )
    senior = client.post(
        QUALIFICATIONS,
        json=_body(teacher.id, certificate.id, "KPY-2", level="高级"),
        headers=headers,
    )
    backwards = client.post(
        QUALIFICATIONS,
        json=_body(teacher.id, certificate.id, "KPY-3", valid_until="2022-01-01"),
        headers=headers,
    )
    manager = manager_of(db, college)
    by_manager_elsewhere = client.post(
        QUALIFICATIONS, json=_body(other.id, certificate.id, "KPY-4"), headers=manager
    )
    by_teacher = client.post(
        QUALIFICATIONS,
        json=_body(teacher.id, certificate.id, "KPY-5"),
        headers=headers_for(db, Role.teacher, teacher_id=teacher.id),
    )
    changed = client.patch(
        f"{QUALIFICATIONS}/{created.json()['id']}",
        json={"valid_until": "2025-07-14"},
        headers={**manager, "If-Match": created.headers["etag"]},
    )
    stale = client.patch(
        f"{QUALIFICATIONS}/{created.json()['id']}",
        json={"issuer": "别处"},
        headers={**headers, "If-Match": created.headers["etag"]},
    )

    assert created.status_code == 201, created.text
    assert created.json()["staff_no"] == teacher.staff_no
    assert duplicate.status_code == 409 and duplicate.json()["code"] == "duplicate"
    assert senior.status_code == 422
    assert backwards.status_code == 422
    assert by_manager_elsewhere.status_code == 422  # another college's teacher reads as missing
    assert by_teacher.status_code == 403
    assert changed.status_code == 200 and changed.json()["valid_until"] == "2025-07-14"
    assert stale.status_code == 412
    actions = db.exec(
        select(AuditEvent.action).where(AuditEvent.entity == "evaluator_qualification")
    ).all()
    assert sorted(actions) == ["create", "update"]


def test_who_reads_which_qualifications(client: TestClient, db: Session) -> None:
    college = make_college(db)
    teacher, other = make_teacher(db, college), make_teacher(db, make_college(db))
    certificate = make_certificate(db)
    headers = office(db)
    for person, number in ((teacher, "A-1"), (other, "A-2")):
        response = client.post(
            QUALIFICATIONS, json=_body(person.id, certificate.id, number), headers=headers
        )
        assert response.status_code == 201

    def numbers(h: dict[str, str]) -> list[str]:
        response = client.get(QUALIFICATIONS, headers=h)
        assert response.status_code == 200, response.text
        return [q["qualification_no"] for q in response.json()["items"]]

    assert sorted(numbers(headers_for(db, Role.auditor))) == ["A-1", "A-2"]
    assert numbers(manager_of(db, college)) == ["A-1"]
    assert numbers(headers_for(db, Role.teacher, teacher_id=teacher.id)) == ["A-1"]
    assert client.get(QUALIFICATIONS, headers=headers_for(db, Role.student)).status_code == 403


def test_evaluator_coverage_counts_valid_qualifications_at_or_above_the_level(
    client: TestClient, db: Session
) -> None:
    college = make_college(db)
    certificate = make_certificate(db)
    application = make_application(
        db,
        majors=[make_major(db, college)],
        certificate=certificate,
        level=Level.intermediate,
        status=ApplicationStatus.approved,
    )
    qualified, junior, expired, trainer_only = (make_teacher(db, college) for _ in range(4))
    for teacher in (qualified, junior, expired):
        _assign(db, application.id, teacher.id, trainer=False)
    db.add(PilotTeacher(application_id=application.id, teacher_id=trainer_only.id, trainer=True))
    db.commit()
    make_training(db, trainer_only, certificate, status=TrainingStatus.certified)
    today = school_today()
    for teacher, level, until, number in (
        (qualified, Level.intermediate, None, "Q-1"),
        (junior, Level.junior, None, "Q-2"),
        (expired, Level.intermediate, today - timedelta(days=1), "Q-3"),
    ):
        db.add(
            EvaluatorQualification(
                teacher_id=teacher.id,
                certificate_id=certificate.id,
                level=level,
                qualification_no=number,
                issuer="评价组织",
                issued_on=date(2022, 7, 15),
                valid_until=until,
            )
        )
    db.commit()
    headers = office(db)

    report = client.get(REPORT, headers=headers).json()
    pilot = next(p for p in report["pilots"] if p["application_id"] == application.id)
    detail = client.get(f"/api/v1/applications/{application.id}", headers=headers).json()
    exported = client.get(REPORT, params={"format": "csv"}, headers=headers)

    last_year = client.get(
        REPORT, params={"as_of": str(today - timedelta(days=2))}, headers=headers
    ).json()
    before_issue = client.get(REPORT, params={"as_of": "2022-07-14"}, headers=headers).json()
    evaluators = pilot["evaluators"]
    assert (evaluators["assigned"], evaluators["qualified"]) == (3, 1)
    assert evaluators["coverage_percent"] == 33.3 and evaluators["below_target"] is True
    assert sorted(evaluators["missing"]) == sorted(
        f"{t.name} ({t.staff_no})" for t in (junior, expired)
    )
    assert (pilot["assigned"], pilot["certified"]) == (4, 1)  # trainer coverage beside it
    assert detail["evaluator_coverage"]["coverage_percent"] == 33.3
    assert detail["teacher_coverage"]["certified"] == 1
    assert last_year["overall"]["evaluators_qualified"] == 2  # the expired one, valid then
    assert before_issue["overall"]["evaluators_qualified"] == 0  # none issued yet
    assert report["overall"]["evaluators_assigned"] == 3
    assert report["overall"]["evaluators_qualified"] == 1
    assert report["colleges"][0]["evaluator_coverage_percent"] == 33.3
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert "Evaluator coverage rate" in rows[0]
    assert rows[1][rows[0].index("Evaluator coverage rate")] == "0.333"


def test_qualifications_upload_and_a_second_upload_changes_nothing(
    client: TestClient, db: Session
) -> None:
    college = make_college(db)
    teacher = make_teacher(db, college)
    certificate = make_certificate(db, name="Web前端开发")
    content = (
        "考评员证书编号,工号,证书名称,级别,发证机构,发证日期,有效期至\n"
        f"KPY-2022-017,{teacher.staff_no},Web前端开发,中级,评价组织,2022-07-15,2025-07-14\n"
    ).encode()
    headers = office(db)

    first = upload(client, headers, "evaluator-qualifications", "q.csv", content)
    second = upload(client, headers, "evaluator-qualifications", "q.csv", content)
    bad = upload(
        client,
        headers,
        "evaluator-qualifications",
        "bad.csv",
        (
            "考评员证书编号,工号,证书名称,级别,发证机构,发证日期\n"
            "KPY-9,NOBODY,Web前端开发,中级,评价组织,2022-07-15\n"
        ).encode(),
    )
    other_college = upload(
        client,
        manager_of(db, make_college(db)),
        "evaluator-qualifications",
        "q.csv",
        content,
    )

    assert first.status_code == 200, first.text
    assert first.json()["created"] == 1
    assert second.json()["created"] == 0 and second.json()["unchanged"] == 1
    assert bad.status_code == 422
    assert other_college.status_code == 422
    stored = db.exec(select(EvaluatorQualification)).one()
    assert (stored.certificate_id, stored.valid_until) == (certificate.id, date(2025, 7, 14))
