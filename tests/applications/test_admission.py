"""A pilot admits the students of one of its majors and of one of its cohorts: one rule
(:mod:`app.applications.admission`), said in the same words whichever path puts a student in a
pilot — a training enrolment or an exam registration, one at a time or by upload — and the
same rule, as SQL, for the pilots a student reads."""

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.applications.admission import Admission, admission
from app.applications.models import ApplicationStatus, PilotApplication
from app.core.roles import Role
from app.exams.models import ExamRegistration
from app.reference.models import Major, Student
from app.trainings.models import TrainingEnrollment
from tests.applications.factories import make_application
from tests.exams.factories import make_session
from tests.imports.helpers import upload
from tests.reference.factories import headers_for, make_major, make_student, office
from tests.trainings.factories import make_batch

PILOT = Admission(majors={1: "软件技术", 2: "大数据技术"}, colleges={7}, cohorts={2021, 2020})


def test_an_admitted_student_has_no_problem_and_their_major_is_not_looked_up() -> None:
    def never(_major_id: int) -> str:
        raise AssertionError("the major's name is read only for a refusal")

    assert PILOT.problems(1, 2021, never) == []
    assert PILOT.problems(2, 2020, never) == []


def test_a_student_outside_the_pilot_is_told_which_major_and_cohort_it_takes() -> None:
    assert PILOT.problems(3, 2019, {3: "会计"}.get) == [
        "major 会计 is not among the pilot's majors (大数据技术、软件技术)",
        "cohort 2019级 is not among the pilot's cohorts (2020级、2021级)",
    ]
    assert PILOT.problems(1, 2019, {}.get) == [
        "cohort 2019级 is not among the pilot's cohorts (2020级、2021级)"
    ]
    # a major the database no longer has is named by its id
    assert PILOT.problems(9, 2021, {}.get) == [
        "major 9 is not among the pilot's majors (大数据技术、软件技术)"
    ]


def test_a_pilot_is_read_with_its_majors_colleges_and_cohorts(db: Session) -> None:
    first, second = make_major(db, name="软件技术"), make_major(db, name="大数据技术")
    application = make_application(db, majors=[first, second], cohorts=(2021, 2022))

    read = admission(db, application.id or 0)

    assert read.majors == {first.id: "软件技术", second.id: "大数据技术"}
    assert read.colleges == {first.college_id, second.college_id}
    assert read.cohorts == {2021, 2022}
    assert admission(db, 10_000_000) == Admission()  # no such pilot admits nobody


def _ineligible(db: Session) -> tuple[PilotApplication, Student, Student]:
    """An approved pilot of one major and cohort 2021, a student of another major (会计) and one
    of cohort 2019."""
    major = make_major(db, name="软件技术")
    application = make_application(
        db, majors=[major], cohorts=(2021,), status=ApplicationStatus.approved
    )
    other_major = make_student(db, make_major(db, name="会计"), student_no="A1", cohort=2021)
    other_cohort = make_student(db, major, student_no="A2", cohort=2019)
    return application, other_major, other_cohort


PROBLEMS = (
    "major 会计 is not among the pilot's majors (软件技术)",
    "cohort 2019级 is not among the pilot's cohorts (2021级)",
)


@pytest.mark.parametrize("path", ["enrolment", "registration"])
def test_a_student_outside_the_pilot_is_refused_in_the_same_words_alone_and_by_upload(
    client: TestClient, db: Session, path: str
) -> None:
    application, other_major, other_cohort = _ineligible(db)
    headers = office(db)
    if path == "enrolment":
        batch = make_batch(db, application)
        url, refused_with = f"/api/v1/training-batches/{batch.id}/enrollments", 422
        kind, options = "training-enrollments", {"batch_id": batch.id}
        content, written = "学号,出勤学时\nA1,8\nA2,8\n", TrainingEnrollment
    else:
        exam = make_session(db, application)
        url, refused_with = f"/api/v1/exam-sessions/{exam.id}/registrations", 409
        kind, options = "exam-registrations", {}
        content, written = f"考核ID,学号\n{exam.id},A1\n{exam.id},A2\n", ExamRegistration

    one_at_a_time = [
        client.post(url, json={"student_id": student.id}, headers=headers)
        for student in (other_major, other_cohort)
    ]
    uploaded = upload(client, headers, kind, "s.csv", content.encode(), **options)

    assert [r.status_code for r in one_at_a_time] == [refused_with, refused_with]
    assert uploaded.status_code == 422
    reasons = [e["reason"] for e in uploaded.json()["errors"]]
    for response, reason, problem in zip(one_at_a_time, reasons, PROBLEMS, strict=True):
        assert problem in response.json()["detail"]
        assert problem in reason
    assert db.exec(select(written)).all() == []


def test_a_student_reads_only_the_decided_pilots_that_admit_them(
    client: TestClient, db: Session
) -> None:
    major, other = make_major(db), make_major(db)
    student = make_student(db, major, cohort=2021)
    approved = ApplicationStatus.approved

    def pilot(majors: list[Major], cohorts: tuple[int, ...], status: ApplicationStatus) -> int:
        return make_application(db, majors=majors, cohorts=cohorts, status=status).id or 0

    admits = pilot([major, other], (2020, 2021), approved)
    pilot([major], (2020,), approved)  # another cohort
    pilot([other], (2021,), approved)  # another major
    pilot([major], (2021,), ApplicationStatus.submitted)  # not decided yet

    response = client.get(
        "/api/v1/applications", headers=headers_for(db, Role.student, student_id=student.id)
    )

    assert response.status_code == 200
    assert [item["id"] for item in response.json()["items"]] == [admits]
