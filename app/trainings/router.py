"""HTTP for teacher trainings, student training batches with their enrolments, the
teacher-coverage report, and an application's detail with its training figures."""

from dataclasses import replace
from datetime import date
from typing import Annotated, Any

from fastapi import Query, Response, status

from app.applications.models import MAX_YEAR, MIN_YEAR, ApplicationStatus
from app.core.auth import CurrentPrincipal, SettingsDep, Today, writers
from app.core.db import SessionDep
from app.core.export import EXPORT_RESPONSES, ExportFormat, FormatQuery
from app.core.i18n import N_, _
from app.core.listing import ListDep
from app.core.pagination import Page
from app.core.params import DbId, FilterId
from app.core.reports import report_filename, report_response
from app.core.responses import (
    ACTION_RESPONSES,
    GET_RESPONSES,
    WRITE_RESPONSES,
)
from app.core.roles import OFFICE_OR_COLLEGE
from app.core.routes import Routes, domain_router
from app.core.types import school_today
from app.core.versions import IfMatch, set_etag
from app.trainings import models, qualifications, reports, service

trainings_router = domain_router("/teacher-trainings", "teacher-trainings")
batches_router = domain_router("/training-batches", "training-batches")
qualifications_router = domain_router("/evaluator-qualifications", "teacher-trainings")
coverage_router = domain_router("/reports", "reports")
application_detail_router = domain_router("/applications", "applications")

YearQuery = Annotated[int | None, Query(ge=MIN_YEAR, le=MAX_YEAR, description="Pilot year")]


# --- teacher trainings -----------------------------------------------------------------------


@trainings_router.get(
    "",
    response_model=Page[models.TrainingPublic],
    responses=EXPORT_RESPONSES,
    summary="师资培训列表",
)
def teacher_trainings_list(
    session: SessionDep,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    filters: Annotated[models.TrainingFilters, Query()],
    params: ListDep,
) -> Any:
    """Teacher trainings by staff number and start date. A teacher sees their own; a college
    manager their college's teachers'; an evaluation organisation those for its certificates;
    the office, auditors and admins all."""
    selection = models.TrainingSelection(
        **filters.model_dump(), today=school_today(settings.timezone)
    )
    return service.TRAININGS.respond(session, principal, selection, params)


trainings = Routes(
    trainings_router,
    models.TrainingPublic,
    id_name="training_id",
    read=service.get_training,
    context={"today": Today},
    noun="师资培训",
    writers=service.TRAINING_WRITERS,
)
trainings.create(
    models.TrainingCreate,
    service.create_training,
    """Record a planned training. The office records any teacher's; a college manager their
    college's teachers'; a teacher their own.""",
)
trainings.get(
    """One teacher training with `valid_today` and the actions its state allows; its version
    as the ETag. 404 when it does not exist or is not yours to read."""
)
trainings.update(
    models.TrainingUpdate,
    service.update_training,
    """Change a training (`If-Match`). Planned and in-progress trainings change any field; a
    certified one only its certificate numbers, `valid_until` and notes; a failed one only its
    notes (409 `invalid_state` otherwise). A teacher changes their own planned or in-progress
    training but never the certificate fields (403).""",
)
trainings.delete(service.delete_training, "Delete a planned training.", responses=ACTION_RESPONSES)
trainings.action(
    "start",
    lambda session, principal, training_id, today: service.transition_training(
        session, principal, training_id, "start", today
    ),
    "planned → in_progress.",
    extra={"today": Today},
    summary="开始师资培训",
)
trainings.action(
    "certify",
    lambda session, principal, training_id, data, today: service.transition_training(
        session, principal, training_id, "certify", today, data
    ),
    """in_progress → certified with the trainer certificate number (unique: 409 naming its
    holder otherwise), an optional 考评员 number and `valid_until`; `certified_on` (default
    today) lies between the training's start and today. Only the office or the teacher's
    college manager certifies.""",
    body=models.CertifyBody,
    extra={"today": Today},
    summary="师资培训合格发证",
    roles=OFFICE_OR_COLLEGE,
)
trainings.action(
    "fail",
    lambda session, principal, training_id, today: service.transition_training(
        session, principal, training_id, "fail", today
    ),
    """in_progress → failed (no certificate). Only the office or the teacher's college
    manager records the outcome.""",
    extra={"today": Today},
    summary="师资培训不合格",
    roles=OFFICE_OR_COLLEGE,
)


# --- evaluator qualifications ----------------------------------------------------------------

evaluator_qualifications = Routes(
    qualifications_router,
    models.QualificationPublic,
    id_name="qualification_id",
    read=qualifications.QUALIFICATIONS.one,
    noun="考评员资格",
    writers=qualifications.WRITERS,
)
evaluator_qualifications.list(
    qualifications.QUALIFICATIONS,
    """Teachers' evaluator (考评员) qualifications by staff number: certificate, level, number,
    issuing organisation and validity (`valid_on` keeps those valid on a day). The office,
    auditors and admins read all; a college manager their college's teachers'; a teacher
    their own; other roles 403.""",
)
evaluator_qualifications.create(
    models.QualificationCreate,
    qualifications.create_qualification,
    """Record a teacher's 考评员 qualification (the office; a college manager for their
    college's teachers). The number is unique (409 naming its holder); the level must be one
    the certificate offers and `valid_until` not before `issued_on` (422).""",
)
evaluator_qualifications.get(
    """One evaluator qualification; 404 when it does not exist or is not yours to read."""
)
evaluator_qualifications.update(
    models.QualificationUpdate,
    qualifications.update_qualification,
    """Change a qualification (`If-Match`): the office, or the teacher's college manager.""",
)
evaluator_qualifications.delete(
    qualifications.delete_qualification,
    """Delete a qualification (the office, or the teacher's college manager).""",
)


# --- training batches ------------------------------------------------------------------------


batches = Routes(
    batches_router,
    models.BatchPublic,
    id_name="batch_id",
    read=service.BATCHES.one,
    noun="学生培训批次",
    writers=OFFICE_OR_COLLEGE,
)
batches.list(
    service.BATCHES,
    """Student training batches by start date, over the pilots you can read, with their
    instructors and how many students are enrolled and have completed.""",
)
batches.create(
    models.BatchCreate,
    service.create_batch,
    """Start a student training batch for an approved application (the office, or the
    college manager of one of its majors).""",
)
batches.get(
    """One batch with its instructors and enrolment counts; its version as the ETag. 404 when
    it does not exist or its pilot is not yours to read."""
)
batches.update(
    models.BatchUpdate,
    service.update_batch,
    """Change a batch (`If-Match`); `instructor_ids` replaces the list; its hours never go
    below what an enrolled student has attended (409).""",
)
batches.delete(
    service.delete_batch,
    "Delete a batch that has no enrolments (409 otherwise).",
    responses=ACTION_RESPONSES,
)


@batches_router.get(
    "/{batch_id}/enrollments",
    response_model=Page[models.EnrollmentPublic],
    responses={**GET_RESPONSES, **EXPORT_RESPONSES},
    summary="培训学员列表",
)
def training_batches_enrollments_list(
    session: SessionDep,
    principal: CurrentPrincipal,
    batch_id: DbId,
    filters: Annotated[models.EnrollmentFilters, Query()],
    params: ListDep,
) -> Any:
    """The batch's students by student number, with hours attended and completion. A student
    sees only their own enrolment."""
    selection = models.EnrollmentSelection(**filters.model_dump(), batch_id=batch_id)
    listing = replace(service.ENROLLMENTS, filename=f"batch-{batch_id}-enrollments")
    return listing.respond(session, principal, selection, params)


@batches_router.post(
    "/{batch_id}/enrollments",
    response_model=models.EnrollmentPublic,
    status_code=status.HTTP_201_CREATED,
    responses=ACTION_RESPONSES,
    summary="新增培训学员",
    **writers(OFFICE_OR_COLLEGE),
)
def training_batches_enrollments_add(
    session: SessionDep,
    principal: CurrentPrincipal,
    batch_id: DbId,
    data: models.EnrollmentCreate,
    response: Response,
) -> models.EnrollmentPublic:
    """Enrol a student of the pilot's majors and cohorts (422 `not_eligible` naming why
    otherwise); attended hours at most the batch's."""
    enrollment = service.add_enrollment(session, principal, batch_id, data)
    set_etag(response, enrollment.version)
    assert enrollment.id is not None
    return service.get_enrollment(session, principal, batch_id, enrollment.id)


@batches_router.patch(
    "/{batch_id}/enrollments/{enrollment_id}",
    response_model=models.EnrollmentPublic,
    responses=WRITE_RESPONSES,
    summary="修改培训学员学时与结业",
    **writers(OFFICE_OR_COLLEGE),
)
def training_batches_enrollments_update(
    session: SessionDep,
    principal: CurrentPrincipal,
    batch_id: DbId,
    enrollment_id: DbId,
    data: models.EnrollmentUpdate,
    if_match: IfMatch,
    response: Response,
) -> models.EnrollmentPublic:
    """Record attended hours (≤ the batch's) and completion (`If-Match`)."""
    enrollment = service.update_enrollment(
        session, principal, batch_id, enrollment_id, data, if_match
    )
    set_etag(response, enrollment.version)
    return service.get_enrollment(session, principal, batch_id, enrollment_id)


@batches_router.delete(
    "/{batch_id}/enrollments/{enrollment_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=ACTION_RESPONSES,
    summary="移出培训学员",
    **writers(OFFICE_OR_COLLEGE),
)
def training_batches_enrollments_remove(
    session: SessionDep, principal: CurrentPrincipal, batch_id: DbId, enrollment_id: DbId
) -> None:
    """Take a student out of the batch."""
    service.remove_enrollment(session, principal, batch_id, enrollment_id)


# --- coverage report -------------------------------------------------------------------------


@coverage_router.get(
    "/teacher-coverage",
    response_model=models.TeacherCoverageReport,
    responses=EXPORT_RESPONSES,
    summary="师资培训覆盖率",
)
def reports_teacher_coverage(
    session: SessionDep,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    year: YearQuery = None,
    status: Annotated[
        ApplicationStatus | None,
        Query(description="Only this status; without it submitted, approved and closed"),
    ] = None,
    certificate_id: FilterId = None,
    as_of: Annotated[
        date | None,
        Query(description="The day certificates and qualifications are judged on; default today"),
    ] = None,
    format: FormatQuery = ExportFormat.json,
) -> Any:
    """师资培训覆盖率: per pilot the assigned teachers, those holding a certified and still
    valid training for its certificate at or above its level, the percentage and who is
    missing (`below_target` flags a pilot under 100 %); beside it, `evaluators`: the teachers
    assigned as evaluators (考评员), those holding a 考评员 qualification for the certificate at
    or above the level, issued by and valid on the day, and who is missing; per teachers'
    college and overall. The day is `as_of`, today by default. For the office, auditors,
    admins and college managers (their college's pilots); 403 for other roles."""
    report = reports.coverage_report(
        session,
        principal,
        today=as_of or school_today(settings.timezone),
        year=year,
        status=status,
        certificate_id=certificate_id,
    )
    return report_response(
        report,
        format,
        reports.coverage_rows(report),
        reports.COVERAGE_COLUMNS,
        report_filename("teacher-coverage", year),
        title=N_("Teacher training coverage"),
        filters={
            N_("Year"): year,
            N_("Status"): status or _("submitted, approved and closed"),
            N_("Certificate ID"): certificate_id,
        },
        totals=1,
    )


@coverage_router.get(
    "/dual-qualified",
    response_model=models.DualReport,
    responses=EXPORT_RESPONSES,
    summary="双师型教师比例",
)
def reports_dual_qualified(
    session: SessionDep,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    year: YearQuery = None,
    certificate_id: FilterId = None,
    as_of: Annotated[
        date | None, Query(description="The day recognition is judged on; default today")
    ] = None,
    format: FormatQuery = ExportFormat.json,
) -> Any:
    """双师型教师比例: per pilot (submitted, approved and closed) the share of its assigned
    teachers recognised as 双师型 on the day, with its majors; per college the share of all its
    teachers; over the pilots' teachers and over everyone. A recognition counts from its date
    to its `valid_until`. For the office, auditors, admins and college managers (their
    college's pilots and teachers); 403 for other roles."""
    report = reports.dual_report(
        session,
        principal,
        day=as_of or school_today(settings.timezone),
        year=year,
        certificate_id=certificate_id,
    )
    return report_response(
        report,
        format,
        reports.dual_rows(report),
        reports.DUAL_COLUMNS,
        report_filename("dual-qualified", year),
        title=N_("Dual-qualified (双师型) teachers"),
        filters={
            N_("Year"): year,
            N_("Certificate ID"): certificate_id,
            N_("On"): as_of or school_today(settings.timezone),
        },
        totals=2,
    )


# --- an application's detail -----------------------------------------------------------------


@application_detail_router.get(
    "/{application_id}",
    response_model=models.ApplicationDetail,
    responses=GET_RESPONSES,
    summary="查看试点申报",
)
def applications_get(
    session: SessionDep,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    application_id: DbId,
    response: Response,
) -> models.ApplicationDetail:
    """One application; `majors` shows each participating major's plan status (None: no plan
    yet), so the office sees at a glance who has not filed. `teacher_coverage` counts the
    assigned teachers holding a certified, still valid trainer certificate for the pilot's
    certificate at or above its level (a student reading their pilot sees the figures, not the
    names of the teachers without one); `evaluator_coverage` the same for the teachers assigned
    as evaluators and their 考评员 qualifications; `trained_students` those who completed a
    batch."""
    detail = reports.application_detail(
        session, principal, application_id, school_today(settings.timezone)
    )
    set_etag(response, detail.version)
    return detail
