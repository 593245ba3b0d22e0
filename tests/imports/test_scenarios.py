"""End-to-end upload scenarios: the issue's "done when", templates, round trips, races."""

import io
import threading
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select
from starlette.testclient import TestClient

from app.core.roles import Role
from app.imports.models import ImportBatch
from app.imports.registry import KINDS
from app.reference.models import Student
from tests.imports.helpers import upload
from tests.reference.factories import counting, headers_for, make_college, office, xlsx_bytes


def _majors_loaded(client: TestClient, headers: dict[str, str], fixtures_dir: Path) -> None:
    content = (fixtures_dir / "majors-sample.tsv").read_bytes()
    response = upload(client, headers, "majors", "majors-sample.tsv", content)
    assert response.status_code == 200, response.text


def _five_thousand(bad: dict[int, tuple[int, str]]) -> list[list[Any]]:
    """5,000 student rows; ``bad`` replaces cell ``column`` of the given 0-based rows."""
    majors = ["510203", "510201", "510209", 570201, "460305"]
    rows: list[list[Any]] = []
    for i in range(5000):
        cohort = 2020 + i % 3
        row: list[Any] = [
            f"{cohort}{i:06d}",
            f"学生{i}",
            majors[i % 5],
            f"{cohort}级",
            f"{i % 30}班",
        ]
        if i in bad:
            column, value = bad[i]
            row[column] = value
        rows.append(row)
    return rows


def test_sample_majors_then_5000_students_with_three_bad_rows_fixed_and_uploaded_again(
    client: TestClient, db: Session, fixtures_dir: Path
) -> None:
    headers = office(db)
    _majors_loaded(client, headers, fixtures_dir)
    header = [["2022-2024级学生名册"], ["学号", "姓名", "专业代码", "年级", "班级"]]
    bad = {99: (2, "999999"), 2500: (3, "二〇二一"), 4999: (0, "2020000000")}
    rejected = upload(
        client, headers, "students", "名册.xlsx", xlsx_bytes(header + _five_thousand(bad))
    )
    assert rejected.status_code == 422
    body = rejected.json()
    assert body["rows"] == 5000
    assert sorted((e["row"], e["column"]) for e in body["errors"]) == [
        (102, "专业代码"),
        (2503, "年级"),
        (5002, "学号"),
    ]
    assert db.exec(select(func.count()).select_from(Student)).one() == 0

    fixed = xlsx_bytes(header + _five_thousand({}))
    landed = upload(client, headers, "students", "名册.xlsx", fixed)
    assert landed.status_code == 200, landed.text
    assert landed.json()["created"] == 5000
    assert db.exec(select(func.count()).select_from(Student)).one() == 5000
    again = upload(client, headers, "students", "名册.xlsx", fixed).json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 5000)


def test_a_workbook_saved_by_libreoffice_with_three_bad_rows_then_fixed_lands(
    client: TestClient, db: Session, fixtures_dir: Path
) -> None:
    data = Path(__file__).parent / "data"
    headers = office(db)
    _majors_loaded(client, headers, fixtures_dir)

    rejected = upload(
        client,
        headers,
        "students",
        "名册.xlsx",
        (data / "students-5000-three-bad.xlsx").read_bytes(),
    )
    fixed = (data / "students-5000-fixed.xlsx").read_bytes()
    landed = upload(client, headers, "students", "名册.xlsx", fixed)
    again = upload(client, headers, "students", "名册.xlsx", fixed)

    assert rejected.status_code == 422
    assert sorted((e["row"], e["column"]) for e in rejected.json()["errors"]) == [
        (102, "专业代码"),
        (2503, "年级"),
        (5002, "学号"),
    ]
    assert landed.status_code == 200, landed.text
    assert landed.json()["created"] == 5000
    stored = db.exec(select(Student).where(Student.student_no == "2020000000")).one()
    assert stored.cohort == 2020
    assert db.exec(select(func.count()).select_from(Student)).one() == 5000
    assert (again.json()["created"], again.json()["unchanged"]) == (0, 5000)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_has_a_template_that_uploads_its_own_headers(
    client: TestClient, db: Session, kind: str
) -> None:
    headers = office(db)
    response = client.get(f"/api/v1/imports/{kind}/template", headers=headers)
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    titles = [cell.value for cell in sheet[1]]
    required = [c.zh for c in KINDS[kind].columns if c.required]
    assert set(required) <= set(titles)
    only_header = xlsx_bytes([titles])
    answer = upload(client, headers, kind, "template.xlsx", only_header)
    assert answer.status_code == 422
    assert answer.json()["code"] == "no_data_rows"


@pytest.mark.usefixtures("chinese")
def test_students_export_uploads_back_unchanged(
    client: TestClient, db: Session, fixtures_dir: Path
) -> None:
    headers = office(db)
    _majors_loaded(client, headers, fixtures_dir)
    rows = (
        "学号,姓名,专业代码,年级,班级\n"
        "2022001,张三,510203,2022,软件1班\n"
        "2022002,李四,510201,2022,\n"
    )
    assert upload(client, headers, "students", "s.csv", rows.encode()).status_code == 200
    exported = client.get("/api/v1/students", params={"format": "xlsx"}, headers=headers)
    answer = upload(client, headers, "students", "export.xlsx", exported.content).json()
    assert (answer["unchanged"], answer["ignored_columns"]) == (2, ["ID", "二级学院"])


def test_college_manager_sees_only_their_own_import_batches(
    client: TestClient, db: Session
) -> None:
    college = make_college(db, "通信学院")
    office_headers = office(db)
    manager = headers_for(db, Role.college_manager, college_id=college.id)
    upload(
        client, office_headers, "teachers", "t.csv", "工号,姓名,二级学院\nT1,甲,通信学院\n".encode()
    )
    upload(client, manager, "teachers", "mine.csv", "工号,姓名,二级学院\nT2,乙,通信学院\n".encode())
    mine = client.get("/api/v1/imports", headers=manager).json()
    assert [b["file_name"] for b in mine["items"]] == ["mine.csv"]
    everything = client.get("/api/v1/imports", headers=office_headers).json()
    assert everything["total"] == 2


def test_college_manager_cannot_create_a_college_through_a_majors_upload(
    client: TestClient, db: Session
) -> None:
    college = make_college(db, "通信学院")
    manager = headers_for(db, Role.college_manager, college_id=college.id)
    content = "专业代码,专业名称,二级学院\n510301,现代通信技术,新学院\n".encode()
    response = upload(client, manager, "majors", "m.csv", content)
    assert response.status_code == 422
    assert "unknown college '新学院'" in response.json()["errors"][0]["reason"]


def test_misspelt_college_in_a_majors_upload_is_refused_with_a_suggestion(
    client: TestClient, db: Session
) -> None:
    make_college(db, "计算机与软件学院")
    content = "专业代码,专业名称,二级学院\n510203,软件技术,计算机与软件学員\n".encode()
    body = upload(client, office(db), "majors", "m.csv", content, dry_run=True).json()
    assert "did you mean '计算机与软件学院'" in body["errors"][0]["reason"]


@pytest.mark.postgres_only
def test_two_concurrent_uploads_of_the_same_file_create_each_row_once(
    client: TestClient, db: Session, is_postgres: bool
) -> None:
    if not is_postgres:
        pytest.skip("runs only on PostgreSQL")
    make_college(db, "通信学院")
    headers = office(db)
    content = "\n".join(
        ["工号,姓名,二级学院", *(f"T{i},老师{i},通信学院" for i in range(300))]
    ).encode()
    statuses: list[int] = []

    def send() -> None:
        statuses.append(upload(client, headers, "teachers", "t.csv", content).status_code)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200, 200, 200, 200]
    batches = db.exec(select(ImportBatch).order_by(ImportBatch.id)).all()
    assert sorted(b.created for b in batches) == [0, 0, 0, 300]


def test_import_batch_list_statement_count_does_not_grow_with_page_size(
    client: TestClient, db: Session, engine: Engine
) -> None:
    db.add_all(
        ImportBatch(
            kind="students",
            file_name=f"{i}.csv",
            sha256="0" * 64,
            rows=1,
            created=1,
            updated=0,
            unchanged=0,
            actor="user:office",
        )
        for i in range(55)
    )
    db.commit()
    headers = office(db)
    counts = []
    for limit in (1, 50):
        with counting(engine) as statements:
            response = client.get("/api/v1/imports", params={"limit": limit}, headers=headers)
        assert len(response.json()["items"]) == limit
        counts.append(len(statements))
    assert counts[0] == counts[1]


@pytest.mark.usefixtures("chinese")
def test_import_batches_export_as_csv(client: TestClient, db: Session) -> None:
    headers = office(db)
    upload(client, headers, "colleges", "学院.csv", "学院名称\n外国语学院\n".encode())
    response = client.get("/api/v1/imports", params={"format": "csv"}, headers=headers)
    assert response.status_code == 200
    lines = response.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("批次ID,导入时间,类型,文件名")
    assert ",colleges,学院.csv," in lines[1]
