"""Each rule of trainings is written once (:mod:`app.trainings.rules`): its boundaries, and the
same words whether a training, a qualification or an enrolment comes one at a time or in an
upload."""

from datetime import date, timedelta

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.applications.models import ApplicationStatus
from app.applications.rules import approved_problem
from app.trainings.models import TeacherTraining, TrainingEnrollment, TrainingStatus
from app.trainings.rules import (
    admission_problem,
    attended_problem,
    dates_problem,
    issue_date_problem,
    own_pilot_problem,
    trainer_number_problem,
    validity_problem,
)
from tests.applications.factories import make_application
from tests.exams.factories import school_today
from tests.imports.helpers import upload
from tests.reference.factories import (
    make_certificate,
    make_major,
    make_student,
    make_teacher,
    office,
)
from tests.trainings.factories import BATCHES, TRAININGS, make_batch, make_training

DAY = date(2026, 5, 1)


def test_a_training_ends_on_or_after_its_start_and_a_certificate_lasts_from_its_issue() -> None:
    assert dates_problem(DAY, DAY) is None
    assert dates_problem(DAY, None) is None
    assert dates_problem(DAY, DAY - timedelta(days=1)) == (
        "the end date 2026-04-30 is before the start date 2026-05-01; a training ends on or "
        "after it starts"
    )
    assert validity_problem(DAY, DAY) is None
    assert validity_problem(DAY, None) is None
    assert validity_problem(None, DAY) is None
    assert validity_problem(DAY, DAY - timedelta(days=1)) == (
        "valid until 2026-04-30 is before the issue date 2026-05-01"
    )


@pytest.mark.parametrize(
    ("issued_on", "expected"),
    [
        (date(2026, 4, 30), "the issue date 2026-04-30 is before the training's start 2026-05-01"),
        (date(2026, 5, 1), None),
        (date(2026, 6, 1), None),
        (
            date(2026, 6, 2),
            "the issue date 2026-06-02 is after today (2026-06-01); a certificate is recorded "
            "once it is issued",
        ),
    ],
)
def test_a_certificate_is_issued_from_the_trainings_start_to_today(
    issued_on: date, expected: str | None
) -> None:
    assert issue_date_problem(issued_on, DAY, date(2026, 6, 1)) == expected


def test_a_trainer_number_is_refused_only_when_another_training_holds_it() -> None:
    assert trainer_number_problem("TC-1", None, None) is None
    assert trainer_number_problem("TC-1", "张伟", "T1") == (
        "trainer certificate number TC-1 is already held by 张伟 (T1); certificate numbers are "
        "unique"
    )
    assert "held by T1 (T1)" in (trainer_number_problem("TC-1", None, "T1") or "")


def test_a_batch_is_run_for_an_approved_pilot_of_the_managers_college() -> None:
    assert approved_problem(7, ApplicationStatus.approved) is None
    assert approved_problem(7, ApplicationStatus.closed) == (
        "pilot application 7 is Closed, not approved"
    )
    assert own_pilot_problem(7, 2, {1, 2}) is None
    assert own_pilot_problem(7, 3, {1, 2}) == (
        "pilot application 7 has no major of your college (id 3); a college manager runs only "
        "their own college's pilots' batches and enrolments"
    )
    assert own_pilot_problem(7, None, {1, 2}) is not None


def test_a_student_is_enrolled_where_admitted_and_attends_at_most_the_batchs_hours() -> None:
    assert admission_problem("张伟", "S1", []) is None
    assert admission_problem("张伟", "S1", ["one", "two"]) == "student 张伟 (S1): one; two"
    assert attended_problem(32, 32) is None
    assert attended_problem(0, 32) is None
    assert attended_problem(33, 32) == "33 attended hours is more than the batch's 32 hours"


@pytest.mark.parametrize("refusal", ["not approved", "not admitted", "too many hours"])
def test_an_enrolment_is_refused_in_the_same_words_alone_and_by_upload(
    client: TestClient, db: Session, refusal: str
) -> None:
    major = make_major(db, name="软件技术")
    status = ApplicationStatus.closed if refusal == "not approved" else ApplicationStatus.approved
    application = make_application(db, majors=[major], cohorts=(2021,), status=status)
    batch = make_batch(db, application, hours=16)
    cohort = 2019 if refusal == "not admitted" else 2021
    student = make_student(db, major, student_no="S1", cohort=cohort)
    attended = 17 if refusal == "too many hours" else 8
    headers = office(db)

    alone = client.post(
        f"{BATCHES}/{batch.id}/enrollments",
        json={"student_id": student.id, "attended_hours": attended},
        headers=headers,
    )
    uploaded = upload(
        client,
        headers,
        "training-enrollments",
        "e.csv",
        f"学号,出勤学时\nS1,{attended}\n".encode(),
        batch_id=batch.id,
    )

    expected = {
        "not approved": approved_problem(application.id, ApplicationStatus.closed),
        "not admitted": admission_problem(
            student.name, "S1", ["cohort 2019级 is not among the pilot's cohorts (2021级)"]
        ),
        "too many hours": attended_problem(17, 16),
    }[refusal]
    assert alone.status_code == (409 if refusal == "not approved" else 422)
    assert alone.json()["detail"] == f"Cannot enrol: {expected}"
    assert uploaded.status_code == 422
    assert [e["reason"] for e in uploaded.json()["errors"]] == [expected]
    assert db.exec(select(TrainingEnrollment)).all() == []


@pytest.mark.parametrize("refusal", ["number taken", "issued before the start", "valid until"])
def test_a_certified_training_is_refused_in_the_same_words_alone_and_by_upload(
    client: TestClient, db: Session, refusal: str
) -> None:
    certificate = make_certificate(db, name="Web前端开发")
    holder = make_teacher(db, staff_no="T1")
    teacher = make_teacher(db, staff_no="T2")
    make_training(db, holder, certificate, status=TrainingStatus.certified, number="TAKEN")
    training = make_training(db, teacher, certificate, status=TrainingStatus.in_progress)
    number = "TAKEN" if refusal == "number taken" else "TC-NEW"
    issued = "2022-02-28" if refusal == "issued before the start" else "2022-03-05"
    until = "2022-03-04" if refusal == "valid until" else "2030-03-04"
    headers = office(db)

    alone = client.post(
        f"{TRAININGS}/{training.id}/certify",
        json={"trainer_certificate_no": number, "certified_on": issued, "valid_until": until},
        headers=headers,
    )
    uploaded = upload(
        client,
        headers,
        "teacher-trainings",
        "t.csv",
        (
            "工号,证书名称,级别,开始日期,结束日期,学时,状态,师资培训证书编号,获证日期,有效期至\n"
            f"T2,Web前端开发,中级,2022-03-01,2022-03-05,40,已获证,{number},{issued},{until}\n"
        ).encode(),
    )

    expected = {
        "number taken": trainer_number_problem("TAKEN", holder.name, "T1"),
        "issued before the start": issue_date_problem(
            date(2022, 2, 28), date(2022, 3, 1), school_today()
        ),
        "valid until": validity_problem(date(2022, 3, 5), date(2022, 3, 4)),
    }[refusal]
    assert expected is not None
    assert alone.status_code == (409 if refusal == "number taken" else 422)
    assert alone.json()["detail"].endswith(f": {expected}")
    assert uploaded.status_code == 422
    assert [e["reason"] for e in uploaded.json()["errors"]] == [expected]
    db.expire_all()
    assert db.get(TeacherTraining, training.id).status == TrainingStatus.in_progress  # type: ignore[union-attr]
    assert len(db.exec(select(TeacherTraining)).all()) == 2
