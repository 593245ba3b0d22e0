"""HTTP for funding sources, budget lines, expenditures (with reversals), subsidy runs and the
funding report."""

from typing import Annotated, Any

from fastapi import Query, Response, status

from app.core.auth import CurrentPrincipal, Today, writers
from app.core.db import SessionDep
from app.core.errors import MethodNotAllowed, problem_responses
from app.core.export import (
    EXPORT_RESPONSES,
    ExportFormat,
    FormatQuery,
)
from app.core.i18n import N_, _
from app.core.params import DbId
from app.core.reports import grouped_columns, report_filename, report_response
from app.core.roles import OFFICE
from app.core.routes import Routes, domain_router
from app.core.versions import set_created
from app.funding import models, reports, service

sources_router = domain_router("/funding-sources", "funding")
lines_router = domain_router("/budget-lines", "funding")
expenditures_router = domain_router("/expenditures", "funding")
subsidy_router = domain_router("/subsidy-runs", "funding")
funding_report_router = domain_router("/reports", "reports")

YearQuery = Annotated[
    int | None, Query(ge=models.MIN_YEAR, le=models.MAX_YEAR, description="Fiscal year")
]
GET_RESPONSES = problem_responses(404)
CREATE_RESPONSES = problem_responses(409)
WRITE_RESPONSES = problem_responses(404, 409, 412)
ACTION_RESPONSES = problem_responses(404, 409)


# --- funding sources ---------------------------------------------------------------------------

sources = Routes(
    sources_router,
    models.SourcePublic,
    id_name="source_id",
    read=service.SOURCES.one,
    noun="专项经费",
    writers=OFFICE,
)
sources.list(
    service.SOURCES,
    """Funds with what is allocated to budget lines and spent, latest year first. The academic
    office, auditors and admins see all, with each fund's whole totals; a college manager those
    funding their pilots, with `allocated` and `spent` of their own college's lines only and
    `unallocated` null (it would tell what other colleges' lines hold).""",
)
sources.create(
    models.SourceCreate,
    service.create_source,
    """Record a fund (academic office): name, kind, fiscal year, amount, 文号. The ministry's
    and the city's special funds are always earmarked (专款专用). Names are unique per year.""",
)
sources.get(
    """One fund with `allocated`, `unallocated` and `spent`, and its `ETag` for `PATCH`. A
    college manager sees only funds with lines for their own pilots (404 otherwise), with
    `allocated` and `spent` of their own college's lines only and `unallocated` null: the fund's
    whole totals would tell what other colleges' lines hold."""
)
sources.update(
    models.SourceUpdate,
    service.update_source,
    """Change a fund's name, kind, fiscal year, amount, 文号, earmarking or notes (academic
    office, `If-Match`). The amount never drops below what its budget lines allocate (409
    `amount_below_allocated`); a special kind (`moe_special`, `municipal_special`) is always
    earmarked (422 for `earmarked: false`); earmarking a fund that has `other` lines is
    refused (409 `earmarked_category`, naming the lines); name and year stay unique (409
    `duplicate`).""",
)
sources.delete(
    service.delete_source,
    "Delete a fund that has no budget lines (409 `has_budget_lines` otherwise).",
)

# --- budget lines ------------------------------------------------------------------------------

lines = Routes(
    lines_router,
    models.LinePublic,
    id_name="line_id",
    read=service.LINES.one,
    noun="预算项目",
    writers=OFFICE,
)
lines.list(
    service.LINES,
    """Budget lines with spent and remaining. A college manager sees their own pilots' lines
    (pilots with a major of their college).""",
)
lines.create(
    models.LineCreate,
    service.create_line,
    """Allocate part of a fund to an approved pilot for a category (academic office). An
    earmarked fund refuses `other` (422 `earmarked_category`, naming the allowed categories);
    the fund's lines never exceed its amount (409 `source_exceeded`, also under concurrent
    requests: the fund's row is locked while they are summed); one line per fund, pilot and
    category.""",
)
lines.get(
    """One budget line with `spent` and `remaining`, and its `ETag` for `PATCH`. A college
    manager sees only their own pilots' lines (404 otherwise)."""
)
lines.update(
    models.LineUpdate,
    service.update_line,
    """Change a line's amount or notes (academic office, `If-Match`): never below what it has
    spent (409 `amount_below_spent`), and the fund's lines never above the fund (409
    `source_exceeded`).""",
)
lines.delete(
    service.delete_line, "Delete a line nothing was spent from (409 `has_expenditures` otherwise)."
)

# --- expenditures ------------------------------------------------------------------------------

expenditures = Routes(
    expenditures_router,
    models.ExpenditurePublic,
    id_name="expenditure_id",
    read=service.EXPENDITURES.one,
    noun="经费支出",
    writers=OFFICE,
)
expenditures.list(
    service.EXPENDITURES,
    """Expenditures, latest first; a reversal is a negative entry pointing at its original.
    A college manager sees their own pilots' spending.""",
)
expenditures.create(
    models.ExpenditureCreate,
    service.create_expenditure,
    """Record a payment from a budget line (academic office). Σ spent on a line never exceeds
    its amount, also under concurrent requests (the line's row is locked while spent is
    summed): 409 `line_exceeded` with what is left. Voucher numbers are unique (409
    `duplicate`). Money records are never edited or deleted: correct one with `…/reverse`.""",
    extra={"today": Today},
)
expenditures.get(
    """One expenditure. `PATCH` and `DELETE` here answer 405: money records are never edited
    or deleted; `POST …/reverse` writes the correcting entry.""",
    etag=False,
)


@expenditures_router.post(
    "/{expenditure_id}/reverse",
    response_model=models.ExpenditurePublic,
    status_code=status.HTTP_201_CREATED,
    responses=ACTION_RESPONSES,
    summary="红冲经费支出",
    **writers(OFFICE),
)
def expenditures_reverse(
    session: SessionDep,
    principal: CurrentPrincipal,
    expenditure_id: DbId,
    data: models.ExpenditureReverseBody,
    response: Response,
    today: Today,
) -> models.ExpenditurePublic:
    """Reverse (红冲) an expenditure (academic office): writes a negative entry on the same
    line pointing at the original, which frees the amount again. Once per entry (409
    `invalid_state` the second time); a reversal is not itself reversed."""
    reversal = service.reverse_expenditure(session, principal, expenditure_id, data, today)
    set_created(response, "expenditures", reversal.id, reversal.version)
    return service.EXPENDITURES.one(session, principal, reversal.id or 0)


def _never_edited(expenditure_id: str) -> None:
    raise MethodNotAllowed(
        _(
            "Money records are never edited or deleted: expenditure {expenditure_id} "
            "stays as recorded. To correct it, POST "
            "/api/v1/expenditures/{expenditure_id}/reverse (a reversal entry) and "
            "record the right amount anew",
            expenditure_id=expenditure_id,
        ),
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
    response_model=models.SubsidyRunPublic,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": models.SubsidyRunPublic, "description": "A dry run: who would be paid"},
        **ACTION_RESPONSES,
    },
    summary="发放奖励补贴",
    **writers(OFFICE),
)
def subsidy_runs_create(
    session: SessionDep,
    principal: CurrentPrincipal,
    data: models.SubsidyRunCreate,
    response: Response,
    today: Today,
    dry_run: Annotated[
        bool, Query(description="Show who would be paid (200); record nothing")
    ] = False,
) -> models.SubsidyRunPublic:
    """Pay the pass subsidy (奖励补贴) to every passed candidate of an exam session from an
    `exam_subsidy` line of the session's pilot (academic office): one subsidy expenditure per
    passed result, none for anyone who did not pass, never two for the same result (a second
    run pays only results that passed since). All or nothing: when the line cannot cover
    them, 409 `insufficient_funds` with the `shortfall` and nobody is paid. A run that would
    pay nobody — every passed candidate already has a payment that stands, from an earlier run
    or one that ran at the same moment — is not recorded: 409 `nothing_to_pay` with `passed`
    and `already_paid`, so the list of runs holds only runs that paid someone (a dry run
    answers 200 with no payments)."""
    run = service.run_subsidies(session, principal, data, today, dry_run=dry_run)
    if dry_run:
        response.status_code = status.HTTP_200_OK
    else:
        set_created(response, "subsidy-runs", run.id, 1)
    return run


subsidy_runs = Routes(
    subsidy_router,
    models.SubsidyRunPublic,
    id_name="run_id",
    read=service.get_subsidy_run,
    noun="奖励补贴发放",
)
subsidy_runs.list(
    service.SUBSIDY_RUNS,
    """Subsidy runs, newest first (the payments are under `GET …/{id}`). A college manager
    sees their own pilots' runs.""",
    item=models.SubsidyRunSummary,
)
subsidy_runs.get("A subsidy run and everyone it paid.", etag=False)


# --- the report --------------------------------------------------------------------------------


@funding_report_router.get(
    "/funding",
    response_model=models.FundingReport,
    responses=EXPORT_RESPONSES,
    summary="预算执行情况",
)
def reports_funding(
    session: SessionDep,
    principal: CurrentPrincipal,
    year: YearQuery = None,
    group_by: models.FundingGroupBy = models.FundingGroupBy.source,
    format: FormatQuery = ExportFormat.json,
) -> Any:
    """Budget execution (预算执行): allocated, spent, remaining, execution rate (spent ÷
    allocated) and the pass subsidies paid (count and amount, not counting reversed ones) per
    fund, category, pilot or college, and overall, for the funds of a fiscal year. Money is
    exact (sums over integer fen). Academic office, auditors, admins; a college manager sees
    their own pilots."""
    result = reports.report(session, principal, year=year, group_by=group_by)
    return report_response(
        result,
        format,
        [*result.rows, result.total],
        grouped_columns(reports.REPORT_GROUPS, group_by, reports.REPORT_COLUMNS),
        report_filename("funding", year, group_by),
        title=N_("Budget execution"),
        filters={N_("Fiscal year"): year, N_("Group by"): group_by},
        totals=1,
    )
