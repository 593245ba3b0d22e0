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
from app.core.i18n import N_, _, translate
from app.yearbook.models import YearReport

SHEETS = {
    "cover": N_("Cover"),
    "pilots": N_("Pilots funnel"),
    "teachers": N_("Trainer coverage"),
    "funds": N_("Funds and their execution"),
    "credits": N_("Credit bank"),
    "evaluation": N_("Evaluation"),
}
COVERAGE_TARGET = 1.0
"""The seed's target, 100 %, as the fraction a percent cell holds."""
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
            sheet.write_string(row, column, _("Yes") if value else _("No"))
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
            header = translate(column.header) if column.header else ""
            sheet.write_string(top + 1, left + index, xlsx_safe(header), self.bold)
        for offset, row in enumerate(rows):
            for index, column in enumerate(columns):
                value = column.value(row)
                self.cell(sheet, top + 2 + offset, left + index, value, column.number_format)
        return Placed(first_row=top + 2, last_row=top + 1 + len(rows), first_col=left)


def _sheet(writer: _Writer, key: str, widths: Sequence[int]) -> tuple[Any, str]:
    name = sheet_name(translate(SHEETS[key]))
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
PERCENT = "0.0%"
"""A rate the reports give in per cent (66.7), written as the fraction Excel shows as 66.7%."""

FUNNEL_COLUMNS = [
    Col(N_("Pilot"), lambda r: r.label),
    Col(N_("Declared"), lambda r: r.headcount, COUNT),
    Col(N_("Trained"), lambda r: r.trained, COUNT),
    Col(N_("Registered"), lambda r: r.registered, COUNT),
    Col(N_("Sat"), lambda r: r.sat, COUNT),
    Col(N_("Passed"), lambda r: r.passed, COUNT),
    Col(N_("Certified"), lambda r: r.certified, COUNT),
    Col(N_("Pass rate"), lambda r: r.pass_rate, RATE),
]


def _cover(writer: _Writer, report: YearReport) -> None:
    sheet, _name = _sheet(writer, "cover", [18, 70])
    cover = report.cover
    sheet.write_string(
        0,
        0,
        xlsx_safe(
            _(
                "{school}: the {year} 1+X certificate pilot report",
                school=cover.school,
                year=cover.year,
            )
        ),
        writer.title,
    )
    lines = [
        (_("School"), cover.school),
        (_("Year"), str(cover.year)),
        (_("Generated at"), cover.generated_at.isoformat()),
        (_("As of"), cover.as_of.isoformat()),
    ]
    lines += [(_("Filter: {area}", area=area), text) for area, text in cover.filters.items()]
    for offset, (label, text) in enumerate(lines, start=2):
        sheet.write_string(offset, 0, xlsx_safe(label), writer.bold)
        sheet.write_string(offset, 1, xlsx_safe(text))
    row = len(lines) + 3
    sheet.write_string(row, 0, _("Contents"), writer.bold)
    for offset, key in enumerate(list(SHEETS)[1:], start=1):
        sheet.write_url(
            row + offset,
            1,
            f"internal:'{sheet_name(translate(SHEETS[key]))}'!A1",
            string=translate(SHEETS[key]),
        )


def _pilots(writer: _Writer, report: YearReport) -> None:
    sheet, name = _sheet(writer, "pilots", [40, 10, 10, 10, 10, 10, 10, 10])
    funnel = report.pilots
    placed = writer.table(
        sheet,
        0,
        _(
            "{year} pilots funnel (declared → trained → registered → sat → passed → certified)",
            year=report.cover.year,
        ),
        FUNNEL_COLUMNS,
        [*funnel.rows, funnel.total],
    )
    pilots = Placed(placed.first_row, placed.last_row - 1, 0)
    chart = writer.workbook.add_chart({"type": "bar"})
    for index, column in enumerate(FUNNEL_COLUMNS[1:7], start=1):
        chart.add_series(_series(translate(column.header), name, pilots, index))
    chart.set_title({"name": _("The funnel of each pilot")})
    chart.set_y_axis({"reverse": True})
    chart.set_legend({"position": "bottom"})
    if funnel.rows:
        _chart_beside(sheet, chart, 0, len(FUNNEL_COLUMNS) + 1)


def _fraction(percent: float | None) -> float | None:
    """66.7 (per cent, as the JSON reports give it) → 0.667 for a percent cell."""
    return None if percent is None else percent / 100


def _teachers(writer: _Writer, report: YearReport) -> None:
    sheet, name = _sheet(writer, "teachers", [40, 8, 12, 12, 12, 10])
    coverage = report.teachers
    columns = [
        Col(N_("Pilot"), lambda p: f"{p.year} {p.certificate_name} {p.level.value}"),
        Col(N_("Level"), lambda p: p.level),
        Col(N_("Teachers assigned"), lambda p: p.assigned, COUNT),
        Col(N_("Teachers certified"), lambda p: p.certified, COUNT),
        Col(N_("Coverage"), lambda p: _fraction(p.coverage_percent), PERCENT),
        Col(N_("Target"), lambda _p: COVERAGE_TARGET, PERCENT),
    ]
    pilots = writer.table(
        sheet, 0, _("Trainer coverage per pilot (target 100 %)"), columns, coverage.pilots
    )
    college_columns = [
        Col(N_("College"), lambda c: c.college_name),
        Col("", lambda _c: None),
        Col(N_("Teachers assigned"), lambda c: c.assigned, COUNT),
        Col(N_("Teachers certified"), lambda c: c.certified, COUNT),
        Col(N_("Coverage"), lambda c: _fraction(c.coverage_percent), PERCENT),
        Col(N_("Target"), lambda _c: COVERAGE_TARGET, PERCENT),
    ]
    overall = coverage.overall
    colleges = writer.table(
        sheet, pilots.last_row + 3, _("Coverage per college"), college_columns, coverage.colleges
    )
    total_row = colleges.last_row + 2
    sheet.write_string(total_row, 0, _("Total"), writer.bold)
    writer.cell(sheet, total_row, 2, overall.assigned, COUNT)
    writer.cell(sheet, total_row, 3, overall.certified, COUNT)
    writer.cell(sheet, total_row, 4, _fraction(overall.coverage_percent), PERCENT)
    writer.cell(sheet, total_row, 5, COVERAGE_TARGET, PERCENT)
    for placed, title in ((pilots, _("Coverage per pilot")), (colleges, _("Coverage per college"))):
        if placed.last_row < placed.first_row:
            continue
        top = placed.first_row - 2
        bars = writer.workbook.add_chart({"type": "column"})
        bars.add_series({**_series(_("Coverage"), name, placed, 4), "data_labels": {"value": True}})
        target = writer.workbook.add_chart({"type": "line"})
        target.add_series(
            {
                **_series(_("Target 100 %"), name, placed, 5),
                "line": {"color": "red", "dash_type": "dash"},
            }
        )
        bars.combine(target)
        bars.set_title({"name": title})
        bars.set_y_axis({"min": 0, "max": 1, "num_format": "0%"})
        bars.set_legend({"position": "bottom"})
        _chart_beside(sheet, bars, top, len(columns) + 1)


FUNDING_COLUMNS = [
    Col(N_("Allocated"), lambda r: r.allocated, MONEY),
    Col(N_("Spent"), lambda r: r.spent, MONEY),
    Col(N_("Remaining"), lambda r: r.remaining, MONEY),
    Col(N_("Execution rate"), lambda r: r.execution_rate, RATE),
    Col(N_("Subsidies paid"), lambda r: r.subsidies_paid, COUNT),
    Col(N_("Subsidies amount"), lambda r: r.subsidies_amount, MONEY),
]


def _funds(writer: _Writer, report: YearReport) -> None:
    sheet, name = _sheet(writer, "funds", [30, 14, 14, 14, 10, 12, 14])
    top = 0
    for label, part, title in (
        (_("Fund"), report.funds.by_source, _("by fund")),
        (_("Category"), report.funds.by_category, _("by category")),
    ):
        columns = [Col(label, lambda r: r.label), *FUNDING_COLUMNS]
        placed = writer.table(
            sheet,
            top,
            _("{year} budget execution ({part})", year=report.cover.year, part=title),
            columns,
            [*part.rows, part.total],
        )
        groups = Placed(placed.first_row, placed.last_row - 1, 0)
        if part.rows:
            chart = writer.workbook.add_chart({"type": "column", "subtype": "stacked"})
            chart.add_series(_series(_("Spent"), name, groups, 2))
            chart.add_series(_series(_("Remaining"), name, groups, 3))
            chart.set_title({"name": _("Allocated = spent + remaining ({part})", part=title)})
            chart.set_legend({"position": "bottom"})
            _chart_beside(sheet, chart, top, len(columns) + 1)
        top = max(placed.last_row + 3, top + 22)


def _credits(writer: _Writer, report: YearReport) -> None:
    sheet, name = _sheet(writer, "credits", [28, 12, 28, 10, 10])
    credits = report.credits
    rule_columns = [
        Col(N_("Certificate"), lambda r: r.certificate_name),
        Col(N_("Course code"), lambda r: r.course_code),
        Col(N_("Course"), lambda r: r.course_name),
        Col(N_("Conversions"), lambda r: r.conversions, COUNT),
        Col(N_("Credits"), lambda r: r.credits, "0.0"),
    ]
    rules = writer.table(
        sheet,
        0,
        _(
            "{year} credit conversions of the pilots' certificates (per certificate and rule)",
            year=report.cover.year,
        ),
        rule_columns,
        credits.per_rule,
    )
    course_columns = [
        Col(N_("Course"), lambda c: c.course_name),
        Col(N_("Course code"), lambda c: c.course_code),
        Col("", lambda _c: None),
        Col(N_("Conversions"), lambda c: c.conversions, COUNT),
        Col(N_("Credits"), lambda c: c.credits, "0.0"),
    ]
    courses = writer.table(
        sheet, rules.last_row + 3, _("Per course"), course_columns, credits.per_course
    )
    total_row = courses.last_row + 2
    sheet.write_string(total_row, 0, _("Total"), writer.bold)
    writer.cell(sheet, total_row, 3, credits.conversions, COUNT)
    writer.cell(sheet, total_row, 4, credits.credits, "0.0")
    for placed, title in (
        (rules, _("Conversions per certificate")),
        (courses, _("Conversions per course")),
    ):
        if placed.last_row < placed.first_row:
            continue
        top = placed.first_row - 2
        chart = writer.workbook.add_chart({"type": "bar"})
        chart.add_series(_series(_("Conversions"), name, placed, 3))
        chart.set_title({"name": title})
        chart.set_legend({"none": True})
        _chart_beside(sheet, chart, top, len(rule_columns) + 1)


EVALUATION_COLUMNS = [
    Col(N_("Rank"), lambda e: e.rank, COUNT),
    Col(N_("Pilot"), lambda e: f"{e.certificate_name} {e.level.value}"),
    Col(N_("Majors"), lambda e: e.major_names),
    Col(N_("Declared"), lambda e: e.headcount, COUNT),
    Col(N_("Committee score"), lambda e: e.committee_score, "0.0"),
    Col(N_("Total"), lambda e: e.total, "0.0"),
    Col(N_("Rating"), lambda e: e.rating),
    Col(N_("Rectification"), lambda e: e.needs_rectification),
]


def _evaluation(writer: _Writer, report: YearReport) -> None:
    sheet, name = _sheet(writer, "evaluation", [6, 36, 30, 10, 14, 10, 8, 8])
    run = report.evaluation
    status = _("finalized") if run.finalized_at else _("not finalized")
    placed = writer.table(
        sheet,
        0,
        _(
            "{year} evaluation ({status}): scores, ratings and ranking",
            year=run.year,
            status=status,
        ),
        EVALUATION_COLUMNS,
        run.evaluations,
    )
    if run.evaluations:
        chart = writer.workbook.add_chart({"type": "bar"})
        chart.add_series({**_series(_("Total"), name, placed, 5, label_column=1)})
        chart.set_title({"name": _("Total per pilot (by rank)")})
        chart.set_y_axis({"reverse": True})
        chart.set_x_axis({"min": 0, "max": 100})
        chart.set_legend({"none": True})
        _chart_beside(sheet, chart, 0, len(EVALUATION_COLUMNS) + 1)
    meeting_columns = [
        Col(N_("Date"), lambda m: m.meeting_date),
        Col(N_("Topic"), lambda m: m.topic),
        Col(N_("Experts present"), lambda m: [a.name for a in m.attendees]),
        Col(N_("Decisions"), lambda m: len(m.decisions), COUNT),
        Col(N_("Open decisions"), lambda m: m.open_decisions, COUNT),
        Col(N_("Place"), lambda m: m.location),
    ]
    top = max(placed.last_row + 3, 24)
    meetings = writer.table(
        sheet, top, _("The expert committee's meetings"), meeting_columns, report.meetings
    )
    decisions = [(m, d) for m in report.meetings for d in m.decisions]
    decision_columns = [
        Col(N_("Meeting date"), lambda md: md[0].meeting_date),
        Col(N_("Decision"), lambda md: md[1].text),
        Col(N_("Owner"), lambda md: md[1].owner),
        Col(N_("Due"), lambda md: md[1].due_date),
        Col(N_("Done"), lambda md: md[1].done),
    ]
    writer.table(
        sheet, meetings.last_row + 3, _("The committee's decisions"), decision_columns, decisions
    )


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
