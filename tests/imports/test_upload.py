"""Uploads through the one import engine: formats, headers, reports, all-or-nothing, limits."""

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.core.audit import AuditEvent
from app.imports import readers
from app.imports.models import ImportBatch
from app.imports.registry import KINDS
from app.reference.models import College, Major, Student
from tests.imports.helpers import count, upload
from tests.reference.factories import (
    make_college,
    make_major,
    make_student,
    manager_of,
    office,
    xlsx_bytes,
)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_sample_majors_tsv_creates_8_colleges_and_37_majors(
    client: TestClient, db: Session, fixtures_dir: Path
) -> None:
    content = (fixtures_dir / "majors-sample.tsv").read_bytes()
    response = upload(client, office(db), "majors", "majors-sample.tsv", content)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["rows"] == 37
    assert report["created"] == 37
    assert report["also_created"] == {"colleges": 8}
    assert report["written"] is True
    assert count(db, College) == 8
    assert count(db, Major) == 37
    software = db.exec(select(Major).where(Major.code == "510203")).one()
    assert software.name == "软件技术"


def test_same_file_uploaded_twice_is_all_unchanged_the_second_time(
    client: TestClient, db: Session, fixtures_dir: Path
) -> None:
    headers = office(db)
    content = (fixtures_dir / "majors-sample.tsv").read_bytes()
    assert upload(client, headers, "majors", "m.tsv", content).status_code == 200
    second = upload(client, headers, "majors", "m.tsv", content).json()
    assert (second["created"], second["updated"], second["unchanged"]) == (0, 0, 37)
    assert second["also_created"] == {}


def test_real_import_keeps_a_batch_and_one_audit_event(
    client: TestClient, db: Session, fixtures_dir: Path
) -> None:
    content = (fixtures_dir / "majors-sample.tsv").read_bytes()
    report = upload(client, office(db), "majors", "m.tsv", content).json()
    batch = db.get(ImportBatch, report["batch_id"])
    assert batch is not None
    assert (batch.kind, batch.file_name, batch.rows, batch.created) == ("majors", "m.tsv", 37, 37)
    assert len(batch.sha256) == 64
    events = db.exec(select(AuditEvent).where(AuditEvent.entity == "import_batch")).all()
    assert [e.entity_id for e in events] == [str(batch.id)]


def test_imports_list_shows_batches_newest_first(
    client: TestClient, db: Session, fixtures_dir: Path
) -> None:
    headers = office(db)
    content = (fixtures_dir / "majors-sample.tsv").read_bytes()
    upload(client, headers, "majors", "first.tsv", content)
    upload(client, headers, "majors", "second.tsv", content)
    upload(client, headers, "majors", "dry.tsv", content, dry_run=True)
    body = client.get("/api/v1/imports", headers=headers).json()
    assert body["total"] == 2
    assert [b["file_name"] for b in body["items"]] == ["second.tsv", "first.tsv"]


def test_dry_run_reports_but_writes_nothing(
    client: TestClient, db: Session, fixtures_dir: Path
) -> None:
    content = (fixtures_dir / "majors-sample.tsv").read_bytes()
    report = upload(client, office(db), "majors", "m.tsv", content, dry_run=True).json()
    assert report["created"] == 37
    assert report["written"] is False
    assert report["also_created"] == {"colleges": 8}
    assert count(db, Major) == 0
    assert count(db, College) == 0
    assert count(db, ImportBatch) == 0


def _students_sheet(rows: list[list[Any]]) -> bytes:
    return xlsx_bytes([["学生名单（2022级）"], ["学号", "姓名", "专业代码", "年级", "班级"], *rows])


def test_students_from_xlsx_under_a_title_row_are_created(client: TestClient, db: Session) -> None:
    college = make_college(db, "计算机与软件学院")
    make_major(db, college, code="510203", name="软件技术")
    content = _students_sheet(
        [["2022001", "张三", 510203, "2022级", "软件2201"], ["2022002", "李四", "510203", 2022, ""]]
    )
    response = upload(client, office(db), "students", "s.xlsx", content)
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 2
    students = db.exec(select(Student).order_by(Student.student_no)).all()
    assert [(s.student_no, s.cohort, s.class_name) for s in students] == [
        ("2022001", 2022, "软件2201"),
        ("2022002", 2022, None),
    ]


def test_code_cells_stored_as_numbers_lose_the_trailing_point_zero(
    client: TestClient, db: Session
) -> None:
    college = make_college(db, "计算机与软件学院")
    make_major(db, college, code="510203", name="软件技术")
    content = "学号,姓名,专业代码,年级\n2022001.0,张三,510203.0,2022\n".encode()
    response = upload(client, office(db), "students", "s.csv", content)
    assert response.status_code == 200, response.text
    assert db.exec(select(Student.student_no)).one() == "2022001"


def test_gb18030_csv_with_english_headers_in_any_order_is_read(
    client: TestClient, db: Session
) -> None:
    college = make_college(db, "计算机与软件学院")
    make_major(db, college, code="510203", name="软件技术")
    content = "cohort, name ,major,student_no\n2021级,王五,软件技术,2021001\n".encode("gb18030")
    response = upload(client, office(db), "students", "s.csv", content)
    assert response.status_code == 200, response.text
    student = db.exec(select(Student)).one()
    assert (student.name, student.cohort) == ("王五", 2021)


def test_utf8_bom_csv_is_read(client: TestClient, db: Session) -> None:
    content = "\ufeff学院名称,学院代码\n外国语学院,FL\n".encode()
    response = upload(client, office(db), "colleges", "c.csv", content)
    assert response.status_code == 200, response.text
    assert db.exec(select(College.name, College.code)).one() == ("外国语学院", "FL")


def test_extra_columns_are_reported_and_ignored(client: TestClient, db: Session) -> None:
    content = "学院名称,备注\n外国语学院,随便写\n".encode()
    report = upload(client, office(db), "colleges", "c.csv", content).json()
    assert report["ignored_columns"] == ["备注"]
    assert report["created"] == 1


def test_missing_required_column_is_one_clear_422(client: TestClient, db: Session) -> None:
    content = "学号,姓名,专业代码\n2022001,张三,510203\n".encode()
    response = upload(client, office(db), "students", "s.csv", content)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "missing_columns"
    assert body["errors"] == [
        {"field": "file.年级", "message": "required column 年级 (cohort) is missing"}
    ]


def test_bad_rows_are_reported_with_excel_row_numbers_and_nothing_is_written(
    client: TestClient, db: Session
) -> None:
    college = make_college(db, "计算机与软件学院")
    make_major(db, college, code="510203", name="软件技术")
    content = _students_sheet(
        [
            ["2022001", "张三", "510203", "2022级", ""],
            ["2022002", "李四", "510299", "2022级", ""],
            ["2022003", "王五", "510203", "1999", ""],
            ["2022001", "赵六", "510203", "2022", ""],
        ]
    )
    response = upload(client, office(db), "students", "s.xlsx", content)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "import_rejected"
    assert body["created"] == 1
    errors = {(e["row"], e["column"]) for e in body["errors"]}
    assert errors == {(4, "专业代码"), (5, "年级"), (6, "学号")}
    duplicate = next(e for e in body["errors"] if e["row"] == 6)
    assert "row 3" in duplicate["reason"]
    assert count(db, Student) == 0
    assert count(db, ImportBatch) == 0


def test_unknown_major_name_suggests_the_near_miss(client: TestClient, db: Session) -> None:
    college = make_college(db, "计算机与软件学院")
    make_major(db, college, code="510203", name="软件技术")
    content = "学号,姓名,专业,年级\n2022001,张三,软件技木,2022\n".encode()
    body = upload(client, office(db), "students", "s.csv", content, dry_run=True).json()
    assert body["written"] is False
    assert "did you mean '软件技术'" in body["errors"][0]["reason"]


def test_every_refused_row_of_an_upload_of_only_new_rows_is_reported(
    client: TestClient, db: Session
) -> None:
    """Into an empty table every row is new and needs no comparison; each refused row is
    still reported, and nothing is written."""
    college = make_college(db, "计算机与软件学院")
    make_major(db, college, code="510203", name="软件技术")
    content = (
        "学号,姓名,专业代码,年级,班级\n"
        "2022001,张三,510203,2022,\n"
        "2022002,李四,999999,2022,\n"
        "2022003,王五,510203,2022,1班\n"
        "2022004,赵六,888888,2022,\n"
    ).encode()
    response = upload(client, office(db), "students", "s.csv", content)
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert [(e["row"], e["column"], e["value"]) for e in errors] == [
        (3, "专业代码", "999999"),
        (5, "专业代码", "888888"),
    ]
    assert count(db, Student) == 0
    fixed = content.replace(b"999999", b"510203").replace(b"888888", b"510203")
    report = upload(client, office(db), "students", "s.csv", fixed).json()
    assert (report["created"], report["written"]) == (4, True)
    stored = db.exec(select(Student.student_no, Student.class_name).order_by(Student.id)).all()
    assert [tuple(row) for row in stored] == [
        ("2022001", None),
        ("2022002", None),
        ("2022003", "1班"),
        ("2022004", None),
    ]


def test_fixed_rows_uploaded_again_land(client: TestClient, db: Session) -> None:
    college = make_college(db, "计算机与软件学院")
    make_major(db, college, code="510203", name="软件技术")
    headers = office(db)
    bad = _students_sheet(
        [["2022001", "张三", "510203", "2022", ""], ["2022002", "李四", "5102", "2022", ""]]
    )
    assert upload(client, headers, "students", "s.xlsx", bad).status_code == 422
    fixed = _students_sheet(
        [["2022001", "张三", "510203", "2022", ""], ["2022002", "李四", "510203", "2022", ""]]
    )
    report = upload(client, headers, "students", "s.xlsx", fixed).json()
    assert report["created"] == 2
    assert count(db, Student) == 2


def test_changed_row_is_updated_and_version_bumped(client: TestClient, db: Session) -> None:
    college = make_college(db, "计算机与软件学院")
    make_major(db, college, code="510203", name="软件技术")
    headers = office(db)
    upload(
        client,
        headers,
        "students",
        "s.csv",
        "学号,姓名,专业代码,年级\n1,张三,510203,2022\n".encode(),
    )
    report = upload(
        client,
        headers,
        "students",
        "s.csv",
        "学号,姓名,专业代码,年级\n1,张叁,510203,2022\n".encode(),
    ).json()
    assert (report["created"], report["updated"], report["unchanged"]) == (0, 1, 0)
    student = db.exec(select(Student)).one()
    assert (student.name, student.version) == ("张叁", 2)


def test_multi_value_cells_split_on_every_separator(client: TestClient, db: Session) -> None:
    college = make_college(db, "计算机与软件学院")
    for code in ("510201", "510202", "510203", "510205", "510209"):
        make_major(db, college, code=code)
    content = xlsx_bytes(
        [
            ["课程代码", "课程名称", "学分", "开课学院", "专业"],
            ["C1", "Web前端开发", 4, "计算机与软件学院", "510201、510202，510203,510205;510209"],
            ["C2", "数据库", "3.5", "计算机与软件学院", "510201\n510202"],
        ]
    )
    response = upload(client, office(db), "courses", "c.xlsx", content)
    assert response.status_code == 200, response.text
    courses = client.get("/api/v1/courses", headers=office(db)).json()["items"]
    assert [len(c["majors"]) for c in courses] == [5, 2]
    assert courses[1]["credits"] == "3.5"


def test_certificates_match_by_normalised_name(client: TestClient, db: Session) -> None:
    headers = office(db)
    upload(client, headers, "evaluation-orgs", "o.csv", "名称,联系人\n某某科技,赵\n".encode())
    first = "证书名称,培训评价组织,等级\n1+X Web前端开发证书,某某科技,初级、中级\n".encode()
    assert upload(client, headers, "certificates", "c.csv", first).json()["created"] == 1
    second = "证书名称,培训评价组织,等级\n1+X Web前端开发证书,某某科技,中级、初级\n".encode()
    assert upload(client, headers, "certificates", "c.csv", second).json()["unchanged"] == 1
    bad = "证书名称,培训评价组织,等级\nWeb前端开发,某某科枝,特级\n".encode()
    body = upload(client, headers, "certificates", "c.csv", bad).json()
    assert {e["column"] for e in body["errors"]} == {"等级"}


def test_teachers_tsv_is_read(client: TestClient, db: Session) -> None:
    make_college(db, "通信学院")
    content = "工号\t姓名\t二级学院\t职称\nT001\t李老师\t通信学院\t副教授\n".encode()
    response = upload(client, office(db), "teachers", "t.tsv", content)
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 1


def test_college_manager_upload_touching_another_college_is_refused_row_by_row(
    client: TestClient, db: Session
) -> None:
    own = make_college(db, "计算机与软件学院")
    other = make_college(db, "通信学院")
    make_major(db, own, code="510203")
    make_major(db, other, code="510301")
    content = "学号,姓名,专业代码,年级\n1,张三,510203,2022\n2,李四,510301,2022\n".encode()
    response = upload(client, manager_of(db, own), "students", "s.csv", content)
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert [(e["row"], e["column"], e["value"]) for e in errors] == [(3, "专业代码", "510301")]
    assert "another college" in errors[0]["reason"]
    assert count(db, Student) == 0


def test_college_manager_imports_their_own_college(client: TestClient, db: Session) -> None:
    own = make_college(db, "计算机与软件学院")
    make_major(db, own, code="510203")
    content = "学号,姓名,专业代码,年级\n1,张三,510203,2022\n".encode()
    response = upload(client, manager_of(db, own), "students", "s.csv", content)
    assert response.status_code == 200, response.text


def test_college_manager_cannot_move_their_student_to_another_college(
    client: TestClient, db: Session
) -> None:
    own = make_college(db, "计算机与软件学院")
    other = make_college(db, "通信学院")
    make_major(db, own, code="510203")
    make_major(db, other, code="510301")
    headers = manager_of(db, own)
    upload(
        client,
        headers,
        "students",
        "s.csv",
        "学号,姓名,专业代码,年级\n1,张三,510203,2022\n".encode(),
    )
    moved = "学号,姓名,专业代码,年级\n1,张三,510301,2022\n".encode()
    errors = upload(client, headers, "students", "s.csv", moved).json()["errors"]
    assert errors[0]["reason"].startswith("would move the row to another college")


def test_college_manager_cannot_overwrite_another_colleges_student(
    client: TestClient, db: Session
) -> None:
    own = make_college(db, "计算机与软件学院")
    other = make_college(db, "通信学院")
    make_major(db, own, code="510203")
    make_student(db, make_major(db, other, code="510301"), student_no="1")
    content = "学号,姓名,专业代码,年级\n1,张三,510203,2022\n".encode()
    errors = upload(client, manager_of(db, own), "students", "s.csv", content).json()["errors"]
    assert (errors[0]["column"], errors[0]["value"]) == ("学号", "1")
    assert errors[0]["reason"].startswith("belongs to another college")


def test_college_manager_may_not_upload_colleges(client: TestClient, db: Session) -> None:
    own = make_college(db)
    response = upload(client, manager_of(db, own), "colleges", "c.csv", "学院名称\nX\n".encode())
    assert response.status_code == 403


def test_empty_file_is_422(client: TestClient, db: Session) -> None:
    response = upload(client, office(db), "colleges", "c.csv", b"")
    assert response.status_code == 422
    assert response.json()["code"] == "empty_file"


def test_header_only_file_is_422(client: TestClient, db: Session) -> None:
    response = upload(client, office(db), "colleges", "c.csv", "学院名称,学院代码\n".encode())
    assert response.status_code == 422
    assert response.json()["code"] == "no_data_rows"


def test_file_that_is_not_a_spreadsheet_is_415(client: TestClient, db: Session) -> None:
    headers = office(db)
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
    assert upload(client, headers, "colleges", "logo.png", png).status_code == 415
    assert upload(client, headers, "colleges", "fake.xlsx", b"hello").status_code == 415
    assert upload(client, headers, "colleges", "bin.csv", png).status_code == 415


def test_file_over_20_mb_is_413(client: TestClient, db: Session) -> None:
    content = b"a" * (20 * 1024 * 1024 + 10)
    response = upload(client, office(db), "colleges", "big.csv", content)
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/problem+json")


def test_unknown_kind_is_404(client: TestClient, db: Session) -> None:
    response = upload(client, office(db), "spaceships", "x.csv", b"a\n1\n")
    assert response.status_code == 404
    assert "students" in response.json()["known_kinds"]


def test_template_has_chinese_headers_english_comments_and_an_example(
    client: TestClient, db: Session
) -> None:
    import io

    from openpyxl import load_workbook

    response = client.get("/api/v1/imports/students/template", headers=office(db))
    assert response.status_code == 200
    assert response.headers["content-type"] == XLSX
    sheet = load_workbook(io.BytesIO(response.content)).active
    headers = [c.value for c in sheet[1]]
    assert headers[:2] == ["学号", "姓名"]
    assert sheet["A1"].comment.text.startswith("student_no")
    assert sheet["A2"].value == "示例：2020510203001"  # the example row an upload skips


def test_workbook_that_unpacks_too_large_is_413(
    client: TestClient, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(readers, "MAX_UNPACKED_XLSX_BYTES", 1000)
    content = xlsx_bytes([["学院名称"], *([f"学院{i}"] for i in range(200))])
    response = upload(client, office(db), "colleges", "c.xlsx", content)
    assert response.status_code == 413


def test_two_colleges_with_one_code_in_a_file_are_refused(client: TestClient, db: Session) -> None:
    content = "学院名称,学院代码\n甲学院,A\n乙学院,A\n".encode()
    response = upload(client, office(db), "colleges", "c.csv", content)
    assert response.status_code == 422
    assert [e["row"] for e in response.json()["errors"]] == [3]


def test_bad_rows_never_answer_5xx_whatever_the_cells(client: TestClient, db: Session) -> None:
    college = make_college(db, "计算机与软件学院")
    make_major(db, college, code="510203")
    weird = ["", " ", "２０２２", "2022.5", "1e5", "-1", "²", "٣", "=1+1", "x" * 300, "\u3000"]
    rows = [["学号", "姓名", "专业代码", "年级", "班级"]]
    rows += [[w, w, w, w, w] for w in weird]
    response = upload(client, office(db), "students", "weird.xlsx", xlsx_bytes(rows))
    assert response.status_code == 422
    assert count(db, Student) == 0


def test_workbook_saved_under_a_csv_name_is_still_read(client: TestClient, db: Session) -> None:
    content = xlsx_bytes([["学院名称"], ["外国语学院"]])
    response = upload(client, office(db), "colleges", "colleges.csv", content)
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 1


def test_utf16_tab_separated_text_as_excel_saves_unicode_text_is_read(
    client: TestClient, db: Session
) -> None:
    content = "学院名称\t学院代码\r\n外国语学院\tFL\r\n".encode("utf-16")
    response = upload(client, office(db), "colleges", "colleges.txt", content)
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 1


def test_many_changed_rows_are_all_updated(client: TestClient, db: Session) -> None:
    college = make_college(db, "计算机与软件学院")
    make_major(db, college, code="510203")
    headers = office(db)
    first = "学号,姓名,专业代码,年级\n" + "".join(f"{i},甲{i},510203,2022\n" for i in range(30))
    second = "学号,姓名,专业代码,年级\n" + "".join(f"{i},乙{i},510203,2022\n" for i in range(30))
    upload(client, headers, "students", "s.csv", first.encode())
    report = upload(client, headers, "students", "s.csv", second.encode()).json()
    assert report["updated"] == 30
    students = db.exec(select(Student)).all()
    assert {(s.name[0], s.version) for s in students} == {("乙", 2)}
    assert all(s.updated_at > s.created_at for s in students)


def test_row_edited_while_the_file_was_imported_fails_the_upload_with_409(
    client: TestClient, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    college = make_college(db, "计算机与软件学院")
    make_major(db, college, code="510203")
    headers = office(db)
    upload(
        client, headers, "students", "s.csv", "学号,姓名,专业代码,年级\n1,甲,510203,2022\n".encode()
    )
    kind = KINDS["students"]

    def stale_prepare(session: Session, principal: Any) -> Any:
        plan = kind.prepare(session, principal)
        for row in plan.existing.values():
            row["version"] -= 1  # as if someone saved a newer version after we read it
        return plan

    monkeypatch.setitem(KINDS, "students", dataclasses.replace(kind, prepare=stale_prepare))
    response = upload(
        client, headers, "students", "s.csv", "学号,姓名,专业代码,年级\n1,乙,510203,2022\n".encode()
    )
    assert response.status_code == 409
    assert response.json()["code"] == "changed_during_import"
    assert db.exec(select(Student.name)).one() == "甲"
    assert count(db, ImportBatch) == 1
