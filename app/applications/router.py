"""HTTP for pilot applications, the teachers assigned to them, the majors' work plans and the
summary report."""

from dataclasses import replace
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from app.applications import reports, service
from app.applications.models import (
    MAX_YEAR,
    MIN_YEAR,
    ApplicationCreate,
    ApplicationPublic,
    ApplicationsReport,
    ApplicationStatus,
    ApplicationUpdate,
    PilotTeacherCreate,
    PilotTeacherPublic,
    PilotTeacherSelection,
    PlanCreate,
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
    GET_RESPONSES,
)
from app.core.routes import Routes

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


applications = Routes(
    applications_router,
    ApplicationPublic,
    id_name="application_id",
    read=service.get_application,
)
applications.list(
    service.APPLICATIONS,
    """Pilot applications, newest year first, with majors (and each major's plan status) and
    cohorts. The office, auditors and admins see all; a college manager those with a major of
    their college; a teacher those they are assigned to; a student the approved or closed ones
    covering their major and cohort; an evaluation organisation the approved or closed ones for
    its certificates. The CSV/XLSX export has the 一览表's headers, so it uploads again.""",
)
applications.create(
    ApplicationCreate,
    service.create_application,
    """File a draft application. A college manager files only for majors of their college;
    one application per (year, certificate, level, tier).""",
)
# GET /applications/{application_id} is declared by app.trainings.router: an application's
# detail shows its training figures (teacher coverage, trained students), which trainings owns.
applications.update(
    ApplicationUpdate,
    service.update_application,
    """Change a draft (send the ETag in `If-Match`); `major_ids` and `cohorts` replace the
    lists.""",
)
applications.delete(
    service.delete_application, "Delete a draft application.", responses=ACTION_RESPONSES
)
for step, doc in (
    ("submit", "draft → submitted, by the office or the college manager of every major."),
    ("approve", "submitted → approved (academic office)."),
    ("close", "approved → closed (academic office); no plan is filed after that."),
):
    applications.action(step, partial(service.transition, action=step), doc)
applications.action(
    "reject",
    lambda session, principal, application_id, data: service.transition(
        session, principal, application_id, "reject", data.reason
    ),
    "submitted → rejected with a reason (academic office).",
    body=RejectBody,
)


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


plans = Routes(plans_router, PlanPublic, id_name="plan_id", read=service.get_plan)
plans.list(
    service.PLANS, "Work plans with their core courses; a college manager sees their college's."
)
plans.create(
    PlanCreate,
    service.create_plan,
    """Start a major's draft plan for an approved application (one per application and
    major). Core courses are checked when the plan is filed.""",
)
plans.get(
    """One work plan with its sections, core courses and `allowed_actions`; the `ETag` is
    what a `PATCH` sends back in `If-Match`."""
)
plans.update(
    PlanUpdate,
    service.update_plan,
    """Change a draft or returned plan (`If-Match`); a returned plan becomes a draft again.
    `core_course_ids` replaces the list.""",
)
for step, doc in (
    (
        "file",
        """File (报备) a draft or returned plan with the office: needs 3–5 core courses of the
        major and an application that is still approved (not closed).""",
    ),
    ("acknowledge", "filed → acknowledged (academic office)."),
):
    plans.action(step, partial(service.plan_transition, action=step), doc)
plans.action(
    "return",
    lambda session, principal, plan_id, data: service.plan_transition(
        session, principal, plan_id, "return", data.reason
    ),
    "filed → returned with a reason (academic office); the college edits and files again.",
    body=ReturnBody,
)


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
