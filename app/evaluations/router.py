"""HTTP for the annual evaluation: schemes, compute, committee scores, finalize and the
ranking (also as CSV/XLSX)."""

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Response

from app.applications.models import MAX_YEAR, MIN_YEAR
from app.core.auth import CurrentPrincipal, SettingsDep
from app.core.db import SessionDep
from app.core.errors import problem_responses
from app.core.export import (
    EXPORT_RESPONSES,
    ExportColumn,
    ExportFormat,
    FormatQuery,
    export_response,
)
from app.core.pagination import Page, PageDep
from app.core.params import DbId
from app.core.types import school_today
from app.core.versions import IfMatch, set_etag
from app.evaluations import service
from app.evaluations.indicators import INDICATORS
from app.evaluations.models import (
    CommitteeScorePut,
    EvaluationPublic,
    EvaluationRun,
    Rating,
    SchemePublic,
    SchemePut,
)
from app.evaluations.overview import Overview, overview

evaluations_router = APIRouter(
    prefix="/evaluations", tags=["evaluations"], responses=problem_responses(401, 403, 422)
)
schemes_router = APIRouter(
    prefix="/evaluation-schemes", tags=["evaluations"], responses=problem_responses(401, 403, 422)
)

YearPath = Annotated[int, Path(ge=MIN_YEAR, le=MAX_YEAR, description="The evaluation year")]
YearRequired = Annotated[int, Query(ge=MIN_YEAR, le=MAX_YEAR, description="The pilot year")]
YearFilter = Annotated[int | None, Query(ge=MIN_YEAR, le=MAX_YEAR, description="The pilot year")]


# --- schemes ---------------------------------------------------------------------------------


@schemes_router.get("/{year}", response_model=SchemePublic)
def evaluation_schemes_get(
    session: SessionDep, principal: CurrentPrincipal, year: YearPath, response: Response
) -> SchemePublic:
    """The year's weights, rating thresholds and plan deadline. A year with nothing stored
    answers the documented defaults with `stored` false and `is_default` true."""
    scheme = service.get_scheme(session, principal, year)
    if scheme.stored:
        set_etag(response, scheme.version)
    return scheme


@schemes_router.put("/{year}", response_model=SchemePublic, responses=problem_responses(409, 412))
def evaluation_schemes_put(
    session: SessionDep,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    year: YearPath,
    data: SchemePut,
    if_match: IfMatch,
    response: Response,
    if_none_match: Annotated[
        str | None,
        Header(
            alias="If-None-Match",
            description="`*`: store the scheme only if none is stored for the year yet (412 "
            "otherwise); other values are ignored",
        ),
    ] = None,
) -> SchemePublic:
    """Set the year's scheme (academic office). Every indicator key needs a weight; weights are
    whole numbers ≥ 0 that sum, with `committee_weight`, to exactly 100 (422 otherwise);
    thresholds must be ordered. If the year's evaluations were already computed they are
    computed again with the new scheme. A finalized year's scheme cannot change (409).

    Versions: to change a stored scheme send `If-Match` with the ETag of GET (412 when it was
    changed since). To create one send no `If-Match` (or `If-Match: 0`, the version GET shows
    for a scheme not stored) or `If-None-Match: *`: of two PUTs creating the same year's
    scheme at once, the second is refused with 412 instead of silently replacing the first;
    `If-None-Match: *` also refuses when a scheme is already stored."""
    scheme = service.put_scheme(
        session,
        principal,
        year,
        data,
        if_match,
        school_today(settings.timezone),
        settings.timezone,
        create_only=(if_none_match or "").strip() == "*",
    )
    set_etag(response, scheme.version)
    return scheme


# --- evaluations -----------------------------------------------------------------------------


def _columns() -> list[ExportColumn]:
    return [
        ExportColumn("rank", "排名"),
        ExportColumn("year", "年度"),
        ExportColumn("certificate_name", "证书名称"),
        ExportColumn("level", "级别"),
        ExportColumn("tier", "本科/高职/中职"),
        ExportColumn("major_names", "专业"),
        ExportColumn("headcount", "申报人数"),
        *[ExportColumn(f"indicator_{i.key}", f"{i.label}({i.unit})") for i in INDICATORS],
        ExportColumn("committee_score", "专家委员会评分"),
        ExportColumn("total", "总分"),
        ExportColumn("rating", "等级"),
        ExportColumn("needs_rectification", "需整改"),
        ExportColumn("committee_comments", "评语"),
        ExportColumn("finalized", "已定稿"),
    ]


def _export_item(evaluation: EvaluationPublic) -> dict[str, Any]:
    return {
        **evaluation.__dict__,
        **{f"indicator_{f.key}": f.value for f in evaluation.indicators},
        "finalized": evaluation.finalized_at is not None,
    }


@evaluations_router.get("", response_model=Page[EvaluationPublic], responses=EXPORT_RESPONSES)
def evaluations_list(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    year: YearFilter = None,
    rating: Rating | None = None,
    needs_rectification: bool | None = None,
    format: FormatQuery = ExportFormat.json,
) -> Any:
    """Evaluations ranked by total within each year (newest year first; pilots without a
    total last), with each indicator (null = missing), the committee score, rating and the
    整改 flag. The office, auditors and admins read all; a college manager the pilots with a
    major of their college.

    Total: Σ weight × score over what counted ÷ Σ the weights that counted. A missing
    (null) indicator counts neither for nor against the pilot: the remaining weights are
    re-scaled; the committee score counts with its own weight once entered. Each evaluation
    lists its indicators with `counted`, and `weight_counted`.
    """
    filters: dict[str, Any] = {
        "year": year,
        "rating": rating,
        "needs_rectification": needs_rectification,
    }
    if format != ExportFormat.json:
        items = service.evaluations_for_export(session, principal, **filters)
        name = f"evaluations-{year}" if year else "evaluations"
        return export_response([_export_item(e) for e in items], _columns(), format, name)
    return service.list_evaluations(session, principal, page, **filters)


@evaluations_router.post("/compute", response_model=EvaluationRun, responses=problem_responses(409))
def evaluations_compute(
    session: SessionDep, principal: CurrentPrincipal, settings: SettingsDep, year: YearRequired
) -> EvaluationRun:
    """Compute (or compute again) the indicators of every approved or closed pilot of the
    year from the data, with the year's scheme (stored from the defaults if none was set).
    Idempotent; committee scores are kept. 409 once the year is finalized.

    Total: Σ weight × score over what counted ÷ Σ the weights that counted. A missing
    (null) indicator counts neither for nor against the pilot: the remaining weights are
    re-scaled; the committee score counts with its own weight once entered. Each evaluation
    lists its indicators with `counted`, and `weight_counted`.
    """
    return service.compute_year(
        session, principal, year, school_today(settings.timezone), settings.timezone
    )


@evaluations_router.post(
    "/finalize", response_model=EvaluationRun, responses=problem_responses(409)
)
def evaluations_finalize(
    session: SessionDep, principal: CurrentPrincipal, year: YearRequired
) -> EvaluationRun:
    """Freeze the year (academic office): the figures, totals, ratings and ranks stay exactly
    as last computed, whatever data changes later; compute, committee scores and scheme
    changes are refused (409) from then on. Compute again first to take the latest data.
    409 `committee_scores_missing` while a pilot has no committee score; 409 when nothing
    was computed or the year is already finalized."""
    return service.finalize_year(session, principal, year)


@evaluations_router.get(
    "/{evaluation_id}", response_model=EvaluationPublic, responses=problem_responses(404)
)
def evaluations_get(
    session: SessionDep, principal: CurrentPrincipal, evaluation_id: DbId, response: Response
) -> EvaluationPublic:
    evaluation = service.get_evaluation(session, principal, evaluation_id)
    set_etag(response, evaluation.version)
    return evaluation


@evaluations_router.put(
    "/{evaluation_id}/committee-score",
    response_model=EvaluationPublic,
    responses=problem_responses(404, 409, 412),
)
def evaluations_committee_score(
    session: SessionDep,
    principal: CurrentPrincipal,
    evaluation_id: DbId,
    data: CommitteeScorePut,
    if_match: IfMatch,
    response: Response,
) -> EvaluationPublic:
    """Enter or change the expert committee's score (0–100) and comments (academic office;
    `If-Match` optional). The total, rating, 整改 flag and the year's ranks change at once.
    409 with the current figures once the year is finalized."""
    evaluation = service.put_committee_score(session, principal, evaluation_id, data, if_match)
    set_etag(response, evaluation.version)
    return evaluation


# --- the overview ----------------------------------------------------------------------------

overview_router = APIRouter(
    prefix="/reports", tags=["reports"], responses=problem_responses(401, 403, 422)
)


@overview_router.get("/overview", response_model=Overview)
def reports_overview(
    session: SessionDep, principal: CurrentPrincipal, settings: SettingsDep, year: YearFilter = None
) -> Overview:
    """One call for the office's dashboard: applications per status with their headcount,
    Σ headcount of approved and closed pilots, the exam funnel's totals, teacher coverage,
    funds allocated and spent, conversions and credits granted, and the evaluations per
    rating. `funds` and `credits` are null while their domains are not part of the service.
    The office, auditors and admins read it."""
    return overview(session, principal, year, school_today(settings.timezone))
