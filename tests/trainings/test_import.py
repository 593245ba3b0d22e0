"""The teacher-trainings and training-enrollments uploads through the one import engine."""

from datetime import timedelta

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.applications.models import ApplicationStatus
from app.core.roles import Role
from app.trainings.models import TeacherTraining, TrainingEnrollment, TrainingStatus
from tests.applications.factories import make_application
from tests.exams.factories import school_today
from tests.imports.helpers import upload
from tests.reference.factories import (
    headers_for,
    make_certificate,
    make_college,
    make_major,
    make_student,
    make_teacher,
    manager_of,
    office,
)
from tests.trainings.factories import make_batch, make_training

TRAINING_HEADER = (
    "工号,证书名称,级别,培训机构,开始日期,结束日期,学时,状态,师资培训证书编号,有效期至\n"
)


def _training_csv(*rows: str) -> bytes:
    return (TRAINING_HEADER + "".join(row + "\n" for row in rows)).encode()


def test_trainings_upload_creates_rows_and_a_second_upload_changes_nothing(
    client: TestClient, db: Session
) -> None:
    certificate = make_certificate(db, name="Web前端开发")
    first, second = make_teacher(db, staff_no="T1001"), make_teacher(db, staff_no="T1002")
    content = _training_csv(
        "T1001,1+X Web前端开发证书,中级,新大陆,2022/7/11,2022年7月15日,40,已获证,WEB-001,"
        "2030-07-14",
        "T1002,Web前端开发,中级,新大陆,2022-07-11,2022-07-15,40,培训中,,",
    )
    headers = office(db)

    report = upload(client, headers, "teacher-trainings", "trainings.csv", content)
    again = upload(client, headers, "teacher-trainings", "trainings.csv", content)

    assert report.status_code == 200, report.text
    assert (report.json()["created"], report.json()["written"]) == (2, True)
    assert (again.json()["created"], again.json()["unchanged"]) == (0, 2)
    rows = {t.teacher_id: t for t in db.exec(select(TeacherTraining)).all()}
    assert rows[first.id].status == TrainingStatus.certified
    assert rows[first.id].trainer_certificate_no == "WEB-001"
    assert str(rows[first.id].certified_on) == "2022-07-15"
    assert rows[second.id].status == TrainingStatus.in_progress
    assert rows[first.id].certificate_id == certificate.id


def test_trainings_upload_refuses_an_issue_date_before_the_training_started(
    client: TestClient, db: Session
) -> None:
    make_certificate(db, name="Web前端开发")
    make_teacher(db, staff_no="T1001")
    content = (
        "工号,证书名称,级别,开始日期,结束日期,学时,状态,师资培训证书编号,获证日期\n"
        "T1001,Web前端开发,中级,2022-07-11,2022-07-15,40,已获证,WEB-001,2022-07-01\n"
    ).encode()

    response = upload(client, office(db), "teacher-trainings", "t.csv", content)

    assert response.status_code == 422, response.text
    error = response.json()["errors"][0]
    assert "before the training's start 2022-07-11" in error["reason"]
    assert db.exec(select(TeacherTraining)).all() == []


@pytest.mark.parametrize(
    ("end", "issued", "said"),
    [("2022-07-15", "{tomorrow}", ""), ("{tomorrow}", "", "no issue date is given")],
)
def test_trainings_upload_refuses_an_issue_date_after_today(
    client: TestClient, db: Session, end: str, issued: str, said: str
) -> None:
    make_certificate(db, name="Web前端开发")
    make_teacher(db, staff_no="T1001")
    tomorrow = str(school_today() + timedelta(days=1))
    row = f"T1001,Web前端开发,中级,2022-07-11,{end},40,已获证,WEB-001,{issued}"
    content = (
        "工号,证书名称,级别,开始日期,结束日期,学时,状态,师资培训证书编号,获证日期\n"
        + row.format(tomorrow=tomorrow)
        + "\n"
    ).encode()

    response = upload(client, office(db), "teacher-trainings", "t.csv", content)

    assert response.status_code == 422, response.text
    error = response.json()["errors"][0]
    assert said in error["reason"]
    assert f"the issue date {tomorrow} is after today" in error["reason"]
    assert db.exec(select(TeacherTraining)).all() == []


def test_trainings_upload_reads_certificate_numbers_as_the_api_takes_them(
    client: TestClient, db: Session
) -> None:
    make_certificate(db, name="Web前端开发")
    make_teacher(db, staff_no="T1001")
    make_teacher(db, staff_no="T1002")
    header = "工号,证书名称,级别,开始日期,结束日期,学时,状态,师资培训证书编号\n"
    spaced = (header + "T1001,Web前端开发,中级,2022-07-11,2022-07-15,40,已获证,WEB 001\n").encode()
    numeric = (
        header
        + "T1001,Web前端开发,中级,2022-07-11,2022-07-15,40,已获证,2022001.0\n"
        + "T1002,Web前端开发,中级,2022-07-11,2022-07-15,40,已获证,浙Web-002\n"
    ).encode()
    headers = office(db)

    refused = upload(client, headers, "teacher-trainings", "t.csv", spaced)
    nothing = db.exec(select(TeacherTraining)).all()
    accepted = upload(client, headers, "teacher-trainings", "t.csv", numeric)

    assert refused.status_code == 422
    assert "no spaces" in refused.json()["errors"][0]["reason"]
    assert nothing == []
    assert accepted.status_code == 200, accepted.text
    numbers = db.exec(select(TeacherTraining.trainer_certificate_no)).all()
    assert sorted(n or "" for n in numbers) == ["2022001", "浙Web-002"]


def test_trainings_upload_refuses_bad_rows_and_writes_nothing(
    client: TestClient, db: Session
) -> None:
    certificate = make_certificate(db, name="Web前端开发")
    holder = make_teacher(db, staff_no="T1")
    make_teacher(db, staff_no="T2")
    make_training(db, holder, certificate, status=TrainingStatus.certified, number="TAKEN")
    content = _training_csv(
        "T2,Web前端开发,中级,,2022-07-11,2022-07-15,40,已获证,,",
        "T2,Web前端开发,中级,,2022-08-11,2022-08-01,40,计划,,",
        "T2,Web前端开发,中级,,2022-09-11,2022-09-15,40,已获证,TAKEN,",
        "T9,Web前端开发,中级,,2022-09-11,2022-09-15,40,计划,,",
        "T2,Web前端开发,高级,,2022-10-11,2022-10-15,40,计划,,",
    )

    response = upload(client, office(db), "teacher-trainings", "t.csv", content)

    assert response.status_code == 422
    reasons = [e["reason"] for e in response.json()["errors"]]
    assert len(reasons) == 5
    assert "needs its trainer certificate number" in reasons[0]
    assert "before the start date" in reasons[1]
    assert f"already held by {holder.name} (T1)" in reasons[2]
    assert "unknown staff number T9" in reasons[3]
    assert "not at Senior" in reasons[4]
    assert len(db.exec(select(TeacherTraining)).all()) == 1


def test_college_manager_uploads_only_their_colleges_teachers(
    client: TestClient, db: Session
) -> None:
    mine, other = make_college(db), make_college(db)
    make_certificate(db, name="Web前端开发")
    make_teacher(db, mine, staff_no="T1")
    make_teacher(db, other, staff_no="T2")
    content = _training_csv(
        "T1,Web前端开发,中级,,2022-07-11,2022-07-15,40,计划,,",
        "T2,Web前端开发,中级,,2022-07-11,2022-07-15,40,计划,,",
    )

    response = upload(client, manager_of(db, mine), "teacher-trainings", "t.csv", content)

    assert response.status_code == 422
    errors = response.json()["errors"]
    assert [e["row"] for e in errors] == [3]
    assert "another college" in errors[0]["reason"]


def test_enrollments_upload_records_hours_and_completion(client: TestClient, db: Session) -> None:
    major = make_major(db)
    application = make_application(
        db, majors=[major], cohorts=(2021,), status=ApplicationStatus.approved
    )
    batch = make_batch(db, application, hours=32)
    make_student(db, major, student_no="S1", cohort=2021)
    make_student(db, major, student_no="S2", cohort=2021)
    content = "学号,姓名,出勤学时,结业\nS1,张伟,32,是\nS2,王静,20,否\n".encode()
    headers = office(db)

    report = upload(client, headers, "training-enrollments", "e.csv", content, batch_id=batch.id)
    again = upload(client, headers, "training-enrollments", "e.csv", content, batch_id=batch.id)

    assert report.status_code == 200, report.text
    assert report.json()["created"] == 2
    assert again.json()["unchanged"] == 2
    rows = db.exec(select(TrainingEnrollment).order_by(TrainingEnrollment.attended_hours)).all()
    assert [(r.attended_hours, r.completed) for r in rows] == [(20, False), (32, True)]


def test_enrollments_upload_refuses_ineligible_students_and_too_many_hours(
    client: TestClient, db: Session
) -> None:
    major = make_major(db)
    application = make_application(
        db, majors=[major], cohorts=(2021,), status=ApplicationStatus.approved
    )
    batch = make_batch(db, application, hours=16)
    make_student(db, major, student_no="S1", cohort=2021)
    other = make_major(db)
    make_student(db, other, student_no="S2", cohort=2021)
    make_student(db, major, student_no="S3", cohort=2019)
    content = "学号,出勤学时\nS1,17\nS2,8\nS3,8\nS4,8\n".encode()

    response = upload(
        client, office(db), "training-enrollments", "e.csv", content, batch_id=batch.id
    )

    assert response.status_code == 422
    reasons = [e["reason"] for e in response.json()["errors"]]
    assert "more than the batch's 16" in reasons[0]
    assert f"major {other.name} is not among the pilot's majors ({major.name})" in reasons[1]
    assert "cohort 2019级 is not among the pilot's cohorts (2021级)" in reasons[2]
    assert "unknown student number S4" in reasons[3]
    assert db.exec(select(TrainingEnrollment)).all() == []


def test_enrollments_upload_without_a_batch_is_refused(client: TestClient, db: Session) -> None:
    make_student(db, student_no="S1")

    response = upload(
        client, office(db), "training-enrollments", "e.csv", "学号,出勤学时\nS1,8\n".encode()
    )

    assert response.status_code == 422
    assert "?batch_id=" in response.json()["errors"][0]["reason"]


def test_templates_of_both_kinds_download(client: TestClient, db: Session) -> None:
    headers = office(db)
    for kind in ("teacher-trainings", "training-enrollments"):
        response = client.get(f"/api/v1/imports/{kind}/template", headers=headers)
        assert response.status_code == 200
        assert response.content[:2] == b"PK"


def test_a_teacher_may_not_upload_trainings(client: TestClient, db: Session) -> None:
    teacher = make_teacher(db, staff_no="T1")
    make_certificate(db, name="Web前端开发")
    content = _training_csv("T1,Web前端开发,中级,,2022-07-11,2022-07-15,40,计划,,")

    response = upload(
        client,
        headers_for(db, Role.teacher, teacher_id=teacher.id),
        "teacher-trainings",
        "t.csv",
        content,
    )

    assert response.status_code == 403
    assert db.exec(select(TeacherTraining)).all() == []


def test_a_college_manager_enrols_by_upload_only_whom_the_endpoint_lets_them(
    client: TestClient, db: Session
) -> None:
    mine, theirs = make_college(db), make_college(db)
    my_major, their_major = make_major(db, mine), make_major(db, theirs)
    shared = make_application(
        db, majors=[my_major, their_major], cohorts=(2021,), status=ApplicationStatus.approved
    )
    foreign = make_application(
        db, majors=[their_major], cohorts=(2021,), status=ApplicationStatus.approved
    )
    batch, foreign_batch = make_batch(db, shared), make_batch(db, foreign)
    make_student(db, my_major, student_no="M1", cohort=2021)
    make_student(db, their_major, student_no="T1", cohort=2021)
    headers = manager_of(db, mine)
    content = "学号,出勤学时\nM1,8\nT1,8\n".encode()

    by_upload = upload(client, headers, "training-enrollments", "e.csv", content, batch_id=batch.id)
    foreign_upload = upload(
        client,
        headers,
        "training-enrollments",
        "e.csv",
        "学号,出勤学时\nM1,8\n".encode(),
        batch_id=foreign_batch.id,
    )
    one_at_a_time = client.post(
        f"/api/v1/training-batches/{foreign_batch.id}/enrollments",
        json={"student_id": 1},
        headers=headers,
    )

    assert by_upload.status_code == 422
    (error,) = by_upload.json()["errors"]  # their college's student, as if there were none
    assert (error["row"], error["reason"]) == (3, "unknown student number T1")
    assert foreign_upload.status_code == 422
    (error,) = foreign_upload.json()["errors"]  # a batch the endpoint answers 404 for
    assert error["reason"] == f"no training batch {foreign_batch.id}"
    assert one_at_a_time.status_code == 404
    assert db.exec(select(TrainingEnrollment)).all() == []


CERTIFIED = (
    "工号,证书名称,级别,开始日期,结束日期,学时,状态,师资培训证书编号,有效期至\n"
    "T1001,Web前端开发,中级,2022-07-11,2022-07-15,40,已获证,WEB-001,2025-07-14\n"
)


def _one_training(db: Session) -> TeacherTraining:
    (row,) = db.exec(select(TeacherTraining)).all()
    db.refresh(row)
    return row


def test_a_plan_list_without_status_keeps_a_certified_training_as_it_is(
    client: TestClient, db: Session
) -> None:
    make_certificate(db, name="Web前端开发")
    make_teacher(db, staff_no="T1001")
    headers = office(db)
    first = upload(client, headers, "teacher-trainings", "a.csv", CERTIFIED.encode())
    assert first.json()["written"]
    plan_only = (
        "工号,证书名称,级别,开始日期,结束日期,学时\n"
        "T1001,Web前端开发,中级,2022-07-11,2022-07-15,40\n"
    )

    again = upload(client, headers, "teacher-trainings", "b.csv", plan_only.encode())

    assert again.status_code == 200, again.text
    assert (again.json()["unchanged"], again.json()["updated"]) == (1, 0)
    row = _one_training(db)
    assert row.status == TrainingStatus.certified
    assert (row.trainer_certificate_no, str(row.certified_on)) == ("WEB-001", "2022-07-15")


def test_an_upload_moves_a_training_forward_only_and_a_certified_one_keeps_its_plan(
    client: TestClient, db: Session
) -> None:
    make_certificate(db, name="Web前端开发")
    make_teacher(db, staff_no="T1001")
    headers = office(db)
    header = "工号,证书名称,级别,开始日期,结束日期,学时,状态,师资培训证书编号,有效期至\n"
    row = "T1001,Web前端开发,中级,2022-07-11,2022-07-15,{hours},{status},{number},{until}\n"

    def sheet(hours: int = 40, status: str = "已获证", number: str = "WEB-001") -> bytes:
        return (
            header + row.format(hours=hours, status=status, number=number, until="2025-07-14")
        ).encode()

    started = upload(
        client, headers, "teacher-trainings", "a.csv", sheet(status="培训中", number="")
    )
    finished = upload(client, headers, "teacher-trainings", "b.csv", sheet())
    back = upload(client, headers, "teacher-trainings", "c.csv", sheet(status="培训中", number=""))
    longer = upload(client, headers, "teacher-trainings", "d.csv", sheet(hours=48))
    new_number = upload(client, headers, "teacher-trainings", "e.csv", sheet(number="WEB-002"))

    assert started.json()["created"] == 1
    assert (
        finished.status_code == 200 and finished.json()["updated"] == 1
    )  # in progress → certified
    assert back.status_code == 422
    assert "cannot go back to In training" in back.json()["errors"][0]["reason"]
    assert longer.status_code == 422
    assert "it cannot change hours" in longer.json()["errors"][0]["reason"]
    assert new_number.status_code == 200, new_number.text  # a certified one's details change
    stored = _one_training(db)
    assert (stored.status, stored.hours) == (TrainingStatus.certified, 40)
    assert stored.trainer_certificate_no == "WEB-002"
