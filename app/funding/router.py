"""HTTP for funding sources, budget lines, expenditures (with reversals), subsidy runs and the
funding report."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from app.core.auth import CurrentPrincipal, Today
from app.core.db import SessionDep
from app.core.errors import MethodNotAllowed, problem_responses
from app.core.export import (
    EXPORT_RESPONSES,
    ExportColumn,
    ExportFormat,
    FormatQuery,
    export_response,
)
from app.core.listing import ListDep
from app.core.pagination import Page
from app.core.params import DbId
from app.core.versions import IfMatch, set_created, set_etag
from app.funding import reports, service
from app.funding.models import (
    MAX_YEAR,
    MIN_YEAR,
    ExpenditureCreate,
    ExpenditureFilters,
    ExpenditurePublic,
    FundingGroupBy,
    FundingReport,
    LineCreate,
    LineFilters,
    LinePublic,
    LineUpdate,
    ReverseBody,
    SourceCreate,
    SourceFilters,
    SourcePublic,
    SourceUpdate,
    SubsidyRunCreate,
    SubsidyRunFilters,
    SubsidyRunPublic,
    SubsidyRunSummary,
)

sources_router = APIRouter(
    prefix="/funding-sources", tags=["funding"], responses=problem_responses(401, 403, 422)
)
lines_router = APIRouter(
    prefix="/budget-lines", tags=["funding"], responses=problem_responses(401, 403, 422)
)
expenditures_router = APIRouter(
    prefix="/expenditures", tags=["funding"], responses=problem_responses(401, 403, 422)
)
subsidy_router = APIRouter(
    prefix="/subsidy-runs", tags=["funding"], responses=problem_responses(401, 403, 422)
)
funding_report_router = APIRouter(
    prefix="/reports", tags=["reports"], responses=problem_responses(401, 403, 422)
)

YearQuery = Annotated[int | None, Query(ge=MIN_YEAR, le=MAX_YEAR, description="Fiscal year")]
GET_RESPONSES = problem_responses(404)
CREATE_RESPONSES = problem_responses(409)
WRITE_RESPONSES = problem_responses(404, 409, 412)
ACTION_RESPONSES = problem_responses(404, 409)


# --- funding sources ---------------------------------------------------------------------------


@sources_router.get("", response_model=Page[SourcePublic], responses=EXPORT_RESPONSES)
def funding_sources_list(
    session: SessionDep,
    principal: CurrentPrincipal,
    filters: Annotated[SourceFilters, Query()],
    params: ListDep,
) -> Any:
    """Funds with what is allocated to budget lines and spent, latest year first. The academic
    office, auditors and admins see all, with each fund's whole totals; a college manager those
    funding their pilots, with `allocated` and `spent` of their own college's lines only and
    `unallocated` null (it would tell what other colleges' lines hold)."""
    return service.SOURCES.respond(session, principal, filters, params)


@sources_router.post(
    "",
    response_model=SourcePublic,
    status_code=status.HTTP_201_CREATED,
    responses=CREATE_RESPONSES,
)
def funding_sources_create(
    session: SessionDep, principal: CurrentPrincipal, data: SourceCreate, response: Response
) -> SourcePublic:
    """Record a fund (academic office): name, kind, fiscal year, amount, 文号. The ministry's
    and the city's special funds are always earmarked (专款专用). Names are unique per year."""
    source = service.create_source(session, principal, data)
    set_created(response, "funding-sources", source.id, source.version)
    return service.get_source(session, principal, source.id or 0)


@sources_router.get("/{source_id}", response_model=SourcePublic, responses=GET_RESPONSES)
def funding_sources_get(
    session: SessionDep, principal: CurrentPrincipal, source_id: DbId, response: Response
) -> SourcePublic:
    """One fund with `allocated`, `unallocated` and `spent`, and its `ETag` for `PATCH`. A
    college manager sees only funds with lines for their own pilots (404 otherwise), with
    `allocated` and `spent` of their own college's lines only and `unallocated` null: the fund's
    whole totals would tell what other colleges' lines hold."""
    source = service.get_source(session, principal, source_id)
    set_etag(response, source.version)
    return source


@sources_router.patch("/{source_id}", response_model=SourcePublic, responses=WRITE_RESPONSES)
def funding_sources_update(
    session: SessionDep,
    principal: CurrentPrincipal,
    source_id: DbId,
    data: SourceUpdate,
    if_match: IfMatch,
    response: Response,
) -> SourcePublic:
    """Change a fund's name, kind, fiscal year, amount, 文号, earmarking or notes (academic
    office, `If-Match`). The amount never drops below what its budget lines allocate (409
    `amount_below_allocated`); a special kind (`moe_special`, `municipal_special`) is always
    earmarked (422 for `earmarked: false`); earmarking a fund that has `other` lines is
    refused (409 `earmarked_category`, naming the lines); name and year stay unique (409
    `duplicate`)."""
    source = service.update_source(session, principal, source_id, data, if_match)
    set_etag(response, source.version)
    return service.get_source(session, principal, source_id)


@sources_router.delete(
    "/{source_id}", status_code=status.HTTP_204_NO_CONTENT, responses=ACTION_RESPONSES
)
def funding_sources_delete(
    session: SessionDep, principal: CurrentPrincipal, source_id: DbId
) -> None:
    """Delete a fund that has no budget lines (409 `has_budget_lines` otherwise)."""
    service.delete_source(session, principal, source_id)


# --- budget lines ------------------------------------------------------------------------------


@lines_router.get("", response_model=Page[LinePublic], responses=EXPORT_RESPONSES)
def budget_lines_list(
    session: SessionDep,
    principal: CurrentPrincipal,
    filters: Annotated[LineFilters, Query()],
    params: ListDep,
) -> Any:
    """Budget lines with spent and remaining. A college manager sees their own pilots' lines
    (pilots with a major of their college)."""
    return service.LINES.respond(session, principal, filters, params)


@lines_router.post(
    "",
    response_model=LinePublic,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(409),
)
def budget_lines_create(
    session: SessionDep, principal: CurrentPrincipal, data: LineCreate, response: Response
) -> LinePublic:
    """Allocate part of a fund to an approved pilot for a category (academic office). An
    earmarked fund refuses `other` (422 `earmarked_category`, naming the allowed categories);
    the fund's lines never exceed its amount (409 `source_exceeded`, also under concurrent
    requests: the fund's row is locked while they are summed); one line per fund, pilot and
    category."""
    line = service.create_line(session, principal, data)
    set_created(response, "budget-lines", line.id, line.version)
    return service.get_line(session, principal, line.id or 0)


@lines_router.get("/{line_id}", response_model=LinePublic, responses=GET_RESPONSES)
def budget_lines_get(
    session: SessionDep, principal: CurrentPrincipal, line_id: DbId, response: Response
) -> LinePublic:
    """One budget line with `spent` and `remaining`, and its `ETag` for `PATCH`. A college
    manager sees only their own pilots' lines (404 otherwise)."""
    line = service.get_line(session, principal, line_id)
    set_etag(response, line.version)
    return line


@lines_router.patch("/{line_id}", response_model=LinePublic, responses=WRITE_RESPONSES)
def budget_lines_update(
    session: SessionDep,
    principal: CurrentPrincipal,
    line_id: DbId,
    data: LineUpdate,
    if_match: IfMatch,
    response: Response,
) -> LinePublic:
    """Change a line's amount or notes (academic office, `If-Match`): never below what it has
    spent (409 `amount_below_spent`), and the fund's lines never above the fund (409
    `source_exceeded`)."""
    line = service.update_line(session, principal, line_id, data, if_match)
    set_etag(response, line.version)
    return service.get_line(session, principal, line_id)


@lines_router.delete(
    "/{line_id}", status_code=status.HTTP_204_NO_CONTENT, responses=ACTION_RESPONSES
)
def budget_lines_delete(session: SessionDep, principal: CurrentPrincipal, line_id: DbId) -> None:
    """Delete a line nothing was spent from (409 `has_expenditures` otherwise)."""
    service.delete_line(session, principal, line_id)


# --- expenditures ------------------------------------------------------------------------------


@expenditures_router.get("", response_model=Page[ExpenditurePublic], responses=EXPORT_RESPONSES)
def expenditures_list(
    session: SessionDep,
    principal: CurrentPrincipal,
    filters: Annotated[ExpenditureFilters, Query()],
    params: ListDep,
) -> Any:
    """Expenditures, latest first; a reversal is a negative entry pointing at its original.
    A college manager sees their own pilots' spending."""
    return service.EXPENDITURES.respond(session, principal, filters, params)


@expenditures_router.post(
    "",
    response_model=ExpenditurePublic,
    status_code=status.HTTP_201_CREATED,
    responses=CREATE_RESPONSES,
)
def expenditures_create(
    session: SessionDep,
    principal: CurrentPrincipal,
    data: ExpenditureCreate,
    response: Response,
    today: Today,
) -> ExpenditurePublic:
    """Record a payment from a budget line (academic office). Σ spent on a line never exceeds
    its amount, also under concurrent requests (the line's row is locked while spent is
    summed): 409 `line_exceeded` with what is left. Voucher numbers are unique (409
    `duplicate`). Money records are never edited or deleted: correct one with `…/reverse`."""
    expenditure = service.create_expenditure(session, principal, data, today)
    set_created(response, "expenditures", expenditure.id, expenditure.version)
    return service.get_expenditure(session, principal, expenditure.id or 0)


@expenditures_router.get(
    "/{expenditure_id}", response_model=ExpenditurePublic, responses=GET_RESPONSES
)
def expenditures_get(
    session: SessionDep, principal: CurrentPrincipal, expenditure_id: DbId
) -> ExpenditurePublic:
    """One expenditure. `PATCH` and `DELETE` here answer 405: money records are never edited
    or deleted; `POST …/reverse` writes the correcting entry."""
    return service.get_expenditure(session, principal, expenditure_id)


@expenditures_router.post(
    "/{expenditure_id}/reverse",
    response_model=ExpenditurePublic,
    status_code=status.HTTP_201_CREATED,
    responses=ACTION_RESPONSES,
)
def expenditures_reverse(
    session: SessionDep,
    principal: CurrentPrincipal,
    expenditure_id: DbId,
    data: ReverseBody,
    response: Response,
    today: Today,
) -> ExpenditurePublic:
    """Reverse (红冲) an expenditure (academic office): writes a negative entry on the same
    line pointing at the original, which frees the amount again. Once per entry (409
    `invalid_state` the second time); a reversal is not itself reversed."""
    reversal = service.reverse_expenditure(session, principal, expenditure_id, data, today)
    set_created(response, "expenditures", reversal.id, reversal.version)
    return service.get_expenditure(session, principal, reversal.id or 0)


def _never_edited(expenditure_id: str) -> None:
    raise MethodNotAllowed(
        f"Money records are never edited or deleted: expenditure {expenditure_id} stays as "
        f"recorded. To correct it, POST /api/v1/expenditures/{expenditure_id}/reverse (a "
        "reversal entry) and record the right amount anew",
        code="method_not_allowed",
    )


@expenditures_router.patch("/{expenditure_id}", include_in_schema=False)
def expenditures_patch_refused(expenditure_id: str) -> None:
    _never_edited(expenditure_id)


@expenditures_router.delete("/{expenditure_id}", include_in_schema=False)
def expenditures_delete_refused(expenditure_id: str) -> None:
    _never_edited(expenditure_id)


# --- subsidy runs ------------------------------------------------------------------------------


@subsidy_router.post(
    "",
    response_model=SubsidyRunPublic,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": SubsidyRunPublic, "description": "A dry run: who would be paid"},
        **ACTION_RESPONSES,
    },
)
def subsidy_runs_create(
    session: SessionDep,
    principal: CurrentPrincipal,
    data: SubsidyRunCreate,
    response: Response,
    today: Today,
    dry_run: Annotated[
        bool, Query(description="Show who would be paid (200); record nothing")
    ] = False,
) -> SubsidyRunPublic:
    """Pay the pass subsidy (奖励补贴) to every passed candidate of an exam session from an
    `exam_subsidy` line of the session's pilot (academic office): one subsidy expenditure per
    passed result, none for anyone who did not pass, never two for the same result (a second
    run pays only results that passed since). All or nothing: when the line cannot cover
    them, 409 `insufficient_funds` with the `shortfall` and nobody is paid."""
    run = service.run_subsidies(session, principal, data, today, dry_run=dry_run)
    if dry_run:
        response.status_code = status.HTTP_200_OK
    else:
        set_created(response, "subsidy-runs", run.id, 1)
    return run


@subsidy_router.get("", response_model=Page[SubsidyRunSummary], responses=EXPORT_RESPONSES)
def subsidy_runs_list(
    session: SessionDep,
    principal: CurrentPrincipal,
    filters: Annotated[SubsidyRunFilters, Query()],
    params: ListDep,
) -> Any:
    """Subsidy runs, newest first (the payments are under `GET …/{id}`). A college manager
    sees their own pilots' runs."""
    return service.SUBSIDY_RUNS.respond(session, principal, filters, params)


@subsidy_router.get("/{run_id}", response_model=SubsidyRunPublic, responses=GET_RESPONSES)
def subsidy_runs_get(
    session: SessionDep, principal: CurrentPrincipal, run_id: DbId
) -> SubsidyRunPublic:
    """A subsidy run and everyone it paid."""
    return service.get_subsidy_run(session, principal, run_id)


# --- the report --------------------------------------------------------------------------------

REPORT_HEADERS = {
    FundingGroupBy.source: "经费来源",
    FundingGroupBy.category: "支出类别",
    FundingGroupBy.application: "试点项目",
    FundingGroupBy.college: "二级学院",
}


def _report_columns(group_by: FundingGroupBy) -> list[ExportColumn]:
    return [
        ExportColumn("label", REPORT_HEADERS[group_by]),
        ExportColumn("allocated", "预算金额"),
        ExportColumn("spent", "已支出"),
        ExportColumn("remaining", "余额"),
        ExportColumn("execution_rate", "执行率"),
        ExportColumn("subsidies_paid", "奖励补贴人数"),
        ExportColumn("subsidies_amount", "奖励补贴金额"),
    ]


@funding_report_router.get("/funding", response_model=FundingReport, responses=EXPORT_RESPONSES)
def reports_funding(
    session: SessionDep,
    principal: CurrentPrincipal,
    year: YearQuery = None,
    group_by: FundingGroupBy = FundingGroupBy.source,
    format: FormatQuery = ExportFormat.json,
) -> Any:
    """Budget execution (预算执行): allocated, spent, remaining, execution rate (spent ÷
    allocated) and the pass subsidies paid (count and amount, not counting reversed ones) per
    fund, category, pilot or college, and overall, for the funds of a fiscal year. Money is
    exact (sums over integer fen). Academic office, auditors, admins; a college manager sees
    their own pilots."""
    result = reports.report(session, principal, year=year, group_by=group_by)
    if format != ExportFormat.json:
        items = [row.model_dump() for row in [*result.rows, result.total]]
        name = f"funding-by-{group_by.value}" + (f"-{year}" if year else "")
        return export_response(items, _report_columns(group_by), format, name)
    return result
