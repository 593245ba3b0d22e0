"""Teacher coverage (师资培训覆盖率): the issue's Done-when scenario end to end, the report's
rules and its exports."""

from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.testclient import TestClient

from app.applications.models import ApplicationStatus
from app.core.roles import Role
from app.core.types import school_today
from app.reference.models import Level
from app.trainings.models import TrainingStatus
from tests.applications.factories import make_application
from tests.exams.factories import make_pilot, pilot_students
from tests.reference.factories import (
    counting,
    headers_for,
    make_certificate,
    make_college,
    make_major,
    make_teacher,
    manager_of,
    office,
)
from tests.trainings.factories import TRAININGS, assign, certify_over_http, make_training

REPORT = "/api/v1/reports/teacher-coverage"
APPLICATIONS = "/api/v1/applications"


def _pilot_row(client: TestClient, headers: dict[str, str], application_id: int) -> dict:
    response = client.get(REPORT, params={"year": 2022}, headers=headers)
    assert response.status_code == 200, response.text
    return next(p for p in response.json()["pilots"] if p["application_id"] == application_id)


def test_three_assigned_two_certified_is_66_7_then_100_then_an_expiry_drops_it(
    client: TestClient, db: Session
) -> None:
    college = make_college(db)
    certificate = make_certificate(db)
    application = make_application(
        db,
        majors=[make_major(db, college)],
        certificate=certificate,
        status=ApplicationStatus.approved,
    )
    teachers = [make_teacher(db, college) for _ in range(3)]
    headers = office(db)
    for teacher in teachers:
        assigned = client.post(
            f"{APPLICATIONS}/{application.id}/teachers",
            json={"teacher_id": teacher.id, "roles": ["trainer"]},
            headers=headers,
        )
        assert assigned.status_code == 201, assigned.text
    certify_over_http(client, headers, teachers[0], certificate, "TC-0001")
    certify_over_http(client, headers, teachers[1], certificate, "TC-0002")
    third = f"{teachers[2].name} ({teachers[2].staff_no})"

    two = _pilot_row(client, headers, application.id)
    detail = client.get(f"{APPLICATIONS}/{application.id}", headers=headers).json()

    assert (two["assigned"], two["certified"], two["coverage_percent"]) == (3, 2, 66.7)
    assert two["missing"] == [third]
    assert two["below_target"] is True
    assert detail["teacher_coverage"]["coverage_percent"] == 66.7
    assert detail["teacher_coverage"]["missing"] == [third]

    last = certify_over_http(
        client, headers, teachers[2], certificate, "TC-0003", certified_on="2022-03-05"
    )
    full = _pilot_row(client, headers, application.id)
    detail = client.get(f"{APPLICATIONS}/{application.id}", headers=headers).json()

    assert (full["certified"], full["coverage_percent"], full["missing"]) == (3, 100.0, [])
    assert full["below_target"] is False
    assert detail["teacher_coverage"]["coverage_percent"] == 100.0

    yesterday = school_today("Asia/Shanghai") - timedelta(days=1)
    expired = client.patch(
        f"{TRAININGS}/{last['id']}",
        json={"valid_until": yesterday.isoformat()},
        headers={**headers, "If-Match": f'"{last["version"]}"'},
    )
    dropped = _pilot_row(client, headers, application.id)
    detail = client.get(f"{APPLICATIONS}/{application.id}", headers=headers).json()

    assert expired.status_code == 200, expired.text
    assert expired.json()["valid_today"] is False
    assert (dropped["certified"], dropped["coverage_percent"]) == (2, 66.7)
    assert dropped["missing"] == [third]
    assert detail["teacher_coverage"]["missing"] == [third]


def test_a_certificate_valid_until_today_still_counts(client: TestClient, db: Session) -> None:
    certificate = make_certificate(db)
    application = make_application(db, certificate=certificate, status=ApplicationStatus.approved)
    teacher = make_teacher(db)
    assign(db, application, teacher)
    make_training(
        db,
        teacher,
        certificate,
        status=TrainingStatus.certified,
        valid_until=school_today("Asia/Shanghai"),
    )

    row = _pilot_row(client, office(db), application.id)

    assert (row["certified"], row["coverage_percent"]) == (1, 100.0)


def test_a_training_below_the_pilots_level_or_for_another_certificate_does_not_count(
    client: TestClient, db: Session
) -> None:
    certificate = make_certificate(db)
    application = make_application(
        db, certificate=certificate, status=ApplicationStatus.approved, level=Level.intermediate
    )
    junior, other_cert, planned, higher = (make_teacher(db) for _ in range(4))
    assign(db, application, junior, other_cert, planned, higher)
    make_training(db, junior, certificate, level=Level.junior, status=TrainingStatus.certified)
    make_training(db, other_cert, make_certificate(db), status=TrainingStatus.certified)
    make_training(db, planned, certificate, status=TrainingStatus.in_progress)
    make_training(db, higher, certificate, level=Level.senior, status=TrainingStatus.certified)

    row = _pilot_row(client, office(db), application.id)

    assert (row["assigned"], row["certified"], row["coverage_percent"]) == (4, 1, 25.0)
    assert len(row["missing"]) == 3
    assert f"{higher.name} ({higher.staff_no})" not in row["missing"]


def test_a_pilot_with_nobody_assigned_is_flagged_with_no_percentage(
    client: TestClient, db: Session
) -> None:
    application = make_application(db, status=ApplicationStatus.approved)

    row = _pilot_row(client, office(db), application.id)

    assert (row["assigned"], row["coverage_percent"], row["below_target"]) == (0, None, True)


def test_report_totals_per_college_and_overall(client: TestClient, db: Session) -> None:
    first, second = make_college(db, "一学院"), make_college(db, "二学院")
    certificate = make_certificate(db)
    application = make_application(db, certificate=certificate, status=ApplicationStatus.approved)
    ok, missing = make_teacher(db, first), make_teacher(db, second)
    assign(db, application, ok, missing)
    make_training(db, ok, certificate, status=TrainingStatus.certified)

    body = client.get(REPORT, headers=office(db)).json()

    assert body["overall"] == {
        "pilots": 1,
        "pilots_below_target": 1,
        "assigned": 2,
        "certified": 1,
        "coverage_percent": 50.0,
        "evaluators_assigned": 0,
        "evaluators_qualified": 0,
        "evaluator_coverage_percent": None,
        "pilots_below_evaluator_target": 1,
    }
    by_college = {c["college_name"]: (c["assigned"], c["certified"]) for c in body["colleges"]}
    assert by_college == {"一学院": (1, 1), "二学院": (1, 0)}


def test_report_leaves_out_drafts_and_rejected_and_filters_by_year(
    client: TestClient, db: Session
) -> None:
    make_application(db, status=ApplicationStatus.draft)
    make_application(db, status=ApplicationStatus.rejected)
    kept = make_application(db, status=ApplicationStatus.approved, year=2023, cohorts=(2022,))
    headers = office(db)

    all_years = client.get(REPORT, headers=headers).json()
    in_2022 = client.get(REPORT, params={"year": 2022}, headers=headers).json()

    assert [p["application_id"] for p in all_years["pilots"]] == [kept.id]
    assert in_2022["pilots"] == []


def test_college_manager_sees_only_pilots_with_a_major_of_their_college(
    client: TestClient, db: Session
) -> None:
    mine, other = make_college(db), make_college(db)
    own = make_application(db, majors=[make_major(db, mine)], status=ApplicationStatus.approved)
    make_application(db, majors=[make_major(db, other)], status=ApplicationStatus.approved)

    body = client.get(REPORT, headers=manager_of(db, mine)).json()

    assert [p["application_id"] for p in body["pilots"]] == [own.id]


def test_teacher_and_student_may_not_read_the_coverage_report(
    client: TestClient, db: Session
) -> None:
    teacher = make_teacher(db)
    response = client.get(REPORT, headers=headers_for(db, Role.teacher, teacher_id=teacher.id))

    assert response.status_code == 403
    assert "teacher coverage" in response.json()["detail"]


@pytest.mark.usefixtures("chinese")
def test_coverage_report_exports_csv_and_xlsx(client: TestClient, db: Session) -> None:
    certificate = make_certificate(db, name="Web前端开发")
    application = make_application(db, certificate=certificate, status=ApplicationStatus.approved)
    teacher = make_teacher(db)
    assign(db, application, teacher)
    headers = office(db)

    csv = client.get(REPORT, params={"format": "csv"}, headers=headers)
    xlsx = client.get(REPORT, params={"format": "xlsx"}, headers=headers)

    assert csv.status_code == 200
    text = csv.content.decode("utf-8-sig")
    assert "覆盖率" in text and "Web前端开发" in text and teacher.name in text
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"


def test_coverage_report_statement_count_does_not_grow_with_pilots_or_teachers(
    client: TestClient, db: Session, engine: Engine
) -> None:
    headers = office(db)
    counts = []
    for pilots in (1, 6):
        for _ in range(pilots):
            certificate = make_certificate(db)
            application = make_application(
                db, certificate=certificate, status=ApplicationStatus.approved
            )
            teachers = [make_teacher(db) for _ in range(3)]
            assign(db, application, *teachers)
            make_training(db, teachers[0], certificate, status=TrainingStatus.certified)
        with counting(engine) as statements:
            response = client.get(REPORT, headers=headers)
        assert response.status_code == 200
        counts.append(len(statements))

    assert counts[0] == counts[1]


def test_a_student_sees_their_pilots_coverage_but_not_the_teachers_names(
    client: TestClient, db: Session
) -> None:
    application = make_pilot(db)
    (student,) = pilot_students(db, application, 1)
    teacher = make_teacher(db)
    assign(db, application, teacher)

    as_student = client.get(
        f"{APPLICATIONS}/{application.id}",
        headers=headers_for(db, Role.student, student_id=student.id),
    )
    as_office = client.get(f"{APPLICATIONS}/{application.id}", headers=office(db))

    assert as_student.status_code == 200, as_student.text
    assert as_student.json()["teacher_coverage"]["assigned"] == 1
    assert as_student.json()["teacher_coverage"]["missing"] is None
    assert as_office.json()["teacher_coverage"]["missing"] == [
        f"{teacher.name} ({teacher.staff_no})"
    ]
