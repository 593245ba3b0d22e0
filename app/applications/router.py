"""HTTP for pilot applications, the teachers assigned to them, the majors' work plans and the
summary report."""

from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from app.applications import reports, service
from app.applications.models import (
    MAX_YEAR,
    MIN_YEAR,
    ApplicationCreate,
    ApplicationFilters,
    ApplicationPublic,
    ApplicationsReport,
    ApplicationStatus,
    ApplicationUpdate,
    PilotTeacherCreate,
    PilotTeacherPublic,
    PilotTeacherSelection,
    PlanCreate,
    PlanFilters,
    PlanPublic,
    PlanUpdate,
    RejectBody,
    ReportGroupBy,
    ReturnBody,
)
from app.core.auth import CurrentPrincipal
from app.core.db import SessionDep
from app.core.errors import problem_responses
from app.core.export import EXPORT_RESPONSES, ExportFormat, FormatQuery
from app.core.listing import ListDep
from app.core.pagination import Page
from app.core.params import DbId
from app.core.responses import (
    ACTION_RESPONSES,
    CREATE_RESPONSES,
    GET_RESPONSES,
    WRITE_RESPONSES,
)
from app.core.versions import IfMatch, set_created, set_etag

applications_router = APIRouter(
    prefix="/applications", tags=["applications"], responses=problem_responses(401, 403, 422)
)
plans_router = APIRouter(
    prefix="/plans", tags=["plans"], responses=problem_responses(401, 403, 422)
)
reports_router = APIRouter(
    prefix="/reports", tags=["reports"], responses=problem_responses(401, 403, 422)
)

YearQuery = Annotated[int | None, Query(ge=MIN_YEAR, le=MAX_YEAR, description="Pilot year")]


# --- applications ----------------------------------------------------------------------------


@applications_router.get("", response_model=Page[ApplicationPublic], responses=EXPORT_RESPONSES)
def applications_list(
    session: SessionDep,
    principal: CurrentPrincipal,
    filters: Annotated[ApplicationFilters, Query()],
    params: ListDep,
) -> Any:
    """Pilot applications, newest year first, with majors (and each major's plan status) and
    cohorts. The office, auditors and admins see all; a college manager those with a major of
    their college; a teacher those they are assigned to; a student the approved or closed ones
    covering their major and cohort; an evaluation organisation the approved or closed ones for
    its certificates. The CSV/XLSX export has the 一览表's headers, so it uploads again."""
    return service.APPLICATIONS.respond(session, principal, filters, params)


@applications_router.post(
    "",
    response_model=ApplicationPublic,
    status_code=status.HTTP_201_CREATED,
    responses=CREATE_RESPONSES,
)
def applications_create(
    session: SessionDep, principal: CurrentPrincipal, data: ApplicationCreate, response: Response
) -> ApplicationPublic:
    """File a draft application. A college manager files only for majors of their college;
    one application per (year, certificate, level, tier)."""
    application = service.create_application(session, principal, data)
    set_created(response, "applications", application.id, application.version)
    assert application.id is not None
    return service.get_application(session, principal, application.id)


# GET /applications/{application_id} is declared by app.trainings.router: an application's
# detail shows its training figures (teacher coverage, trained students), which trainings owns.


@applications_router.patch(
    "/{application_id}", response_model=ApplicationPublic, responses=WRITE_RESPONSES
)
def applications_update(
    session: SessionDep,
    principal: CurrentPrincipal,
    application_id: DbId,
    data: ApplicationUpdate,
    if_match: IfMatch,
    response: Response,
) -> ApplicationPublic:
    """Change a draft (send the ETag in `If-Match`); `major_ids` and `cohorts` replace the
    lists."""
    application = service.update_application(session, principal, application_id, data, if_match)
    set_etag(response, application.version)
    return application


@applications_router.delete(
    "/{application_id}", status_code=status.HTTP_204_NO_CONTENT, responses=ACTION_RESPONSES
)
def applications_delete(
    session: SessionDep, principal: CurrentPrincipal, application_id: DbId
) -> None:
    """Delete a draft application."""
    service.delete_application(session, principal, application_id)


def _act(
    session: SessionDep,
    principal: CurrentPrincipal,
    application_id: int,
    action: str,
    response: Response,
    reason: str | None = None,
) -> ApplicationPublic:
    application = service.transition(session, principal, application_id, action, reason)
    set_etag(response, application.version)
    return service.get_application(session, principal, application_id)


@applications_router.post(
    "/{application_id}/submit", response_model=ApplicationPublic, responses=ACTION_RESPONSES
)
def applications_submit(
    session: SessionDep, principal: CurrentPrincipal, application_id: DbId, response: Response
) -> ApplicationPublic:
    """draft → submitted, by the office or the college manager of every major."""
    return _act(session, principal, application_id, "submit", response)


@applications_router.post(
    "/{application_id}/approve", response_model=ApplicationPublic, responses=ACTION_RESPONSES
)
def applications_approve(
    session: SessionDep, principal: CurrentPrincipal, application_id: DbId, response: Response
) -> ApplicationPublic:
    """submitted → approved (academic office)."""
    return _act(session, principal, application_id, "approve", response)


@applications_router.post(
    "/{application_id}/reject", response_model=ApplicationPublic, responses=ACTION_RESPONSES
)
def applications_reject(
    session: SessionDep,
    principal: CurrentPrincipal,
    application_id: DbId,
    data: RejectBody,
    response: Response,
) -> ApplicationPublic:
    """submitted → rejected with a reason (academic office)."""
    return _act(session, principal, application_id, "reject", response, data.reason)


@applications_router.post(
    "/{application_id}/close", response_model=ApplicationPublic, responses=ACTION_RESPONSES
)
def applications_close(
    session: SessionDep, principal: CurrentPrincipal, application_id: DbId, response: Response
) -> ApplicationPublic:
    """approved → closed (academic office); no plan is filed after that."""
    return _act(session, principal, application_id, "close", response)


# --- teachers --------------------------------------------------------------------------------


@applications_router.get(
    "/{application_id}/teachers",
    response_model=Page[PilotTeacherPublic],
    responses={**GET_RESPONSES, **EXPORT_RESPONSES},
)
def applications_teachers_list(
    session: SessionDep, principal: CurrentPrincipal, application_id: DbId, params: ListDep
) -> Any:
    """Teachers assigned to the pilot, by staff number, with their roles."""
    selection = PilotTeacherSelection(application_id=application_id)
    listing = replace(service.TEACHERS, filename=f"application-{application_id}-teachers")
    return listing.respond(session, principal, selection, params)


@applications_router.post(
    "/{application_id}/teachers",
    response_model=PilotTeacherPublic,
    status_code=status.HTTP_201_CREATED,
    responses=ACTION_RESPONSES,
)
def applications_teachers_add(
    session: SessionDep,
    principal: CurrentPrincipal,
    application_id: DbId,
    data: PilotTeacherCreate,
) -> PilotTeacherPublic:
    """Assign a teacher as `trainer` and/or `evaluator`. A college manager assigns teachers of
    their college to a pilot with a major of their college."""
    return service.add_teacher(session, principal, application_id, data)


@applications_router.delete(
    "/{application_id}/teachers/{teacher_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=ACTION_RESPONSES,
)
def applications_teachers_remove(
    session: SessionDep, principal: CurrentPrincipal, application_id: DbId, teacher_id: DbId
) -> None:
    """Remove a teacher from the pilot."""
    service.remove_teacher(session, principal, application_id, teacher_id)


# --- plans -----------------------------------------------------------------------------------


@plans_router.get("", response_model=Page[PlanPublic], responses=EXPORT_RESPONSES)
def plans_list(
    session: SessionDep,
    principal: CurrentPrincipal,
    filters: Annotated[PlanFilters, Query()],
    params: ListDep,
) -> Any:
    """Work plans with their core courses; a college manager sees their college's."""
    return service.PLANS.respond(session, principal, filters, params)


@plans_router.post(
    "",
    response_model=PlanPublic,
    status_code=status.HTTP_201_CREATED,
    responses=CREATE_RESPONSES,
)
def plans_create(
    session: SessionDep, principal: CurrentPrincipal, data: PlanCreate, response: Response
) -> PlanPublic:
    """Start a major's draft plan for an approved application (one per application and
    major). Core courses are checked when the plan is filed."""
    plan = service.create_plan(session, principal, data)
    set_created(response, "plans", plan.id, plan.version)
    assert plan.id is not None
    return service.get_plan(session, principal, plan.id)


@plans_router.get("/{plan_id}", response_model=PlanPublic, responses=GET_RESPONSES)
def plans_get(
    session: SessionDep, principal: CurrentPrincipal, plan_id: DbId, response: Response
) -> PlanPublic:
    """One work plan with its sections, core courses and `allowed_actions`; the `ETag` is
    what a `PATCH` sends back in `If-Match`."""
    plan = service.get_plan(session, principal, plan_id)
    set_etag(response, plan.version)
    return plan


@plans_router.patch("/{plan_id}", response_model=PlanPublic, responses=WRITE_RESPONSES)
def plans_update(
    session: SessionDep,
    principal: CurrentPrincipal,
    plan_id: DbId,
    data: PlanUpdate,
    if_match: IfMatch,
    response: Response,
) -> PlanPublic:
    """Change a draft or returned plan (`If-Match`); a returned plan becomes a draft again.
    `core_course_ids` replaces the list."""
    plan = service.update_plan(session, principal, plan_id, data, if_match)
    set_etag(response, plan.version)
    return service.get_plan(session, principal, plan_id)


def _plan_act(
    session: SessionDep,
    principal: CurrentPrincipal,
    plan_id: int,
    action: str,
    response: Response,
    reason: str | None = None,
) -> PlanPublic:
    plan = service.plan_transition(session, principal, plan_id, action, reason)
    set_etag(response, plan.version)
    return service.get_plan(session, principal, plan_id)


@plans_router.post("/{plan_id}/file", response_model=PlanPublic, responses=ACTION_RESPONSES)
def plans_file(
    session: SessionDep, principal: CurrentPrincipal, plan_id: DbId, response: Response
) -> PlanPublic:
    """File (报备) a draft or returned plan with the office: needs 3–5 core courses of the
    major and an application that is still approved (not closed)."""
    return _plan_act(session, principal, plan_id, "file", response)


@plans_router.post("/{plan_id}/acknowledge", response_model=PlanPublic, responses=ACTION_RESPONSES)
def plans_acknowledge(
    session: SessionDep, principal: CurrentPrincipal, plan_id: DbId, response: Response
) -> PlanPublic:
    """filed → acknowledged (academic office)."""
    return _plan_act(session, principal, plan_id, "acknowledge", response)


@plans_router.post("/{plan_id}/return", response_model=PlanPublic, responses=ACTION_RESPONSES)
def plans_return(
    session: SessionDep,
    principal: CurrentPrincipal,
    plan_id: DbId,
    data: ReturnBody,
    response: Response,
) -> PlanPublic:
    """filed → returned with a reason (academic office); the college edits and files again."""
    return _plan_act(session, principal, plan_id, "return", response, data.reason)


# --- report ----------------------------------------------------------------------------------


@reports_router.get("/applications", response_model=ApplicationsReport, responses=EXPORT_RESPONSES)
def reports_applications(
    session: SessionDep,
    principal: CurrentPrincipal,
    year: YearQuery = None,
    group_by: ReportGroupBy = ReportGroupBy.certificate,
    status: Annotated[
        ApplicationStatus | None,
        Query(description="Only this status; without it every status but rejected"),
    ] = None,
    format: FormatQuery = ExportFormat.json,
) -> Any:
    """Count and Σ headcount per group, plus totals over the applications you can read. An
    application with majors in several groups counts in each; the totals count it once."""
    result = reports.report(session, principal, year=year, group_by=group_by, status=status)
    if format != ExportFormat.json:
        return reports.report_export(result, format)
    return result
