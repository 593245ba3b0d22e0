"""HTTP for the annual evaluation: schemes, compute, committee scores, finalize and the
ranking (also as CSV/XLSX)."""

from typing import Annotated, Any

from fastapi import Header, Path, Query, Response

from app.applications.models import MAX_YEAR, MIN_YEAR
from app.core.auth import CurrentPrincipal, SettingsDep, writers
from app.core.db import SessionDep
from app.core.errors import problem_responses
from app.core.export import EXPORT_RESPONSES
from app.core.listing import ListDep
from app.core.pagination import Page
from app.core.params import DbId
from app.core.roles import OFFICE
from app.core.routes import domain_router
from app.core.types import school_today
from app.core.versions import IfMatch, set_etag
from app.evaluations import models, service
from app.evaluations.overview import Overview, overview

evaluations_router = domain_router("/evaluations", "evaluations")
schemes_router = domain_router("/evaluation-schemes", "evaluations")

YearPath = Annotated[int, Path(ge=MIN_YEAR, le=MAX_YEAR, description="The evaluation year")]
YearRequired = Annotated[int, Query(ge=MIN_YEAR, le=MAX_YEAR, description="The pilot year")]
YearFilter = Annotated[int | None, Query(ge=MIN_YEAR, le=MAX_YEAR, description="The pilot year")]


# --- schemes ---------------------------------------------------------------------------------


@schemes_router.get("/{year}", response_model=models.SchemePublic, summary="查看年度考核方案")
def evaluation_schemes_get(
    session: SessionDep, principal: CurrentPrincipal, year: YearPath, response: Response
) -> models.SchemePublic:
    """The year's weights, rating thresholds and plan deadline. A year with nothing stored
    answers the documented defaults with `stored` false and `is_default` true."""
    scheme = service.get_scheme(session, principal, year)
    if scheme.stored:
        set_etag(response, scheme.version)
    return scheme


@schemes_router.put(
    "/{year}",
    response_model=models.SchemePublic,
    responses=problem_responses(409, 412),
    summary="设置年度考核方案",
    **writers(OFFICE),
)
def evaluation_schemes_put(
    session: SessionDep,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    year: YearPath,
    data: models.SchemePut,
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
) -> models.SchemePublic:
    """Set the year's scheme (academic office). Every indicator key needs a weight (an indicator
    added later, such as `dual_qualified_share`, may be left out: it weighs 0, off); weights are
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


@evaluations_router.get(
    "",
    response_model=Page[models.EvaluationPublic],
    responses=EXPORT_RESPONSES,
    summary="绩效考核列表",
)
def evaluations_list(
    session: SessionDep,
    principal: CurrentPrincipal,
    filters: Annotated[models.EvaluationFilters, Query()],
    params: ListDep,
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
    return service.evaluations_listing(filters).respond(session, principal, filters, params)


@evaluations_router.post(
    "/compute",
    response_model=models.EvaluationRun,
    responses=problem_responses(409),
    summary="计算年度绩效考核",
    **writers(OFFICE),
)
def evaluations_compute(
    session: SessionDep, principal: CurrentPrincipal, settings: SettingsDep, year: YearRequired
) -> models.EvaluationRun:
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
    "/finalize",
    response_model=models.EvaluationRun,
    responses=problem_responses(409),
    summary="锁定年度绩效考核",
    **writers(OFFICE),
)
def evaluations_finalize(
    session: SessionDep, principal: CurrentPrincipal, year: YearRequired
) -> models.EvaluationRun:
    """Freeze the year (academic office): the figures, totals, ratings and ranks stay exactly
    as last computed, whatever data changes later; compute, committee scores and scheme
    changes are refused (409) from then on. Compute again first to take the latest data.
    409 `committee_scores_missing` while a pilot has no committee score; 409 when nothing
    was computed or the year is already finalized."""
    return service.finalize_year(session, principal, year)


@evaluations_router.get(
    "/{evaluation_id}",
    response_model=models.EvaluationPublic,
    responses=problem_responses(404),
    summary="查看绩效考核",
)
def evaluations_get(
    session: SessionDep, principal: CurrentPrincipal, evaluation_id: DbId, response: Response
) -> models.EvaluationPublic:
    """One evaluation with its indicators, committee score, total and rating, and its `ETag`
    for the committee score. Readers as the list: the office, auditors and admins all, a
    college manager the pilots with a major of their college (404 otherwise); every other
    role is 403."""
    evaluation = service.EVALUATIONS.one(session, principal, evaluation_id)
    set_etag(response, evaluation.version)
    return evaluation


@evaluations_router.put(
    "/{evaluation_id}/committee-score",
    response_model=models.EvaluationPublic,
    responses=problem_responses(404, 409, 412),
    summary="录入专家委员会评分",
    **writers(OFFICE),
)
def evaluations_committee_score(
    session: SessionDep,
    principal: CurrentPrincipal,
    evaluation_id: DbId,
    data: models.CommitteeScorePut,
    if_match: IfMatch,
    response: Response,
) -> models.EvaluationPublic:
    """Enter or change the expert committee's score (0–100) and comments (academic office;
    `If-Match` optional). The total, rating, 整改 flag and the year's ranks change at once.
    409 with the current figures once the year is finalized."""
    evaluation = service.put_committee_score(session, principal, evaluation_id, data, if_match)
    set_etag(response, evaluation.version)
    return evaluation


# --- the overview ----------------------------------------------------------------------------

overview_router = domain_router("/reports", "reports")


@overview_router.get("/overview", response_model=Overview, summary="年度总览")
def reports_overview(
    session: SessionDep, principal: CurrentPrincipal, settings: SettingsDep, year: YearFilter = None
) -> Overview:
    """One call for the office's dashboard: applications per status with their headcount,
    Σ headcount of approved and closed pilots, the exam funnel's totals, teacher coverage,
    funds allocated and spent, conversions and credits granted, and the evaluations per
    rating. `funds` and `credits` are null while their domains are not part of the service.
    The office, auditors and admins read it."""
    return overview(session, principal, year, school_today(settings.timezone))
