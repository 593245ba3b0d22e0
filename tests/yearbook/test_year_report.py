"""The year's report (issue 18, part 2) on the demo data: one workbook with a cover and a sheet
per area, each with a native chart, whose every figure is the one the area's own JSON report
answers; format=json the same content."""

import io
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.testclient import TestClient

from app.core.roles import Principal, Role
from app.credits import reports as credit_reports
from app.demo.loader import load_demo
from app.yearbook.models import YearReport
from app.yearbook.service import year_report
from tests.reference.factories import headers_for, office


def _rows(sheet: Worksheet, title: str) -> list[list[Any]]:
    """The data rows of the table headed ``title`` (its title row, the header, then rows until
    a blank first cell)."""
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    start = next(i for i, row in enumerate(values) if row[0] and str(row[0]).startswith(title))
    rows = []
    for row in values[start + 2 :]:
        if row[0] is None:
            break
        rows.append(row)
    return rows


def _number(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(Decimal("0.0001"))


def _same(cell: Any, figure: Any) -> bool:
    if figure is None:
        return cell is None
    if isinstance(figure, bool):
        return cell == ("是" if figure else "否")
    if isinstance(figure, int | float) or (isinstance(figure, str) and _is_number(figure)):
        return _number(cell) == _number(figure)
    return str(cell) == str(figure)


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return True


@pytest.fixture
def demo(client: TestClient, db: Session) -> dict[str, str]:
    assert load_demo(db, "admin", "demo-password-123").created
    return {**office(db), "Accept-Language": "zh-CN"}


def test_every_figure_of_the_workbook_is_the_json_reports_own(
    client: TestClient, demo: dict[str, str]
) -> None:
    response = client.get("/api/v1/reports/year?year=2022&format=xlsx", headers=demo)
    assert response.status_code == 200
    assert "year-report-2022.xlsx" in response.headers["content-disposition"]
    workbook = load_workbook(io.BytesIO(response.content))
    assert workbook.sheetnames == [
        "封面",
        "试点漏斗",
        "师资覆盖",
        "经费执行",
        "学分银行",
        "绩效考核",
    ]
    for name in workbook.sheetnames[1:]:
        assert workbook[name]._charts, f"{name} has no chart"

    def get(path: str) -> Any:
        answer = client.get(path, headers=demo)
        assert answer.status_code == 200, answer.text
        return answer.json()

    funnel = get("/api/v1/reports/funnel?year=2022&group_by=application")
    rows = _rows(workbook["试点漏斗"], "2022 年度试点漏斗")
    expected = [*funnel["rows"], funnel["total"]]
    assert len(rows) == len(expected) == 33
    keys = ["label", "headcount", "trained", "registered", "sat", "passed", "certified"]
    for row, figure in zip(rows, expected, strict=True):
        assert all(_same(row[i], figure[k]) for i, k in enumerate(keys)), (row, figure)
        assert _same(row[7], figure["pass_rate"])

    coverage = get("/api/v1/reports/teacher-coverage?year=2022")
    rows = _rows(workbook["师资覆盖"], "各试点培训师覆盖率")
    assert len(rows) == len(coverage["pilots"])
    for row, pilot in zip(rows, coverage["pilots"], strict=True):
        assert (row[2], row[3]) == (pilot["assigned"], pilot["certified"])
        percent = pilot["coverage_percent"]
        assert (row[4] is None) if percent is None else row[4] == pytest.approx(percent / 100)
        assert row[5] == 1
    rows = _rows(workbook["师资覆盖"], "各二级学院覆盖率")
    assert [(r[0], r[2], r[3]) for r in rows] == [
        (c["college_name"], c["assigned"], c["certified"]) for c in coverage["colleges"]
    ]

    money = ["allocated", "spent", "remaining", "execution_rate", "subsidies_paid"]
    for group_by, title in (("source", "按经费来源"), ("category", "按支出类别")):
        funding = get(f"/api/v1/reports/funding?year=2022&group_by={group_by}")
        rows = _rows(workbook["经费执行"], f"2022 年度预算执行（{title}）")
        expected = [*funding["rows"], funding["total"]]
        assert len(rows) == len(expected) >= 2
        for row, figure in zip(rows, expected, strict=True):
            assert row[0] == figure["label"]
            assert all(_same(row[i + 1], figure[k]) for i, k in enumerate(money)), (row, figure)

    credits = get("/api/v1/reports/credit-conversions?pilot_year=2022")
    rows = _rows(workbook["学分银行"], "2022 年度试点证书的学分转换")
    assert credits["per_rule"]
    assert [(r[0], r[1], r[3], _number(r[4])) for r in rows] == [
        (c["certificate_name"], c["course_code"], c["conversions"], _number(c["credits"]))
        for c in credits["per_rule"]
    ]
    rows = _rows(workbook["学分银行"], "按课程")
    assert [(r[1], r[3]) for r in rows] == [
        (c["course_code"], c["conversions"]) for c in credits["per_course"]
    ]

    evaluations = get("/api/v1/evaluations?year=2022&limit=500")["items"]
    rows = _rows(workbook["绩效考核"], "2022 年度绩效考核")
    assert len(rows) == len(evaluations) == 32
    for row, evaluation in zip(rows, evaluations, strict=True):
        assert row[0] == evaluation["rank"]
        assert _same(row[4], evaluation["committee_score"])
        assert _same(row[5], evaluation["total"]) and row[6] == evaluation["rating"]
        assert _same(row[7], evaluation["needs_rectification"])
    meetings = get("/api/v1/meetings")["items"]
    rows = _rows(workbook["绩效考核"], "专家顾问委员会例会")
    assert [(r[1], r[3]) for r in rows] == [(m["topic"], len(m["decisions"])) for m in meetings]
    decisions = _rows(workbook["绩效考核"], "委员会决议")
    assert [r[1] for r in decisions] == [d["text"] for m in meetings for d in m["decisions"]]

    cover = [list(r) for r in workbook["封面"].iter_rows(values_only=True)]
    assert ["年度", "2022"] in [r[:2] for r in cover]


def test_json_is_the_same_content_as_one_document(client: TestClient, demo: dict[str, str]) -> None:
    document = client.get("/api/v1/reports/year?year=2022&format=json", headers=demo).json()
    assert document["cover"]["year"] == 2022 and document["cover"]["school"]
    funnel = client.get(
        "/api/v1/reports/funnel?year=2022&group_by=application", headers=demo
    ).json()
    assert document["pilots"] == funnel
    coverage = client.get("/api/v1/reports/teacher-coverage?year=2022", headers=demo).json()
    assert document["teachers"] == coverage
    by_source = client.get("/api/v1/reports/funding?year=2022&group_by=source", headers=demo)
    assert document["funds"]["by_source"] == by_source.json()
    credits = client.get("/api/v1/reports/credit-conversions?pilot_year=2022", headers=demo)
    assert document["credits"] == credits.json()
    assert len(document["evaluation"]["evaluations"]) == 32
    assert len(document["meetings"]) == 1


def test_the_workbook_reads_the_conversions_counts_without_holding_their_rows(
    client: TestClient, demo: dict[str, str], engine: Engine
) -> None:
    """The workbook shows the credit bank's counts, so its report reads the conversions and
    lets them go (memory that does not grow with them); the counts are the JSON's."""
    document = client.get("/api/v1/reports/year?year=2022&format=json", headers=demo).json()
    assert document["credits"]["rows"]
    with Session(engine) as session:
        counted = year_report(
            session,
            Principal(role=Role.academic_office, label="test"),
            year=2022,
            today=date(2026, 12, 1),
            school="test",
        ).drained()
    assert counted.credits.rows == []
    whole = document["credits"]
    assert counted.credits.model_dump(mode="json") == {**whole, "rows": []}


def test_the_json_streams_the_conversions_inside_the_document(
    client: TestClient, demo: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """format=json writes the credit bank's conversions as they are read (chunked, a chunk of
    one row at a time here), inside the one document, the same as the report's own."""
    monkeypatch.setattr(credit_reports, "EXPORT_CHUNK_ROWS", 1)
    response = client.get("/api/v1/reports/year?year=2022&format=json", headers=demo)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert "content-length" not in response.headers
    document = response.json()
    assert list(document) == list(YearReport.model_fields)
    credits = client.get("/api/v1/reports/credit-conversions?pilot_year=2022", headers=demo)
    assert document["credits"] == credits.json()
    assert document["credits"]["rows"]


def test_the_workbook_speaks_english_on_request(client: TestClient, demo: dict[str, str]) -> None:
    english = {**demo, "Accept-Language": "en"}
    response = client.get("/api/v1/reports/year?year=2022&format=xlsx", headers=english)
    workbook = load_workbook(io.BytesIO(response.content))
    assert workbook.sheetnames == [
        "Cover",
        "Pilots funnel",
        "Trainer coverage",
        "Funds and their execution",
        "Credit bank",
        "Evaluation",
    ]
    assert _rows(workbook["Pilots funnel"], "2022 pilots funnel")


def test_only_readers_of_everything_get_it(client: TestClient, db: Session) -> None:
    assert (
        client.get(
            "/api/v1/reports/year?year=2022", headers=headers_for(db, Role.auditor)
        ).status_code
        == 200
    )
    refused = client.get(
        "/api/v1/reports/year?year=2022", headers=headers_for(db, Role.college_manager)
    )
    assert refused.status_code == 403
    assert client.get("/api/v1/reports/year", headers=office(db)).status_code == 422
