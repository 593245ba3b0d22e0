"""HTTP for the year's report: one workbook with charts, or the same content as JSON."""

from enum import StrEnum
from typing import Annotated, Any

from fastapi import Depends, Query
from fastapi.responses import Response

from app.core.auth import CurrentPrincipal, SettingsDep, Today
from app.core.db import SessionDep
from app.core.export import XLSX_MEDIA_TYPE, ExportFormat, attachment
from app.core.roles import Principal
from app.core.routes import domain_router
from app.yearbook import service
from app.yearbook.models import YearReport
from app.yearbook.workbook import workbook_bytes

year_report_router = domain_router("/reports", "reports")


def _reader(principal: CurrentPrincipal) -> Principal:
    """The caller, refused (403) before its query is looked at unless it reads everything."""
    service.require_reader(principal)
    return principal


ReaderPrincipal = Annotated[Principal, Depends(_reader)]


class YearFormat(StrEnum):
    json = "json"
    xlsx = "xlsx"


@year_report_router.get(
    "/year",
    response_model=YearReport,
    responses={
        200: {
            "description": "The report as JSON, or the workbook (`format=xlsx`)",
            "content": {XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
        }
    },
    summary="年度报告（含图表的工作簿）",
)
def reports_year(
    session: SessionDep,
    principal: ReaderPrincipal,
    settings: SettingsDep,
    today: Today,
    year: Annotated[int, Query(ge=2000, le=2100, description="The pilot year")],
    format: Annotated[
        YearFormat, Query(description="`xlsx` (the workbook) or `json` (the same content)")
    ] = YearFormat.xlsx,
) -> Any:
    """The year's report the office sends upward: a cover sheet (school, year, generated at,
    what each area was read with), then one sheet per area with a native Excel chart beside
    its table — the pilots' funnel (declared → trained → registered → sat → passed →
    certified, bar chart), trainer coverage per pilot and per college against the 100 %
    target (bars with the target line), budget execution per fund and per category (stacked
    bars), the credit bank's conversions per certificate and per course, and the evaluation's
    scores, ratings and ranking (bar chart) with the committee's meetings and decisions.
    Every figure is the one the area's own report answers (funnel, teacher coverage, funding,
    credit conversions with `pilot_year`, evaluations, meetings); `format=json` gives the same
    content as one document. Academic office, auditors and admins; others get 403."""
    report = service.year_report(
        session, principal, year=year, today=today, school=settings.school_name
    )
    if format == YearFormat.json:
        return report.json()
    filename = f"year-report-{year}"
    return Response(
        workbook_bytes(report.drained()),
        media_type=XLSX_MEDIA_TYPE,
        headers=attachment(filename, ExportFormat.xlsx),
    )
