"""Issue 16: every import template guides the filling-in — a 填写说明 sheet, an example row
the upload skips, drop-downs on enum columns and on reference columns (as the database holds
them when the template is downloaded) — and a template filled in by choosing from its
drop-downs uploads without edits."""

import io
import re
from typing import Any

import pytest
from openpyxl import load_workbook
from openpyxl.utils import column_index_from_string, get_column_letter
from sqlmodel import Session
from starlette.testclient import TestClient

from app.demo.loader import load_demo
from app.imports.engine import is_example_row
from app.imports.registry import KINDS
from tests.imports.helpers import upload
from tests.reference.factories import office

ZH = {"Accept-Language": "zh-CN"}
FILLED = [
    "majors",
    "courses",
    "teachers",
    "students",
    "certificates",
    "applications",
    "credit-rules",
    "teacher-trainings",
]
"""Kinds whose example row, with the drop-downs' choices, is a good row on the demo data."""
TYPED = {"applications": {"年度": "2024"}, "credit-rules": {"课程代码": "C9999001"}}
"""What the person types in free columns where the example is a row the demo already has (an
approved 2022 pilot, a rule already used)."""


@pytest.fixture
def demo(db: Session) -> Session:
    assert load_demo(db, "admin", "demo-password-123").created
    return db


def _template(client: TestClient, headers: dict[str, str], kind: str) -> Any:
    response = client.get(f"/api/v1/imports/{kind}/template", headers=headers)
    assert response.status_code == 200, response.text
    return load_workbook(io.BytesIO(response.content))


def _drop_downs(book: Any) -> dict[int, tuple[list[str], bool]]:
    """Column number → (the drop-down's values, whether it refuses other values), read from the
    data sheet's validations (inline lists or ranges of the hidden list sheet)."""
    sheet = book.worksheets[0]
    found: dict[int, tuple[list[str], bool]] = {}
    for validation in sheet.data_validations.dataValidation:
        assert validation.type == "list"
        formula = validation.formula1
        if formula.startswith('"'):
            values = formula.strip('"').split(",")
        else:
            match = re.fullmatch(r"'?([^'!]+)'?!\$([A-Z]+)\$(\d+):\$([A-Z]+)\$(\d+)", formula)
            assert match, formula
            lists = book[match[1]]
            assert lists.sheet_state == "hidden"
            column = column_index_from_string(match[2])
            values = [
                str(lists.cell(row=row, column=column).value)
                for row in range(int(match[3]), int(match[5]) + 1)
            ]
        for cells in validation.sqref.ranges:
            assert cells.min_row == 3, "drop-downs start under the example row"
            found[cells.min_col] = (values, validation.errorStyle in (None, "stop"))
    return found


def test_every_template_has_instructions_an_example_and_drop_downs(
    client: TestClient, demo: Session
) -> None:
    clerk = {**office(demo), **ZH}
    for name, kind in sorted(KINDS.items()):
        book = _template(client, clerk, name)
        assert book.sheetnames[:2] == [kind.title, "填写说明"], name
        sheet = book.worksheets[0]
        headers = [c.value for c in sheet[1]]
        assert headers == [c.zh for c in kind.columns], name
        example = [c.value or "" for c in sheet[2]]
        assert example[0].startswith("示例"), (name, example)
        assert is_example_row(example), name
        drop_downs = _drop_downs(book)
        for number, column in enumerate(kind.columns, start=1):
            if column.choices or column.choices_from is not None:
                assert number in drop_downs, (name, column.zh)
                values, strict = drop_downs[number]
                assert values, (name, column.zh)
                assert strict == (bool(column.choices) and not column.multiple), (name, column.zh)
            else:
                assert number not in drop_downs, (name, column.zh)
        instructions = book["填写说明"]
        rows = [[c.value for c in row] for row in instructions.iter_rows(min_row=4)]
        assert rows[0][:6] == ["列名", "英文列名", "是否必填", "格式", "可选值", "示例"], name
        described = {row[0]: row for row in rows[1:]}
        for column in kind.columns:
            row = described[column.zh]
            assert row[1] == column.en and row[2] in ("是", "否") and row[3], (name, row)
            if column.choices:
                assert all(choice in row[4] for choice in column.choices), (name, row)
    assert any(_drop_downs(_template(client, clerk, k)) for k in ("majors", "applications"))


def test_the_level_and_college_drop_downs_list_what_the_database_holds(
    client: TestClient, demo: Session
) -> None:
    clerk = {**office(demo), **ZH}
    book = _template(client, clerk, "applications")
    headers = [c.value for c in book.worksheets[0][1]]
    drop_downs = _drop_downs(book)
    level, strict = drop_downs[headers.index("申报级别") + 1]
    assert level == ["初级", "中级", "高级"] and strict
    tier, _strict = drop_downs[headers.index("本科/高职/中职") + 1]
    assert tier == ["本科", "高职", "中职"]
    certificates, strict = drop_downs[headers.index("申报试点证书名称") + 1]
    assert "Web前端开发" in certificates and not strict
    majors = _template(client, clerk, "majors")
    colleges, _strict = _drop_downs(majors)[3]
    assert "计算机与软件学院" in colleges


def test_a_template_with_only_its_example_has_no_rows_to_import(
    client: TestClient, demo: Session
) -> None:
    clerk = {**office(demo), **ZH}
    response = client.get("/api/v1/imports/colleges/template", headers=clerk)
    answer = upload(client, clerk, "colleges", "colleges.xlsx", response.content, dry_run=True)
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "no_data_rows"


@pytest.mark.parametrize("kind", FILLED)
def test_a_template_filled_from_its_drop_downs_imports_without_edits(
    client: TestClient, demo: Session, kind: str
) -> None:
    clerk = {**office(demo), **ZH}
    response = client.get(f"/api/v1/imports/{kind}/template", headers=clerk)
    book = load_workbook(io.BytesIO(response.content))
    drop_downs = _drop_downs(book)
    sheet = book.worksheets[0]
    for number, column in enumerate(KINDS[kind].columns, start=1):
        if number in drop_downs:
            values, _strict = drop_downs[number]
            value = column.example if column.example in values else values[0]
        else:
            value = TYPED.get(kind, {}).get(column.zh, column.example)
        cell = sheet.cell(row=3, column=number, value=value or None)
        cell.data_type = "s"
    filled = io.BytesIO()
    book.save(filled)
    answer = upload(client, clerk, kind, f"{kind}.xlsx", filled.getvalue())
    assert answer.status_code == 200, (kind, answer.json().get("errors"))
    report = answer.json()
    assert report["written"] and report["rows"] == 1, (kind, report)
    assert report["created"] + report["updated"] + report["unchanged"] == 1


def test_the_template_speaks_english_on_request(client: TestClient, demo: Session) -> None:
    english = _template(client, {**office(demo), "Accept-Language": "en"}, "students")
    assert english.sheetnames[1] == "Instructions"
    sheet = english.worksheets[0]
    assert [c.value for c in sheet[1]][:2] == ["学号", "姓名"]
    assert get_column_letter(1) == "A"


def test_only_a_row_marked_as_the_example_is_skipped() -> None:
    assert is_example_row(["示例：计算机与软件学院", "CS"])
    assert is_example_row(["", " 示例:1", "高职"])
    assert is_example_row(["示例", ""])
    assert not is_example_row(["示例学院", "SL"])
    assert not is_example_row(["Example", "EX"])
    assert not is_example_row(["计算机学院", "示例：x"])
