"""Lists as CSV and XLSX, and a constant number of SQL statements per list request."""

import io
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.testclient import TestClient

from app.reference.models import (
    Certificate,
    College,
    Course,
    CourseMajor,
    EvaluationOrg,
    Major,
    Student,
    Teacher,
)
from tests.reference.factories import counting, make_college, make_major, make_student, office


@pytest.mark.usefixtures("chinese")
def test_students_csv_has_bom_chinese_headers_and_neutralised_formulas(
    client: TestClient, db: Session
) -> None:
    college = make_college(db, "=HYPERLINK(1)")
    major = make_major(db, college, code="510203", name="软件技术")
    make_student(db, major, student_no="2022001")
    response = client.get("/api/v1/students", params={"format": "csv"}, headers=office(db))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf")
    lines = response.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "ID,学号,姓名,专业代码,专业名称,二级学院,年级,班级"
    assert "'=HYPERLINK(1)" in lines[1]
    assert "2022001" in lines[1]


@pytest.mark.usefixtures("chinese")
def test_students_xlsx_honours_the_filters(client: TestClient, db: Session) -> None:
    major = make_major(db)
    make_student(db, major, student_no="2020001", cohort=2020)
    make_student(db, major, student_no="2021001", cohort=2021)
    response = client.get(
        "/api/v1/students", params={"format": "xlsx", "cohort": 2021}, headers=office(db)
    )
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][1] == "学号"
    assert [r[1] for r in rows[1:]] == ["2021001"]


def test_xlsx_keeps_a_formula_looking_name_as_text(client: TestClient, db: Session) -> None:
    make_college(db, "=1+1")
    response = client.get("/api/v1/colleges", params={"format": "xlsx"}, headers=office(db))
    sheet = load_workbook(io.BytesIO(response.content)).active
    cell = sheet.cell(row=2, column=2)
    assert (cell.value, cell.data_type) == ("=1+1", "s")


@pytest.mark.parametrize(
    "path",
    ["colleges", "majors", "courses", "teachers", "students", "evaluation-orgs", "certificates"],
)
def test_every_list_exports_csv_and_xlsx(client: TestClient, db: Session, path: str) -> None:
    headers = office(db)
    for fmt in ("csv", "xlsx"):
        response = client.get(f"/api/v1/{path}", params={"format": fmt}, headers=headers)
        assert response.status_code == 200, response.text


def _seed(db: Session) -> None:
    """More than 50 rows of every kind, with related rows to show."""
    colleges = [College(name=f"学院{i}") for i in range(55)]
    orgs = [EvaluationOrg(name=f"组织{i}") for i in range(55)]
    db.add_all([*colleges, *orgs])
    db.flush()
    majors = [Major(code=f"M{i}", name=f"专业{i}", college_id=colleges[i].id) for i in range(55)]
    db.add_all(majors)
    db.flush()
    rows: list[Any] = []
    for i in range(55):
        rows.append(Student(student_no=f"S{i}", name="学生", major_id=majors[i].id, cohort=2022))
        rows.append(Teacher(staff_no=f"T{i}", name="老师", college_id=colleges[i].id))
        rows.append(
            Certificate(
                name=f"证书{i}",
                normalized_name=f"证书{i}",
                evaluation_org_id=orgs[i].id,
                levels="初级",
            )
        )
    courses = [
        Course(code=f"C{i}", name="课程", credits=2, college_id=colleges[i].id) for i in range(55)
    ]
    db.add_all([*rows, *courses])
    db.flush()
    db.add_all(CourseMajor(course_id=c.id, major_id=majors[k].id) for c in courses for k in (0, 1))
    db.commit()


@pytest.mark.parametrize(
    "path",
    ["colleges", "majors", "courses", "teachers", "students", "evaluation-orgs", "certificates"],
)
def test_list_statement_count_does_not_grow_with_page_size(
    client: TestClient, db: Session, engine: Engine, path: str
) -> None:
    _seed(db)
    headers = office(db)
    counts = []
    for limit in (1, 50):
        with counting(engine) as statements:
            response = client.get(f"/api/v1/{path}", params={"limit": limit}, headers=headers)
        assert response.status_code == 200
        assert len(response.json()["items"]) == limit
        counts.append(len(statements))
    assert counts[0] == counts[1]


def test_export_streams_every_row_across_chunks_in_order(
    client: TestClient, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.core import listing

    monkeypatch.setattr(listing, "EXPORT_CHUNK_ROWS", 2)
    for name in ("甲学院", "乙学院", "丙学院", "丁学院", "戊学院"):
        make_college(db, name)
    response = client.get("/api/v1/colleges", params={"format": "csv"}, headers=office(db))
    assert response.status_code == 200
    lines = response.content.decode("utf-8-sig").splitlines()
    assert [line.split(",")[1] for line in lines[1:]] == [
        "甲学院",
        "乙学院",
        "丙学院",
        "丁学院",
        "戊学院",
    ]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.usefixtures("chinese")
def test_an_export_the_database_refuses_is_a_problem_not_a_cut_file(
    client: TestClient, db: Session, fmt: str
) -> None:
    """PostgreSQL refuses a NUL in a text parameter: the refusal comes before the file starts,
    as a problem (SQLite takes it and finds nothing: a complete, empty file)."""
    make_college(db)
    response = client.get(
        "/api/v1/colleges", params={"format": fmt, "q": "a\x00b"}, headers=office(db)
    )
    if response.status_code == 200:
        assert response.headers["content-type"].startswith(("text/csv", "application/vnd"))
        if fmt == "csv":
            assert response.content.decode("utf-8-sig").splitlines() == ["ID,学院名称,学院代码"]
        else:
            rows = list(load_workbook(io.BytesIO(response.content)).active.iter_rows())
            assert len(rows) == 1
    else:
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
