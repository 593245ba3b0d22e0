"""Reconciliation with the national platform's list (issue 18, part 1): reading the list as
the office gets it, the four groups, the national id only hashed and masked, the export, and
applying rows through the exams' audited paths with their refusals."""

import io
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest
from fastapi import FastAPI
from openpyxl import load_workbook
from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.core.audit import AuditEvent
from app.core.roles import Role
from app.exams.models import ExamRegistration, ExamResult, ExamSession, IssuedCertificate
from app.reconciliation.models import NationalIdentity, ReconciliationRow
from app.reference.models import Certificate, Major, Student
from tests.concurrency import Call, fire_concurrently
from tests.exams.factories import (
    make_pilot,
    make_registration,
    make_result,
    make_session,
    pilot_students,
)
from tests.imports.helpers import upload
from tests.reference.factories import headers_for, make_college, make_major, office, xlsx_bytes

ID_NUMBER = "310101200301011234"
HEADER = ["序号", "姓名", "身份证号", "学号", "证书名称", "证书等级", "考核结果", "成绩",
          "证书编号", "发证日期", "培训评价组织"]  # fmt: skip


@dataclass
class World:
    exam: ExamSession
    certificate: Certificate
    students: list[Student]
    future: ExamSession
    future_student: Student


def _issue(
    db: Session, exam: ExamSession, student: Student, result: ExamResult, number: str
) -> None:
    db.add(
        IssuedCertificate(
            number=number,
            result_id=result.id,
            student_id=student.id,
            session_id=exam.id,
            issue_date=date(2022, 12, 20),
        )
    )
    db.commit()


def _world(db: Session) -> World:
    college = make_college(db)
    application = make_pilot(db, major=make_major(db, college))
    exam = make_session(db, application, opens_in_days=-40, closes_in_days=-30, exam_in_days=-20)
    students = pilot_students(db, application, 7)
    results = [make_result(db, make_registration(db, exam, s)) for s in students[:5]]
    results[2].passed = False
    db.add(results[2])
    db.commit()
    _issue(db, exam, students[0], results[0], "N0000")
    _issue(db, exam, students[3], results[3], "N0003")
    make_registration(db, exam, students[5])
    # two students of one name: a row naming only the name is ambiguous
    students[6].name = students[5].name
    db.add(students[6])
    db.commit()
    make_registration(db, exam, students[6])
    future = make_session(db, application, exam_in_days=10)
    future_student = pilot_students(db, application, 1)[0]
    make_registration(db, future, future_student)
    certificate = db.get(Certificate, exam.certificate_id)
    assert certificate is not None
    return World(exam, certificate, students, future, future_student)


def _platform_file(world: World) -> bytes:
    s = world.students
    cert = world.certificate.name
    rows = [
        ["2022年职业技能等级证书考核结果"],
        HEADER,
        [1, s[0].name, ID_NUMBER, s[0].student_no, cert, "中级", "通过", 80, "N0000", "2022-12-20"],
        [2, s[1].name, None, s[1].student_no, cert, "中级", "通过", 85, None, None],
        [3, s[2].name, None, s[2].student_no, cert, "中级", "合格", 80, "N0002", "2022年12月21日"],
        [4, s[3].name, None, s[3].student_no, cert, "中级", "通过", 80, "N0003", "2022-12-25"],
        [5, s[5].name, None, None, cert, "中级（二级）", "不通过", 40, None, None],
        [6, "陌生人", None, "X9999", cert, "中级", "通过", 90, "N9999", "2022-12-20"],
        [7, world.future_student.name, None, world.future_student.student_no, cert, "中级",
         "通过", 90, None, None],
    ]  # fmt: skip
    return xlsx_bytes(rows)


def _reconcile(client: TestClient, headers: dict[str, str], content: bytes) -> dict:
    response = client.post(
        "/api/v1/reconciliations",
        params={"year": 2022},
        files={"file": ("平台名单.xlsx", content)},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return response.json()


def _by_line(body: dict) -> dict[int, dict]:
    return {
        row["line"]: row for group in ("same", "different", "platform_only") for row in body[group]
    }


def test_the_list_falls_into_four_groups_field_by_field(client: TestClient, db: Session) -> None:
    world = _world(db)
    body = _reconcile(client, office(db), _platform_file(world))

    assert body["used_columns"]["national_id"] == "身份证号"
    assert body["used_columns"]["level"] == "证书等级"
    assert body["used_columns"]["theory_score"] == "成绩"
    assert body["ignored_columns"] == ["序号"]
    rows = _by_line(body)
    assert rows[3]["group"] == "same" and rows[3]["matched_by"] == "certificate_number"
    assert rows[4]["differences"] == ["score"]
    assert rows[5]["differences"] == ["result", "certificate_number", "issue_date"]
    assert rows[6]["differences"] == ["issue_date"]
    assert rows[7]["group"] == "platform_only" and rows[7]["ambiguous"] is True
    assert len(rows[7]["candidates"]) == 2
    assert rows[8]["group"] == "platform_only" and rows[8]["registration_id"] is None
    assert rows[9]["differences"] == ["result", "score"]
    assert rows[9]["registration_id"] is not None
    assert [r["local_student_no"] for r in body["local_only"]] == [world.students[4].student_no]
    assert body["counts"] == {
        "same": 1,
        "different": 4,
        "platform_only": 2,
        "local_only": 1,
        "ambiguous": 1,
    }
    again = client.get(f"/api/v1/reconciliations/{body['id']}", headers=office(db)).json()
    assert again == body


def test_the_national_id_is_never_stored_or_shown_in_clear(client: TestClient, db: Session) -> None:
    world = _world(db)
    body = _reconcile(client, office(db), _platform_file(world))

    assert ID_NUMBER not in str(body)
    assert _by_line(body)[3]["national_id"] == "3101**********1234"
    stored = db.exec(select(ReconciliationRow)).all()
    assert all(ID_NUMBER not in str(row.model_dump()) for row in stored)
    identity = db.exec(select(NationalIdentity)).one()
    assert identity.student_id == world.students[0].id
    exported = client.get(
        f"/api/v1/reconciliations/{body['id']}", params={"format": "csv"}, headers=office(db)
    )
    assert ID_NUMBER not in exported.text and "3101**********1234" in exported.text

    # Another person's number for the same student later is a difference, not applied.
    other = xlsx_bytes(
        [
            HEADER,
            [1, world.students[0].name, "110101199001011230", world.students[0].student_no,
             world.certificate.name, "中级", "通过", 80, "N0000", "2022-12-20"],
        ]
    )  # fmt: skip
    later = _reconcile(client, office(db), other)
    assert later["different"][0]["differences"] == ["national_id"]


def test_export_has_one_sheet_per_group(client: TestClient, db: Session) -> None:
    world = _world(db)
    body = _reconcile(client, office(db), _platform_file(world))

    chinese = {**office(db), "Accept-Language": "zh-CN"}
    path = f"/api/v1/reconciliations/{body['id']}"
    response = client.get(path, params={"format": "xlsx"}, headers=chinese)
    assert response.status_code == 200
    workbook = load_workbook(io.BytesIO(response.content))
    assert workbook.sheetnames == ["一致", "不一致", "仅平台有", "仅本系统有"]
    assert workbook["不一致"].max_row == 5
    assert workbook["一致"]["A1"].value == "平台行号"
    csv = client.get(path, params={"format": "csv"}, headers=chinese)
    assert csv.text.lstrip("\ufeff").startswith("分组,平台行号")
    english = client.get(path, params={"format": "xlsx"}, headers=office(db))
    assert load_workbook(io.BytesIO(english.content)).sheetnames == [
        "Same",
        "Different",
        "Only on the platform",
        "Only here",
    ]


def test_notes_and_outcomes_are_shown_in_the_readers_language(
    client: TestClient, db: Session
) -> None:
    """A note is kept as a message, not as the text of whoever reconciled: a clerk reconciles
    and applies in Chinese, a script reads the same rows in English, and both read their own
    language, in JSON and in the export."""
    world = _world(db)
    chinese = {**office(db), "Accept-Language": "zh-CN"}
    body = _reconcile(client, chinese, _platform_file(world))
    rows = _by_line(body)
    assert rows[7]["note"].startswith("按 name 在本系统有 2 条报名符合"), rows[7]["note"]
    applied = client.post(
        f"/api/v1/reconciliations/{body['id']}/apply",
        json={"row_ids": [rows[3]["id"], rows[4]["id"], rows[7]["id"]]},
        headers=chinese,
    ).json()
    reasons = {r["row_id"]: r["reason"] for r in applied["rows"]}
    assert reasons[rows[3]["id"]] == "平台与本系统一致"
    assert reasons[rows[4]["id"]] == "已录入成绩"
    assert reasons[rows[7]["id"]] == rows[7]["note"]

    path = f"/api/v1/reconciliations/{body['id']}"
    english = _by_line(client.get(path, headers=office(db)).json())
    assert english[7]["note"] == (
        f"2 registrations here fit by name ({', '.join(map(str, rows[7]['candidates']))}); "
        "none was chosen"
    )
    assert english[3]["outcome_reason"] == "the same on the platform and here"
    assert english[4]["outcome_reason"] == "result recorded"
    assert english[7]["outcome_reason"] == english[7]["note"]
    assert english[8]["note"] == "no registration here fits by student_no"
    again = _by_line(client.get(path, headers=chinese).json())
    assert again[4]["outcome_reason"] == "已录入成绩" and again[7]["note"] == rows[7]["note"]
    exported = client.get(path, params={"format": "csv"}, headers=office(db)).text
    assert "no registration here fits by student_no" in exported
    assert "本系统" not in exported
    stored = db.exec(select(ReconciliationRow).where(ReconciliationRow.line == 8)).one()
    assert stored.note == {
        "msgid": "no registration here fits by {by}",
        "params": {"by": "student_no"},
    }


def test_cells_that_could_not_be_read_are_shown_in_the_readers_language(
    client: TestClient, db: Session
) -> None:
    world = _world(db)
    s = world.students
    content = xlsx_bytes(
        [
            HEADER,
            [1, s[0].name, "12345", s[0].student_no, world.certificate.name, "中级", "通过", 80,
             "N0000", "2022-12-20"],
        ]
    )  # fmt: skip
    body = _reconcile(client, {**office(db), "Accept-Language": "zh-CN"}, content)
    assert [e["column"] for e in body["errors"]] == ["身份证号"]
    chinese_reason = body["errors"][0]["reason"]
    assert "18" in chinese_reason and "digits" not in chinese_reason

    path = f"/api/v1/reconciliations/{body['id']}"
    english = client.get(path, headers=office(db)).json()["errors"][0]
    assert english["reason"] == "an 18-character id number (digits, the last may be X)"
    assert english["message"] == english["reason"] and english["value"] == "12345"
    assert english["field"] == "row 2.身份证号" and english["row"] == 2
    again = client.get(path, headers={**office(db), "Accept-Language": "zh-CN"}).json()
    assert again["errors"][0]["reason"] == chinese_reason


def test_applying_goes_through_the_audited_paths_and_twice_changes_nothing(
    client: TestClient, db: Session
) -> None:
    world = _world(db)
    headers = office(db)
    body = _reconcile(client, headers, _platform_file(world))
    rows = _by_line(body)

    report = client.post(
        f"/api/v1/reconciliations/{body['id']}/apply",
        json={"group": "different"},
        headers=headers,
    ).json()
    outcomes = {r["row_id"]: r for r in report["rows"]}
    assert report["applied"] == 3 and report["refused"] == 1, report
    refused = outcomes[rows[9]["id"]]
    assert refused["outcome"] == "refused" and "exam date" in refused["reason"]
    db.expire_all()
    s = world.students
    results = {
        r.registration_id: r for r in db.exec(select(ExamResult)).all()
    }  # registration → result
    assert results[rows[4]["registration_id"]].theory_score == Decimal("85.0")
    assert results[rows[5]["registration_id"]].passed is True
    issued = {c.number: c for c in db.exec(select(IssuedCertificate)).all()}
    assert issued["N0002"].student_id == s[2].id
    assert issued["N0003"].issue_date == date(2022, 12, 25)
    events = db.exec(select(AuditEvent.entity, AuditEvent.action)).all()
    assert ("exam_result", "update") in events and ("issued_certificate", "issue") in events

    again = client.post(
        f"/api/v1/reconciliations/{body['id']}/apply",
        json={"group": "different"},
        headers=headers,
    ).json()
    assert again["applied"] == 0 and again["unchanged"] == 3 and again["refused"] == 1
    others = client.post(
        f"/api/v1/reconciliations/{body['id']}/apply",
        json={"row_ids": [rows[7]["id"], rows[8]["id"], body["local_only"][0]["id"]]},
        headers=headers,
    ).json()
    assert [r["code"] for r in others["rows"]] == [
        "ambiguous",
        "no_registration",
        "not_on_platform",
    ]
    shown = _by_line(client.get(f"/api/v1/reconciliations/{body['id']}", headers=headers).json())
    assert shown[4]["outcome"] == "unchanged" and shown[4]["outcome_code"] is None
    assert [shown[line]["outcome_code"] for line in (7, 8)] == ["ambiguous", "no_registration"]
    assert shown[9]["outcome_code"] == refused["code"]


def test_a_number_issued_here_to_another_student_never_matches_that_students_result(
    client: TestClient, db: Session
) -> None:
    """A row naming one student with the certificate number another holds here is matched
    by its student, not by the number: applying it records its scores on that student's
    result, refuses the certificate (the number is taken), and leaves the holder's as it was.
    Without a student number, a national id tied to another student or another name keeps
    the number from matching too."""
    world = _world(db)
    s = world.students
    cert = world.certificate.name
    content = xlsx_bytes(
        [
            HEADER,
            [1, s[1].name, None, s[1].student_no, cert, "中级", "通过", 85, "N0000", "2022-12-20"],
            [2, "另一个人", None, None, cert, "中级", "通过", 85, "N0003", "2022-12-25"],
            [3, s[3].name, None, None, cert, "中级", "通过", 80, "N0003", "2022-12-20"],
        ]
    )  # fmt: skip
    body = _reconcile(client, office(db), content)
    rows = _by_line(body)
    registration_of = {r.student_id: r.id for r in db.exec(select(ExamRegistration)).all()}
    named = rows[2]
    assert named["matched_by"] == "student_no"
    assert named["registration_id"] == registration_of[s[1].id]
    assert set(named["differences"]) == {"certificate_number", "score", "issue_date"}
    assert named["note"] == (
        f"certificate number N0000 is issued here to another student ({s[0].student_no})"
    )
    stranger = rows[3]
    assert stranger["registration_id"] is None and stranger["group"] == "platform_only"
    assert stranger["note"].startswith("certificate number N0003 is issued here to another")
    assert rows[4]["matched_by"] == "certificate_number"  # the holder, named: as before
    assert rows[4]["registration_id"] == registration_of[s[3].id]

    before = {r.registration_id: r.theory_score for r in db.exec(select(ExamResult)).all()}
    applied = client.post(
        f"/api/v1/reconciliations/{body['id']}/apply",
        json={"row_ids": [named["id"]]},
        headers=office(db),
    ).json()["rows"][0]
    assert applied["outcome"] == "refused" and applied["code"] == "import_rejected", applied
    assert "N0000" in applied["reason"]
    db.expire_all()
    after = {r.registration_id: r.theory_score for r in db.exec(select(ExamResult)).all()}
    assert after[registration_of[s[0].id]] == before[registration_of[s[0].id]]
    assert after[registration_of[s[1].id]] == Decimal("85.0")
    holder = db.exec(select(IssuedCertificate).where(IssuedCertificate.number == "N0000")).one()
    assert holder.student_id == s[0].id


def test_a_refusal_from_another_domain_reads_in_each_readers_language(
    client: TestClient, db: Session
) -> None:
    """A row refused by the exams (the exam date has not come) or by the certificates'
    import (an issue date still to come) keeps its reason as a message: applied in
    English, it reads in Chinese to a clerk, and the other way round."""
    world = _world(db)
    s = world.students
    future_date = xlsx_bytes(
        [
            HEADER,
            [1, s[1].name, None, s[1].student_no, world.certificate.name, "中级", "通过", 85,
             "N0001", "2099-12-20"],
        ]
    )  # fmt: skip
    chinese = {**office(db), "Accept-Language": "zh-CN"}
    cases = [
        (office(db), chinese, _platform_file(world), 9, "invalid_state"),
        (chinese, office(db), future_date, 2, "import_rejected"),
    ]
    for applier, reader, content, line, code in cases:
        body = _reconcile(client, applier, content)
        row = _by_line(body)[line]
        applied = client.post(
            f"/api/v1/reconciliations/{body['id']}/apply",
            json={"row_ids": [row["id"]]},
            headers=applier,
        ).json()["rows"][0]
        assert applied["outcome"] == "refused" and applied["code"] == code, applied
        path = f"/api/v1/reconciliations/{body['id']}"
        read = _by_line(client.get(path, headers=reader).json())[line]
        again = _by_line(client.get(path, headers=applier).json())[line]
        assert again["outcome_reason"] == applied["reason"]
        assert read["outcome_code"] == applied["code"]
        english, chinese_text = (
            (applied["reason"], read["outcome_reason"])
            if applier is not chinese
            else (read["outcome_reason"], applied["reason"])
        )
        assert re.search(r"[\u4e00-\u9fff]", chinese_text), chinese_text
        assert not re.search(r"[\u4e00-\u9fff]{2}", english.replace(s[1].name, "")), english
        assert english != chinese_text


def test_a_pass_with_a_certificate_is_not_failed_by_applying(
    client: TestClient, db: Session
) -> None:
    world = _world(db)
    s = world.students
    file = xlsx_bytes(
        [
            HEADER,
            [1, s[0].name, None, s[0].student_no, world.certificate.name, "中级", "不通过", 40,
             None, None],
        ]
    )  # fmt: skip
    body = _reconcile(client, office(db), file)
    report = client.post(
        f"/api/v1/reconciliations/{body['id']}/apply",
        json={"row_ids": [body["different"][0]["id"]]},
        headers=office(db),
    ).json()
    assert report["rows"][0]["code"] == "certificate_issued"


def test_roles_and_scope(client: TestClient, db: Session) -> None:
    world = _world(db)
    body = _reconcile(client, office(db), _platform_file(world))
    path = f"/api/v1/reconciliations/{body['id']}"

    auditor = headers_for(db, Role.auditor)
    assert client.get(path, headers=auditor).status_code == 200
    assert client.get("/api/v1/reconciliations", headers=auditor).json()["total"] == 1
    refused = client.post(
        "/api/v1/reconciliations",
        params={"year": 2022},
        files={"file": ("x.xlsx", _platform_file(world))},
        headers=auditor,
    )
    assert refused.status_code == 403
    apply = client.post(f"{path}/apply", json={"group": "different"}, headers=auditor)
    assert apply.status_code == 403
    student = headers_for(db, Role.student, student_id=world.students[0].id)
    assert client.get(path, headers=student).status_code == 403

    other_college = headers_for(db, Role.college_manager, college_id=make_college(db).id)
    assert client.get(path, headers=other_college).status_code == 404
    outside = _reconcile(client, other_college, _platform_file(world))
    assert outside["counts"]["same"] == 0 and outside["counts"]["different"] == 0
    assert outside["local_only"] == []

    major = db.get(Major, world.students[0].major_id)
    assert major is not None
    own = headers_for(db, Role.college_manager, college_id=major.college_id)
    mine = _reconcile(client, own, _platform_file(world))
    assert mine["counts"]["different"] == 4
    assert client.get(f"/api/v1/reconciliations/{mine['id']}", headers=own).status_code == 200
    assert client.get("/api/v1/reconciliations", headers=own).json()["total"] == 1

    org = headers_for(db, Role.evaluation_org, evaluation_org_id=world.exam.evaluation_org_id)
    assert _reconcile(client, org, _platform_file(world))["counts"]["different"] == 4


def test_the_kind_reads_csv_variants_and_only_checks_on_the_import_route(
    client: TestClient, db: Session
) -> None:
    content = (
        "全国职业技能等级证书名单\n"
        "考生姓名,证件号,学籍号,职业技能等级证书名称,级别,是否通过,总成绩,证书号,发证时间\n"
        f"张三,{ID_NUMBER},S1,Web前端开发,初级,是,88,A1,2022/12/1\n"
    ).encode("gb18030")
    checked = upload(client, office(db), "national-results", "名单.csv", content, dry_run=True)
    assert checked.status_code == 200, checked.text
    assert checked.json()["rows"] == 1
    assert checked.json()["used_columns"]["certificate_number"] == "证书号"
    written = upload(client, office(db), "national-results", "名单.csv", content)
    assert written.status_code == 409
    assert written.json()["code"] == "read_only_kind"
    template = client.get("/api/v1/imports/national-results/template", headers=office(db))
    assert template.status_code == 200


def test_a_file_without_the_columns_is_422(client: TestClient, db: Session) -> None:
    response = client.post(
        "/api/v1/reconciliations",
        params={"year": 2022},
        files={"file": ("x.csv", "姓名,备注\n张三,x\n".encode())},
        headers=office(db),
    )
    assert response.status_code == 422
    assert response.json()["code"] == "missing_columns"


def test_a_paid_pass_is_not_failed_by_applying(client: TestClient, db: Session) -> None:
    from app.exams.models import ExamRegistration
    from app.funding.models import Category
    from tests.funding.factories import held_session, make_line, make_source

    headers = office(db)
    pilot = make_pilot(db)
    exam = held_session(db, pilot, passed=1, failed=0)
    line = make_line(db, make_source(db), pilot, category=Category.exam_subsidy, amount="9000")
    run = client.post(
        "/api/v1/subsidy-runs",
        json={"session_id": exam.id, "line_id": line.id, "amount_per_student": "200.00"},
        headers=headers,
    )
    assert run.status_code == 201, run.text
    registration = db.exec(
        select(ExamRegistration).where(ExamRegistration.session_id == exam.id)
    ).one()
    student = db.get(Student, registration.student_id)
    certificate = db.get(Certificate, exam.certificate_id)
    assert student is not None and certificate is not None
    file = xlsx_bytes(
        [
            HEADER,
            [1, student.name, None, student.student_no, certificate.name, exam.level.value,
             "不通过", 30, None, None],
        ]
    )  # fmt: skip
    body = _reconcile(client, headers, file)
    assert body["different"][0]["differences"][0] == "result"
    report = client.post(
        f"/api/v1/reconciliations/{body['id']}/apply", json={"group": "different"}, headers=headers
    ).json()
    assert report["rows"][0]["code"] == "subsidy_paid"
    db.expire_all()
    assert (
        db.exec(select(ExamResult).where(ExamResult.registration_id == registration.id))
        .one()
        .passed
    )


@pytest.mark.postgres_only
def test_reconciliations_racing_over_a_new_national_id_both_succeed(
    app: FastAPI, db: Session, is_postgres: bool
) -> None:
    """Uploads at once all see the student without an id and all record it: the first write
    stays, the others are skipped (not a 409 or 500), one identity per student."""
    if not is_postgres:
        pytest.skip("runs only on PostgreSQL (SQLite serialises the writers)")
    world = _world(db)
    content, headers = _platform_file(world), office(db)
    call = Call(
        "POST",
        "/api/v1/reconciliations?year=2022",
        {"files": {"file": ("平台名单.xlsx", content)}, "headers": headers},
    )
    responses = fire_concurrently(app, [call] * 6)

    assert [r.status_code for r in responses] == [201] * 6, [r.text for r in responses]
    identities = db.exec(select(NationalIdentity)).all()
    assert [i.student_id for i in identities] == [world.students[0].id]
