"""The year's report as one .xlsx workbook: a cover sheet, then one sheet per area with its
table (labels, number cells for counts, money and rates) and a native Excel chart beside it.

Every cell is written from the :class:`~app.yearbook.models.YearReport` the JSON answers, so
the workbook and the JSON say the same; text goes through the export's one cleaner
(:func:`app.core.export.xlsx_safe`), so no cell content can break the file."""

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import xlsxwriter

from app.core.export import sheet_name, xlsx_safe
from app.yearbook.models import YearReport

SHEETS = {
    "cover": "封面",
    "pilots": "试点漏斗",
    "teachers": "师资覆盖",
    "funds": "经费执行",
    "credits": "学分银行",
    "evaluation": "绩效考核",
}
COVERAGE_TARGET = 100
CHART_SIZE = {"x_scale": 1.6, "y_scale": 1.4}


@dataclass(frozen=True)
class Col:
    """A column of a table: its header, how a row gives its value, its number format."""

    header: str
    value: Callable[[Any], Any]
    number_format: str | None = None


@dataclass
class Placed:
    """Where a table landed: its first data row, its last row and first column (0-based)."""

    first_row: int
    last_row: int
    first_col: int


class _Writer:
    def __init__(self, workbook: Any) -> None:
        self.workbook = workbook
        self.bold = workbook.add_format({"bold": True})
        self.title = workbook.add_format({"bold": True, "font_size": 14})
        self.formats: dict[str, Any] = {}

    def format(self, number_format: str | None) -> Any:
        if number_format is None:
            return None
        if number_format not in self.formats:
            self.formats[number_format] = self.workbook.add_format({"num_format": number_format})
        return self.formats[number_format]

    def cell(
        self, sheet: Any, row: int, column: int, value: Any, number_format: str | None
    ) -> None:
        if value is None:
            return
        if isinstance(value, bool):
            sheet.write_string(row, column, "是" if value else "否")
        elif isinstance(value, Decimal | int | float):
            sheet.write_number(row, column, float(value), self.format(number_format))
        elif isinstance(value, Enum):
            sheet.write_string(row, column, xlsx_safe(str(value.value)))
        elif isinstance(value, datetime | date):
            sheet.write_string(row, column, value.isoformat())
        elif isinstance(value, list | tuple):
            sheet.write_string(row, column, xlsx_safe("、".join(map(str, value))))
        else:
            sheet.write_string(row, column, xlsx_safe(str(value)))

    def table(
        self,
        sheet: Any,
        top: int,
        title: str,
        columns: Sequence[Col],
        rows: Sequence[Any],
        *,
        left: int = 0,
    ) -> Placed:
        """``title`` on row ``top``, the bold header under it, then ``rows``."""
        sheet.write_string(top, left, xlsx_safe(title), self.bold)
        for index, column in enumerate(columns):
            sheet.write_string(top + 1, left + index, xlsx_safe(column.header), self.bold)
        for offset, row in enumerate(rows):
            for index, column in enumerate(columns):
                value = column.value(row)
                self.cell(sheet, top + 2 + offset, left + index, value, column.number_format)
        return Placed(first_row=top + 2, last_row=top + 1 + len(rows), first_col=left)


def _sheet(writer: _Writer, key: str, widths: Sequence[int]) -> tuple[Any, str]:
    name = sheet_name(SHEETS[key])
    sheet = writer.workbook.add_worksheet(name)
    for index, width in enumerate(widths):
        sheet.set_column(index, index, width)
    return sheet, name


def _series(
    name: str, sheet: str, placed: Placed, column: int, label_column: int | None = None
) -> dict[str, Any]:
    label = placed.first_col if label_column is None else label_column
    return {
        "name": name,
        "categories": [sheet, placed.first_row, label, placed.last_row, label],
        "values": [sheet, placed.first_row, column, placed.last_row, column],
    }


def _chart_beside(sheet: Any, chart: Any, row: int, column: int) -> None:
    sheet.insert_chart(row, column, chart, CHART_SIZE)


# --- the sheets ------------------------------------------------------------------------------

COUNT = "0"
RATE = "0.00%"
MONEY = "#,##0.00"
PERCENT = "0.0"

FUNNEL_COLUMNS = [
    Col("试点项目", lambda r: r.label),
    Col("申报人数", lambda r: r.headcount, COUNT),
    Col("已培训", lambda r: r.trained, COUNT),
    Col("已报名", lambda r: r.registered, COUNT),
    Col("实考", lambda r: r.sat, COUNT),
    Col("通过", lambda r: r.passed, COUNT),
    Col("已发证", lambda r: r.certified, COUNT),
    Col("通过率", lambda r: r.pass_rate, RATE),
]


def _cover(writer: _Writer, report: YearReport) -> None:
    sheet, _name = _sheet(writer, "cover", [18, 70])
    cover = report.cover
    sheet.write_string(
        0, 0, xlsx_safe(f"{cover.school} {cover.year} 年度 1+X 证书试点工作报告"), writer.title
    )
    lines = [
        ("学校", cover.school),
        ("年度", str(cover.year)),
        ("生成时间", cover.generated_at.isoformat()),
        ("统计日期", cover.as_of.isoformat()),
    ]
    lines += [(f"筛选条件：{area}", text) for area, text in cover.filters.items()]
    for offset, (label, text) in enumerate(lines, start=2):
        sheet.write_string(offset, 0, xlsx_safe(label), writer.bold)
        sheet.write_string(offset, 1, xlsx_safe(text))
    row = len(lines) + 3
    sheet.write_string(row, 0, "目录", writer.bold)
    for offset, key in enumerate(list(SHEETS)[1:], start=1):
        sheet.write_url(row + offset, 1, f"internal:'{SHEETS[key]}'!A1", string=SHEETS[key])


def _pilots(writer: _Writer, report: YearReport) -> None:
    sheet, name = _sheet(writer, "pilots", [40, 10, 10, 10, 10, 10, 10, 10])
    funnel = report.pilots
    placed = writer.table(
        sheet, 0, f"{report.cover.year} 年度试点漏斗（申报 → 培训 → 报名 → 实考 → 通过 → 发证）",
        FUNNEL_COLUMNS, [*funnel.rows, funnel.total],
    )  # fmt: skip
    pilots = Placed(placed.first_row, placed.last_row - 1, 0)
    chart = writer.workbook.add_chart({"type": "bar"})
    for index, column in enumerate(FUNNEL_COLUMNS[1:7], start=1):
        chart.add_series(_series(column.header, name, pilots, index))
    chart.set_title({"name": "各试点漏斗"})
    chart.set_y_axis({"reverse": True})
    chart.set_legend({"position": "bottom"})
    if funnel.rows:
        _chart_beside(sheet, chart, 0, len(FUNNEL_COLUMNS) + 1)


def _teachers(writer: _Writer, report: YearReport) -> None:
    sheet, name = _sheet(writer, "teachers", [40, 8, 12, 12, 12, 10])
    coverage = report.teachers
    columns = [
        Col("试点", lambda p: f"{p.year} {p.certificate_name} {p.level.value}"),
        Col("级别", lambda p: p.level),
        Col("试点教师数", lambda p: p.assigned, COUNT),
        Col("持证教师数", lambda p: p.certified, COUNT),
        Col("覆盖率%", lambda p: p.coverage_percent, PERCENT),
        Col("目标%", lambda _p: COVERAGE_TARGET, COUNT),
    ]
    pilots = writer.table(sheet, 0, "各试点培训师覆盖率（目标 100%）", columns, coverage.pilots)
    college_columns = [
        Col("二级学院", lambda c: c.college_name),
        Col("", lambda _c: None),
        Col("试点教师数", lambda c: c.assigned, COUNT),
        Col("持证教师数", lambda c: c.certified, COUNT),
        Col("覆盖率%", lambda c: c.coverage_percent, PERCENT),
        Col("目标%", lambda _c: COVERAGE_TARGET, COUNT),
    ]
    overall = coverage.overall
    colleges = writer.table(
        sheet, pilots.last_row + 3, "各二级学院覆盖率", college_columns, coverage.colleges
    )
    total_row = colleges.last_row + 2
    sheet.write_string(total_row, 0, "合计", writer.bold)
    writer.cell(sheet, total_row, 2, overall.assigned, COUNT)
    writer.cell(sheet, total_row, 3, overall.certified, COUNT)
    writer.cell(sheet, total_row, 4, overall.coverage_percent, PERCENT)
    writer.cell(sheet, total_row, 5, COVERAGE_TARGET, COUNT)
    for placed, title in ((pilots, "各试点覆盖率"), (colleges, "各二级学院覆盖率")):
        if placed.last_row < placed.first_row:
            continue
        top = placed.first_row - 2
        bars = writer.workbook.add_chart({"type": "column"})
        bars.add_series({**_series("覆盖率%", name, placed, 4), "data_labels": {"value": True}})
        target = writer.workbook.add_chart({"type": "line"})
        target.add_series(
            {**_series("目标 100%", name, placed, 5), "line": {"color": "red", "dash_type": "dash"}}
        )
        bars.combine(target)
        bars.set_title({"name": title})
        bars.set_y_axis({"min": 0, "max": 100, "name": "%"})
        bars.set_legend({"position": "bottom"})
        _chart_beside(sheet, bars, top, len(columns) + 1)


FUNDING_COLUMNS = [
    Col("预算金额", lambda r: r.allocated, MONEY),
    Col("已支出", lambda r: r.spent, MONEY),
    Col("余额", lambda r: r.remaining, MONEY),
    Col("执行率", lambda r: r.execution_rate, RATE),
    Col("奖励补贴人数", lambda r: r.subsidies_paid, COUNT),
    Col("奖励补贴金额", lambda r: r.subsidies_amount, MONEY),
]


def _funds(writer: _Writer, report: YearReport) -> None:
    sheet, name = _sheet(writer, "funds", [30, 14, 14, 14, 10, 12, 14])
    top = 0
    for label, part, title in (
        ("经费来源", report.funds.by_source, "按经费来源"),
        ("支出类别", report.funds.by_category, "按支出类别"),
    ):
        columns = [Col(label, lambda r: r.label), *FUNDING_COLUMNS]
        placed = writer.table(
            sheet, top, f"{report.cover.year} 年度预算执行（{title}）", columns,
            [*part.rows, part.total],
        )  # fmt: skip
        groups = Placed(placed.first_row, placed.last_row - 1, 0)
        if part.rows:
            chart = writer.workbook.add_chart({"type": "column", "subtype": "stacked"})
            chart.add_series(_series("已支出", name, groups, 2))
            chart.add_series(_series("余额", name, groups, 3))
            chart.set_title({"name": f"预算 = 已支出 + 余额（{title}）"})
            chart.set_legend({"position": "bottom"})
            _chart_beside(sheet, chart, top, len(columns) + 1)
        top = max(placed.last_row + 3, top + 22)


def _credits(writer: _Writer, report: YearReport) -> None:
    sheet, name = _sheet(writer, "credits", [28, 12, 28, 10, 10])
    credits = report.credits
    rule_columns = [
        Col("证书名称", lambda r: r.certificate_name),
        Col("课程代码", lambda r: r.course_code),
        Col("课程名称", lambda r: r.course_name),
        Col("转换数", lambda r: r.conversions, COUNT),
        Col("学分", lambda r: r.credits, "0.0"),
    ]
    rules = writer.table(
        sheet, 0, f"{report.cover.year} 年度试点证书的学分转换（按证书与规则）", rule_columns,
        credits.per_rule,
    )  # fmt: skip
    course_columns = [
        Col("课程名称", lambda c: c.course_name),
        Col("课程代码", lambda c: c.course_code),
        Col("", lambda _c: None),
        Col("转换数", lambda c: c.conversions, COUNT),
        Col("学分", lambda c: c.credits, "0.0"),
    ]
    courses = writer.table(sheet, rules.last_row + 3, "按课程", course_columns, credits.per_course)
    total_row = courses.last_row + 2
    sheet.write_string(total_row, 0, "合计", writer.bold)
    writer.cell(sheet, total_row, 3, credits.conversions, COUNT)
    writer.cell(sheet, total_row, 4, credits.credits, "0.0")
    for placed, title in ((rules, "各证书转换数"), (courses, "各课程转换数")):
        if placed.last_row < placed.first_row:
            continue
        top = placed.first_row - 2
        chart = writer.workbook.add_chart({"type": "bar"})
        chart.add_series(_series("转换数", name, placed, 3))
        chart.set_title({"name": title})
        chart.set_legend({"none": True})
        _chart_beside(sheet, chart, top, len(rule_columns) + 1)


EVALUATION_COLUMNS = [
    Col("排名", lambda e: e.rank, COUNT),
    Col("试点", lambda e: f"{e.certificate_name} {e.level.value}"),
    Col("专业", lambda e: e.major_names),
    Col("申报人数", lambda e: e.headcount, COUNT),
    Col("专家委员会评分", lambda e: e.committee_score, "0.0"),
    Col("总分", lambda e: e.total, "0.0"),
    Col("等级", lambda e: e.rating),
    Col("需整改", lambda e: e.needs_rectification),
]


def _evaluation(writer: _Writer, report: YearReport) -> None:
    sheet, name = _sheet(writer, "evaluation", [6, 36, 30, 10, 14, 10, 8, 8])
    run = report.evaluation
    status = "已定稿" if run.finalized_at else "未定稿"
    placed = writer.table(
        sheet, 0, f"{run.year} 年度绩效考核（{status}）：评分、等级与排名", EVALUATION_COLUMNS,
        run.evaluations,
    )  # fmt: skip
    if run.evaluations:
        chart = writer.workbook.add_chart({"type": "bar"})
        chart.add_series({**_series("总分", name, placed, 5, label_column=1)})
        chart.set_title({"name": "各试点总分（按排名）"})
        chart.set_y_axis({"reverse": True})
        chart.set_x_axis({"min": 0, "max": 100})
        chart.set_legend({"none": True})
        _chart_beside(sheet, chart, 0, len(EVALUATION_COLUMNS) + 1)
    meeting_columns = [
        Col("日期", lambda m: m.meeting_date),
        Col("议题", lambda m: m.topic),
        Col("出席专家", lambda m: [a.name for a in m.attendees]),
        Col("决议数", lambda m: len(m.decisions), COUNT),
        Col("未完成决议", lambda m: m.open_decisions, COUNT),
        Col("地点", lambda m: m.location),
    ]
    top = max(placed.last_row + 3, 24)
    meetings = writer.table(sheet, top, "专家顾问委员会例会", meeting_columns, report.meetings)
    decisions = [(m, d) for m in report.meetings for d in m.decisions]
    decision_columns = [
        Col("会议日期", lambda md: md[0].meeting_date),
        Col("决议", lambda md: md[1].text),
        Col("负责", lambda md: md[1].owner),
        Col("期限", lambda md: md[1].due_date),
        Col("已完成", lambda md: md[1].done),
    ]
    writer.table(sheet, meetings.last_row + 3, "委员会决议", decision_columns, decisions)


def workbook_bytes(report: YearReport) -> bytes:
    """The whole workbook (a few sheets of summary rows: built in memory)."""
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(
        buffer,
        {
            "in_memory": True,
            "strings_to_numbers": False,
            "strings_to_formulas": False,
            "strings_to_urls": False,
        },
    )
    writer = _Writer(workbook)
    for part in (_cover, _pilots, _teachers, _funds, _credits, _evaluation):
        part(writer, report)
    workbook.close()
    return buffer.getvalue()
