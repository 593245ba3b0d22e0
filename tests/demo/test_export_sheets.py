"""Issue 16: every list's and every report's XLSX opens as people read it — a Chinese sheet
name, labels instead of codes, money as numbers with a number format, a frozen header and a
filter — and its CSV carries the same headers and labels; reports have a title row and a bold
totals row. English on request (Accept-Language: en)."""

import csv
import io
import re
from typing import Any

import pytest
from fastapi import FastAPI
from openpyxl import load_workbook
from sqlmodel import Session
from starlette.testclient import TestClient

from app.core.labels import LABELS, label
from app.core.roles import Role
from app.demo.loader import load_demo
from tests.demo.test_list_statements import ADMIN_ONLY, _paged_lists
from tests.reference.factories import headers_for, office

ZH = {"Accept-Language": "zh-CN"}
EN = {"Accept-Language": "en"}
CJK = re.compile(r"[\u4e00-\u9fff]")
MONEY_TEXT = re.compile(r"^-?\d+\.\d\d$")
RATE_HEADER = re.compile(r"率|占比|%")
"""A column of rates: every one is a percent cell (a fraction shown as 66.7%)."""
CODES = frozenset(
    member.value
    for enum in LABELS
    for member in enum
    if member.value.isascii() and label(member, "zh-CN") != member.value
)
"""Every enum code a person would see as a label instead (approved, draft, …)."""
NAMES = frozenset({"用户名", "操作者", "经办人", "记账人"})
"""Columns of account names (the demo has a user called admin) and the audit log's action
and entity names (an action such as ``absent`` is the audit trail's own word)."""
REPORTS = {
    "/api/v1/reports/applications": {"year": 2022, "group_by": "certificate"},
    "/api/v1/reports/funnel": {"year": 2022},
    "/api/v1/reports/funding": {"year": 2022},
    "/api/v1/reports/teacher-coverage": {"year": 2022},
    "/api/v1/reports/credit-conversions": {},
    "/api/v1/reports/dual-qualified": {"year": 2022},
}
WORKBOOKS = {"/api/v1/reports/year"}
"""Reports that are a workbook of their own (a cover, a sheet per area with its chart, no CSV):
tests/yearbook checks them."""


@pytest.fixture
def demo(db: Session) -> Session:
    assert load_demo(db, "admin", "demo-password-123").created
    return db


def _csv(response: Any) -> list[list[str]]:
    assert response.status_code == 200, response.text
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))


def _book(response: Any) -> Any:
    assert response.status_code == 200, response.text
    return load_workbook(io.BytesIO(response.content))


def _exports(app: FastAPI) -> list[tuple[str, dict[str, Any], bool]]:
    """(path, params, is a report) of every list and report that exports."""
    found: list[tuple[str, dict[str, Any], bool]] = [
        (path, dict.fromkeys(required, 2022), False) for path, required in _paged_lists(app)
    ]
    paths = app.openapi()["paths"]
    for path in REPORTS:
        assert any(p["name"] == "format" for p in paths[path]["get"]["parameters"]), path
    reports = [p for p in paths if p.startswith("/api/v1/reports/") and "{" not in p]
    exporting = [
        p
        for p in reports
        if any(q["name"] == "format" for q in paths[p]["get"].get("parameters", []))
        and p not in WORKBOOKS
    ]
    assert sorted(exporting) == sorted(REPORTS), "a report to add to REPORTS"
    found += [(path, params, True) for path, params in REPORTS.items()]
    return found


def test_every_export_reads_as_people_read_it(
    app: FastAPI, client: TestClient, demo: Session
) -> None:
    clerk, admin = office(demo), headers_for(demo, Role.admin)
    money_seen, labels_seen = [], []
    rates_seen: set[str] = set()
    for path, params, is_report in _exports(app):
        auth = admin if path in ADMIN_ONLY else clerk
        book = _book(client.get(path, params={**params, "format": "xlsx"}, headers={**auth, **ZH}))
        sheet = book.worksheets[0]
        assert CJK.search(sheet.title), (path, sheet.title)
        header_row = 2 if is_report else 1
        assert sheet.freeze_panes == f"A{header_row + 1}", (path, sheet.freeze_panes)
        assert sheet.auto_filter.ref and sheet.auto_filter.ref.startswith(f"A{header_row}:"), path
        rows = list(sheet.iter_rows(min_row=header_row))
        headers = [c.value for c in rows[0]]
        assert all(isinstance(h, str) and h for h in headers), (path, headers)
        cells = [c for row in rows[1:] for c in row if c.value is not None]
        assert not any(h.endswith("%") for h in headers), (path, headers)
        rates = {i for i, h in enumerate(headers) if RATE_HEADER.search(h)}
        for cell in cells:
            if cell.column - 1 in rates and isinstance(cell.value, int | float):
                assert cell.number_format == "0.0%", (path, headers[cell.column - 1])
                assert 0 <= cell.value <= 1, (path, headers[cell.column - 1], cell.value)
                rates_seen.add(headers[cell.column - 1])
        for cell in cells:
            if headers[cell.column - 1] not in NAMES:
                assert not (isinstance(cell.value, str) and cell.value in CODES), (path, cell.value)
            assert not (isinstance(cell.value, str) and MONEY_TEXT.match(cell.value)), (
                path,
                headers[cell.column - 1],
                cell.value,
            )
            if isinstance(cell.value, int | float) and cell.number_format == "#,##0.00":
                money_seen.append(path)
            if isinstance(cell.value, int | float):
                assert cell.number_format != "General", (path, headers[cell.column - 1])
        table = _csv(client.get(path, params={**params, "format": "csv"}, headers={**auth, **ZH}))
        assert table[0] == headers, path
        names = [index for index, header in enumerate(headers) if header in NAMES]
        for row in table[1:]:
            shown = {cell for index, cell in enumerate(row) if index not in names}
            assert not CODES.intersection(shown), (path, CODES.intersection(shown))
        if any(c.data_type == "s" and c.value in _all_labels() for c in cells):
            labels_seen.append(path)
        if is_report:
            title = sheet["A1"].value
            assert isinstance(title, str) and CJK.search(title), (path, title)
            if "year" in params:
                assert "2022" in title, (path, title)
            total = rows[-1]
            assert total[0].font.bold or total[1].font.bold, path
            assert "合计" in [c.value for c in total], (path, [c.value for c in total])
            assert table[-1].count("合计") == 1, path
    assert len(set(money_seen)) >= 4, money_seen
    assert len(set(labels_seen)) >= 8, labels_seen
    assert {"执行率", "通过率", "覆盖率", "考评员覆盖率", "双师型占比"} <= rates_seen, rates_seen


def _all_labels() -> set[str]:
    return {label(member, "zh-CN") for enum in LABELS for member in enum}


def test_applications_export_in_chinese_and_in_english(client: TestClient, demo: Session) -> None:
    clerk = office(demo)
    params = {"year": 2022, "format": "xlsx"}
    book = _book(client.get("/api/v1/applications", params=params, headers={**clerk, **ZH}))
    sheet = book.worksheets[0]
    assert sheet.title == "试点申报一览表"
    headers = [c.value for c in sheet[1]]
    status = headers.index("状态")
    assert {row[status].value for row in sheet.iter_rows(min_row=2)} <= {
        "草稿",
        "已提交",
        "已批准",
        "已驳回",
        "已结束",
    }
    english = _book(client.get("/api/v1/applications", params=params, headers={**clerk, **EN}))
    sheet = english.worksheets[0]
    assert sheet.title == "Pilot applications"
    headers = [c.value for c in sheet[1]]
    assert "Status" in headers and "状态" not in headers
    status = headers.index("Status")
    assert "Approved" in {row[status].value for row in sheet.iter_rows(min_row=2)}
    table = _csv(
        client.get("/api/v1/applications", params={**params, "format": "csv"}, headers=clerk)
    )
    assert "Status" in table[0]
    json_page = client.get("/api/v1/applications", params={"year": 2022}, headers={**clerk, **ZH})
    assert {item["status"] for item in json_page.json()["items"]} <= {
        "draft",
        "submitted",
        "approved",
        "rejected",
        "closed",
    }


def test_money_dates_and_rates_are_typed_cells(client: TestClient, demo: Session) -> None:
    clerk = {**office(demo), **ZH}
    book = _book(client.get("/api/v1/expenditures", params={"format": "xlsx"}, headers=clerk))
    sheet = book.worksheets[0]
    headers = [c.value for c in sheet[1]]
    first = list(sheet[2])
    amount = first[headers.index("金额")]
    assert isinstance(amount.value, int | float) and amount.number_format == "#,##0.00"
    spent_on = first[headers.index("日期")]
    assert spent_on.is_date and spent_on.number_format == "yyyy-mm-dd"
    as_json = client.get("/api/v1/expenditures", headers=clerk).json()["items"][0]
    assert isinstance(as_json["amount"], str) and re.fullmatch(r"-?\d+\.\d\d", as_json["amount"])
    report = _book(
        client.get("/api/v1/reports/funnel", params={"year": 2022, "format": "xlsx"}, headers=clerk)
    ).worksheets[0]
    headers = [c.value for c in report[2]]
    rate = headers.index("通过率")
    rates = [row[rate] for row in report.iter_rows(min_row=3) if row[rate].value is not None]
    assert rates and all(c.number_format == "0.0%" for c in rates)


ROUND_TRIPS = {
    "colleges": "/api/v1/colleges",
    "majors": "/api/v1/majors",
    "courses": "/api/v1/courses",
    "teachers": "/api/v1/teachers",
    "students": "/api/v1/students",
    "evaluation-orgs": "/api/v1/evaluation-orgs",
    "certificates": "/api/v1/certificates",
    "applications": "/api/v1/applications",
    "credit-rules": "/api/v1/credit-rules",
    "teacher-trainings": "/api/v1/teacher-trainings",
    "expenditures": "/api/v1/expenditures",
}
"""Each import kind and the list whose export carries its columns."""


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_an_export_in_either_language_has_headers_its_importer_reads(
    client: TestClient, demo: Session, language: str
) -> None:
    clerk = {**office(demo), "Accept-Language": language}
    for kind, path in ROUND_TRIPS.items():
        params = {"year": 2022} if kind == "applications" else {}
        for fmt in ("csv", "xlsx"):
            exported = client.get(path, params={**params, "format": fmt}, headers=clerk)
            assert exported.status_code == 200, (kind, exported.text)
            answer = client.post(
                f"/api/v1/imports/{kind}",
                params={"dry_run": "true", **params},
                files={"file": (f"{kind}.{fmt}", exported.content)},
                headers=clerk,
            )
            body = answer.json()
            assert body.get("code") != "missing_columns", (kind, language, fmt, body)
            assert answer.status_code in (200, 422), (kind, body)


def test_the_funding_report_has_typed_money_and_a_percent_execution_rate(
    client: TestClient, demo: Session
) -> None:
    clerk = {**office(demo), **ZH}
    response = client.get(
        "/api/v1/reports/funding", params={"year": 2022, "format": "xlsx"}, headers=clerk
    )
    sheet = _book(response).worksheets[0]
    assert sheet.title == "预算执行情况"
    assert sheet["A1"].value == "预算执行情况（预算年度：2022；分组：经费来源）"
    headers = [c.value for c in sheet[2]]
    rows = list(sheet.iter_rows(min_row=3))
    rate, spent = headers.index("执行率"), headers.index("已支出")
    assert all(row[rate].number_format == "0.0%" for row in rows if row[rate].value is not None)
    assert all(row[spent].number_format == "#,##0.00" for row in rows)
    total = rows[-1]
    assert total[0].value == "合计" and total[0].font.bold
    assert total[spent].value == pytest.approx(sum(row[spent].value for row in rows[:-1]))
