"""The one export writer, on the platform's own lists too."""

import csv
import io
import json
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlmodel import Session
from starlette.testclient import TestClient

from app.core.export import csv_cell, neutralise
from app.core.roles import Role
from tests.factories import login_as


def test_formula_prefixes_are_neutralised_and_numbers_are_not() -> None:
    assert [neutralise(v) for v in ("=SUM(A1)", "+1", "-x", "@cmd", "\tx", "ok")] == [
        "'=SUM(A1)",
        "'+1",
        "'-x",
        "'@cmd",
        "'\tx",
        "ok",
    ]
    assert neutralise(-5) == -5


def test_a_negative_amount_is_a_number_in_csv_and_text_that_looks_like_one_is_not() -> None:
    assert csv_cell(Decimal("-1280.00")) == "-1280.00"
    assert csv_cell(-3) == -3
    assert csv_cell("-1280.00") == "'-1280.00"  # text: a spreadsheet would read a formula


@pytest.mark.usefixtures("chinese")
def test_users_export_as_csv_with_chinese_headers(client: TestClient, db: Session) -> None:
    admin = login_as(db, Role.admin)
    response = client.get("/api/v1/users", params={"format": "csv"}, headers=admin)
    assert response.status_code == 200
    assert response.content.startswith(b"\xef\xbb\xbf")
    header, first = response.content.decode("utf-8-sig").splitlines()[:2]
    assert header.startswith("ID,用户名,姓名")
    assert ",系统管理员," in first  # the role by its label


@pytest.mark.usefixtures("chinese")
def test_api_keys_export_as_xlsx(client: TestClient, db: Session) -> None:
    admin = login_as(db, Role.admin)
    client.post("/api/v1/api-keys", json={"name": "nightly", "role": "auditor"}, headers=admin)
    response = client.get("/api/v1/api-keys", params={"format": "xlsx"}, headers=admin)
    assert response.status_code == 200
    rows = list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
    assert rows[0][:3] == ("ID", "名称", "角色")
    assert rows[1][1:3] == ("nightly", "审计员")


@pytest.mark.usefixtures("chinese")
def test_audit_events_export_with_before_and_after_as_json(client: TestClient, db: Session) -> None:
    admin = login_as(db, Role.admin)
    client.post("/api/v1/api-keys", json={"name": "nightly", "role": "auditor"}, headers=admin)
    response = client.get(
        "/api/v1/audit-events", params={"format": "csv", "entity": "api_key"}, headers=admin
    )
    assert response.status_code == 200
    header, *rows = csv.reader(io.StringIO(response.content.decode("utf-8-sig")))
    assert header == [
        "ID",
        "时间",
        "操作者",
        "角色",
        "操作",
        "对象",
        "对象ID",
        "修改前",
        "修改后",
        "请求ID",
    ]
    assert len(rows) == 1
    assert json.loads(rows[0][8])["name"] == "nightly"


def _xlsx(items: list[dict[str, object]], title: str = "学生名单") -> bytes:
    from app.core.export import ExportColumn, item_rows, xlsx_chunks

    columns = [ExportColumn("code", "代码"), ExportColumn("name", "名称"), ExportColumn("n", "数")]
    return b"".join(xlsx_chunks(item_rows(items, columns), [c.header for c in columns], title))


def test_xlsx_header_is_frozen_filtered_and_fitted() -> None:
    workbook = load_workbook(io.BytesIO(_xlsx([{"code": "007", "name": "甲", "n": 3}])))
    sheet = workbook.active
    assert sheet.title == "学生名单"
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:C2"
    assert sheet["A1"].font.b
    assert sheet.column_dimensions["A"].width >= 8
    assert [c.value for c in sheet[2]] == ["007", "甲", 3]
    assert sheet["A2"].data_type == "s"


def test_xlsx_cells_with_forbidden_characters_still_open() -> None:
    hostile = "=1+1\x00\x07\x1b\ud800😀\ufffe"
    content = _xlsx([{"code": hostile, "name": "x" * 40_000, "n": None}], title="a/b:c*?[d]")
    sheet = load_workbook(io.BytesIO(content)).active
    assert sheet["A2"].value == "=1+1\ufffd\ufffd\ufffd\ufffd😀\ufffd"
    assert sheet["A2"].data_type == "s"
    assert len(sheet["B2"].value) == 32_767
    assert sheet["C2"].value is None
    assert sheet.title == "a_b_c___d_"


def test_xlsx_past_a_sheets_rows_goes_on_in_another_sheet(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from app.core import export

    monkeypatch.setattr(export, "XLSX_MAX_ROWS", 3)
    content = _xlsx([{"code": str(i), "name": "n", "n": i} for i in range(5)])
    workbook = load_workbook(io.BytesIO(content))
    assert workbook.sheetnames == ["学生名单", "学生名单 (2)", "学生名单 (3)"]
    rows = [
        list(row)
        for sheet in workbook.worksheets
        for row in sheet.iter_rows(min_row=2, values_only=True)
    ]
    assert [r[0] for r in rows] == ["0", "1", "2", "3", "4"]
    assert all(sheet["A1"].value == "代码" for sheet in workbook.worksheets)


def test_csv_cells_with_lone_surrogates_and_formulas_encode() -> None:
    from app.core.export import csv_chunks

    body = b"".join(csv_chunks([["=a\ud800b😀"], ["-1"]], ["名称"]))
    assert body.decode("utf-8-sig").splitlines() == ["名称", "'=a\ufffdb😀", "'-1"]
