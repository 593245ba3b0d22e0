"""HTTP for pilot applications, the teachers assigned to them, the majors' work plans and the
summary report."""

from dataclasses import replace
from functools import partial
from typing import Annotated, Any

from fastapi import Query, status

from app.applications import models, reports, service
from app.core.auth import CurrentPrincipal, writers
from app.core.db import SessionDep
from app.core.export import EXPORT_RESPONSES, ExportFormat, FormatQuery
from app.core.i18n import N_, _
from app.core.listing import ListDep
from app.core.pagination import Page
from app.core.params import DbId
from app.core.reports import grouped_columns, report_filename, report_response
from app.core.responses import (
    ACTION_RESPONSES,
    GET_RESPONSES,
)
from app.core.roles import OFFICE, OFFICE_OR_COLLEGE
from app.core.routes import Routes, domain_router

applications_router = domain_router("/applications", "applications")
plans_router = domain_router("/plans", "plans")
reports_router = domain_router("/reports", "reports")

YearQuery = Annotated[
    int | None, Query(ge=models.MIN_YEAR, le=models.MAX_YEAR, description="Pilot year")
]


# --- applications ----------------------------------------------------------------------------


applications = Routes(
    applications_router,
    models.ApplicationPublic,
    id_name="application_id",
    read=service.APPLICATIONS.one,
    noun="试点申报",
    writers=OFFICE_OR_COLLEGE,
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
    models.ApplicationCreate,
    service.create_application,
    """File a draft application. A college manager files only for majors of their college;
    one application per (year, certificate, level, tier).""",
)
# GET /applications/{application_id} is declared by app.trainings.router: an application's
# detail shows its training figures (teacher coverage, trained students), which trainings owns.
applications.update(
    models.ApplicationUpdate,
    service.update_application,
    """Change a draft (send the ETag in `If-Match`); `major_ids` and `cohorts` replace the
    lists.""",
)
applications.delete(
    service.delete_application, "Delete a draft application.", responses=ACTION_RESPONSES
)
for step, summary, doc in (
    (
        "submit",
        "提交试点申报",
        "draft → submitted, by the office or the college manager of every major.",
    ),
    ("approve", "批准试点申报", "submitted → approved (academic office)."),
    ("close", "结束试点", "approved → closed (academic office); no plan is filed after that."),
):
    applications.action(
        step,
        partial(service.transition, action=step),
        doc,
        summary=summary,
        roles=OFFICE if step in service.OFFICE_ACTIONS else None,
    )
applications.action(
    "reject",
    lambda session, principal, application_id, data: service.transition(
        session, principal, application_id, "reject", data.reason
    ),
    "submitted → rejected with a reason (academic office).",
    body=models.ApplicationRejectBody,
    summary="驳回试点申报",
    roles=OFFICE,
)


# --- teachers --------------------------------------------------------------------------------


@applications_router.get(
    "/{application_id}/teachers",
    response_model=Page[models.PilotTeacherPublic],
    responses={**GET_RESPONSES, **EXPORT_RESPONSES},
    summary="试点教师列表",
)
def applications_teachers_list(
    session: SessionDep, principal: CurrentPrincipal, application_id: DbId, params: ListDep
) -> Any:
    """Teachers assigned to the pilot, by staff number, with their roles."""
    selection = models.PilotTeacherSelection(application_id=application_id)
    listing = replace(service.TEACHERS, filename=f"application-{application_id}-teachers")
    return listing.respond(session, principal, selection, params)


@applications_router.post(
    "/{application_id}/teachers",
    response_model=models.PilotTeacherPublic,
    status_code=status.HTTP_201_CREATED,
    responses=ACTION_RESPONSES,
    summary="指派试点教师",
    **writers(OFFICE_OR_COLLEGE),
)
def applications_teachers_add(
    session: SessionDep,
    principal: CurrentPrincipal,
    application_id: DbId,
    data: models.PilotTeacherCreate,
) -> models.PilotTeacherPublic:
    """Assign a teacher as `trainer` and/or `evaluator`. A college manager assigns teachers of
    their college to a pilot with a major of their college."""
    return service.add_teacher(session, principal, application_id, data)


@applications_router.delete(
    "/{application_id}/teachers/{teacher_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=ACTION_RESPONSES,
    summary="移除试点教师",
    **writers(OFFICE_OR_COLLEGE),
)
def applications_teachers_remove(
    session: SessionDep, principal: CurrentPrincipal, application_id: DbId, teacher_id: DbId
) -> None:
    """Remove a teacher from the pilot."""
    service.remove_teacher(session, principal, application_id, teacher_id)


# --- plans -----------------------------------------------------------------------------------


plans = Routes(
    plans_router,
    models.PlanPublic,
    id_name="plan_id",
    read=service.PLANS.one,
    noun="试点工作方案",
    writers=OFFICE_OR_COLLEGE,
)
plans.list(
    service.PLANS, "Work plans with their core courses; a college manager sees their college's."
)
plans.create(
    models.PlanCreate,
    service.create_plan,
    """Start a major's draft plan for an approved application (one per application and
    major). Core courses are checked when the plan is filed.""",
)
plans.get(
    """One work plan with its sections, core courses and `allowed_actions`; the `ETag` is
    what a `PATCH` sends back in `If-Match`."""
)
plans.update(
    models.PlanUpdate,
    service.update_plan,
    """Change a draft or returned plan (`If-Match`); a returned plan becomes a draft again.
    `core_course_ids` replaces the list.""",
)
for step, summary, doc in (
    (
        "file",
        "报备试点工作方案",
        """File (报备) a draft or returned plan with the office: needs 3–5 core courses of the
        major and an application that is still approved (not closed).""",
    ),
    ("acknowledge", "确认试点工作方案", "filed → acknowledged (academic office)."),
):
    plans.action(
        step,
        partial(service.plan_transition, action=step),
        doc,
        summary=summary,
        roles=None if step == "file" else OFFICE,
    )
plans.action(
    "return",
    lambda session, principal, plan_id, data: service.plan_transition(
        session, principal, plan_id, "return", data.reason
    ),
    "filed → returned with a reason (academic office); the college edits and files again.",
    body=models.ReturnBody,
    summary="退回试点工作方案",
    roles=OFFICE,
)


# --- report ----------------------------------------------------------------------------------


@reports_router.get(
    "/applications",
    response_model=models.ApplicationsReport,
    responses=EXPORT_RESPONSES,
    summary="试点申报汇总",
)
def reports_applications(
    session: SessionDep,
    principal: CurrentPrincipal,
    year: YearQuery = None,
    group_by: models.ReportGroupBy = models.ReportGroupBy.certificate,
    status: Annotated[
        models.ApplicationStatus | None,
        Query(description="Only this status; without it every status but rejected"),
    ] = None,
    format: FormatQuery = ExportFormat.json,
) -> Any:
    """Count and Σ headcount per group, plus totals over the applications you can read. An
    application with majors in several groups counts in each; the totals count it once."""
    result = reports.report(session, principal, year=year, group_by=group_by, status=status)
    return report_response(
        result,
        format,
        reports.report_rows(result),
        grouped_columns(reports.GROUP_HEADERS, group_by, reports.REPORT_COLUMNS),
        report_filename("applications", year, group_by),
        title=N_("Pilot applications summary"),
        filters={
            N_("Year"): year,
            N_("Group by"): group_by,
            N_("Status"): status or _("every status but rejected"),
        },
        totals=1,
    )
