"""HTTP for teacher trainings, student training batches with their enrolments, and the
teacher-coverage report."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from app.applications.models import MAX_YEAR, MIN_YEAR, ApplicationStatus
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
from app.core.params import MAX_DB_ID, DbId
from app.core.types import school_today
from app.core.versions import IfMatch, set_created, set_etag
from app.reference.models import Level
from app.trainings import service
from app.trainings.models import (
    BatchCreate,
    BatchPublic,
    BatchUpdate,
    CertifyBody,
    EnrollmentCreate,
    EnrollmentPublic,
    EnrollmentUpdate,
    TeacherCoverageReport,
    TrainingCreate,
    TrainingPublic,
    TrainingStatus,
    TrainingUpdate,
)

trainings_router = APIRouter(
    prefix="/teacher-trainings",
    tags=["teacher-trainings"],
    responses=problem_responses(401, 403, 422),
)
batches_router = APIRouter(
    prefix="/training-batches",
    tags=["training-batches"],
    responses=problem_responses(401, 403, 422),
)
coverage_router = APIRouter(
    prefix="/reports", tags=["reports"], responses=problem_responses(401, 403, 422)
)

FilterId = Annotated[int | None, Query(ge=1, le=MAX_DB_ID)]
YearQuery = Annotated[int | None, Query(ge=MIN_YEAR, le=MAX_YEAR, description="Pilot year")]
GET_RESPONSES = problem_responses(404)
CREATE_RESPONSES = problem_responses(409)
WRITE_RESPONSES = problem_responses(404, 409, 412)
ACTION_RESPONSES = problem_responses(404, 409)


# --- teacher trainings -----------------------------------------------------------------------

TRAINING_COLUMNS = [
    ExportColumn("staff_no", "工号"),
    ExportColumn("teacher_name", "姓名"),
    ExportColumn("certificate_name", "证书名称"),
    ExportColumn("level", "级别"),
    ExportColumn("provider", "培训机构"),
    ExportColumn("start_date", "开始日期"),
    ExportColumn("end_date", "结束日期"),
    ExportColumn("hours", "学时"),
    ExportColumn("status", "状态"),
    ExportColumn("trainer_certificate_no", "师资培训证书编号"),
    ExportColumn("evaluator_qualification_no", "考评员证书编号"),
    ExportColumn("valid_until", "有效期至"),
]


@trainings_router.get("", response_model=Page[TrainingPublic], responses=EXPORT_RESPONSES)
def teacher_trainings_list(
    session: SessionDep,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    page: PageDep,
    teacher_id: FilterId = None,
    certificate_id: FilterId = None,
    college_id: Annotated[
        int | None, Query(ge=1, le=MAX_DB_ID, description="Trainings of this college's teachers")
    ] = None,
    level: Level | None = None,
    status: TrainingStatus | None = None,
    format: FormatQuery = ExportFormat.json,
) -> Any:
    """Teacher trainings by staff number and start date. A teacher sees their own; a college
    manager their college's teachers'; an evaluation organisation those for its certificates;
    the office, auditors and admins all."""
    filters: dict[str, Any] = {
        "teacher_id": teacher_id,
        "certificate_id": certificate_id,
        "college_id": college_id,
        "level": level,
        "status": status,
    }
    today = school_today(settings.timezone)
    if format != ExportFormat.json:
        rows = service.trainings_for_export(session, principal, **filters)
        items = [service.training_public(row, today) for row in rows]
        return export_response(items, TRAINING_COLUMNS, format, "teacher-trainings")
    return service.list_trainings(session, principal, page, today, **filters)


@trainings_router.post(
    "",
    response_model=TrainingPublic,
    status_code=status.HTTP_201_CREATED,
    responses=CREATE_RESPONSES,
)
def teacher_trainings_create(
    session: SessionDep,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    data: TrainingCreate,
    response: Response,
) -> TrainingPublic:
    """Record a planned training. The office records any teacher's; a college manager their
    college's teachers'; a teacher their own."""
    training = service.create_training(session, principal, data)
    set_created(response, "teacher-trainings", training.id, training.version)
    assert training.id is not None
    return service.get_training(session, principal, training.id, school_today(settings.timezone))


@trainings_router.get("/{training_id}", response_model=TrainingPublic, responses=GET_RESPONSES)
def teacher_trainings_get(
    session: SessionDep,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    training_id: DbId,
    response: Response,
) -> TrainingPublic:
    """One teacher training with `valid_today` and the actions its state allows; its version
    as the ETag. 404 when it does not exist or is not yours to read."""
    training = service.get_training(
        session, principal, training_id, school_today(settings.timezone)
    )
    set_etag(response, training.version)
    return training


@trainings_router.patch("/{training_id}", response_model=TrainingPublic, responses=WRITE_RESPONSES)
def teacher_trainings_update(
    session: SessionDep,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    training_id: DbId,
    data: TrainingUpdate,
    if_match: IfMatch,
    response: Response,
) -> TrainingPublic:
    """Change a training (`If-Match`). Planned and in-progress trainings change any field; a
    certified one only its certificate numbers, `valid_until` and notes; a failed one only its
    notes (409 `invalid_state` otherwise). A teacher changes their own planned or in-progress
    training but never the certificate fields (403)."""
    training = service.update_training(session, principal, training_id, data, if_match)
    set_etag(response, training.version)
    return service.get_training(session, principal, training_id, school_today(settings.timezone))


@trainings_router.delete(
    "/{training_id}", status_code=status.HTTP_204_NO_CONTENT, responses=ACTION_RESPONSES
)
def teacher_trainings_delete(
    session: SessionDep, principal: CurrentPrincipal, training_id: DbId
) -> None:
    """Delete a planned training."""
    service.delete_training(session, principal, training_id)


def _act(
    session: SessionDep,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    training_id: int,
    action: str,
    response: Response,
    certify: CertifyBody | None = None,
) -> TrainingPublic:
    today = school_today(settings.timezone)
    training = service.transition_training(session, principal, training_id, action, today, certify)
    set_etag(response, training.version)
    return service.get_training(session, principal, training_id, today)


@trainings_router.post(
    "/{training_id}/start", response_model=TrainingPublic, responses=ACTION_RESPONSES
)
def teacher_trainings_start(
    session: SessionDep,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    training_id: DbId,
    response: Response,
) -> TrainingPublic:
    """planned → in_progress."""
    return _act(session, principal, settings, training_id, "start", response)


@trainings_router.post(
    "/{training_id}/certify", response_model=TrainingPublic, responses=ACTION_RESPONSES
)
def teacher_trainings_certify(
    session: SessionDep,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    training_id: DbId,
    data: CertifyBody,
    response: Response,
) -> TrainingPublic:
    """in_progress → certified with the trainer certificate number (unique: 409 naming its
    holder otherwise), an optional 考评员 number and `valid_until`; `certified_on` (default
    today) lies between the training's start and today. Only the office or the teacher's
    college manager certifies."""
    return _act(session, principal, settings, training_id, "certify", response, data)


@trainings_router.post(
    "/{training_id}/fail", response_model=TrainingPublic, responses=ACTION_RESPONSES
)
def teacher_trainings_fail(
    session: SessionDep,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    training_id: DbId,
    response: Response,
) -> TrainingPublic:
    """in_progress → failed (no certificate). Only the office or the teacher's college
    manager records the outcome."""
    return _act(session, principal, settings, training_id, "fail", response)


# --- training batches ------------------------------------------------------------------------

BATCH_COLUMNS = [
    ExportColumn("id", "序号"),
    ExportColumn("year", "年度"),
    ExportColumn("certificate_name", "证书名称"),
    ExportColumn("level", "级别"),
    ExportColumn("title", "培训名称"),
    ExportColumn("hours", "学时"),
    ExportColumn("start_date", "开始日期"),
    ExportColumn("end_date", "结束日期"),
    ExportColumn("instructor_names", "授课教师"),
    ExportColumn("enrolled", "参训人数"),
    ExportColumn("completed", "结业人数"),
]


@batches_router.get("", response_model=Page[BatchPublic], responses=EXPORT_RESPONSES)
def training_batches_list(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    application_id: FilterId = None,
    year: YearQuery = None,
    certificate_id: FilterId = None,
    instructor_id: Annotated[
        int | None, Query(ge=1, le=MAX_DB_ID, description="Batches this teacher teaches")
    ] = None,
    format: FormatQuery = ExportFormat.json,
) -> Any:
    """Student training batches by start date, over the pilots you can read, with their
    instructors and how many students are enrolled and have completed."""
    filters: dict[str, Any] = {
        "application_id": application_id,
        "year": year,
        "certificate_id": certificate_id,
        "instructor_id": instructor_id,
    }
    if format != ExportFormat.json:
        rows = service.batches_for_export(session, principal, **filters)
        items = [
            {**b.__dict__, "instructor_names": [i.name for i in b.instructors]}
            for b in service.batch_publics(session, rows)
        ]
        return export_response(items, BATCH_COLUMNS, format, "training-batches")
    return service.list_batches(session, principal, page, **filters)


@batches_router.post(
    "",
    response_model=BatchPublic,
    status_code=status.HTTP_201_CREATED,
    responses=CREATE_RESPONSES,
)
def training_batches_create(
    session: SessionDep, principal: CurrentPrincipal, data: BatchCreate, response: Response
) -> BatchPublic:
    """Start a student training batch for an approved application (the office, or the
    college manager of one of its majors)."""
    batch = service.create_batch(session, principal, data)
    set_created(response, "training-batches", batch.id, batch.version)
    assert batch.id is not None
    return service.get_batch(session, principal, batch.id)


@batches_router.get("/{batch_id}", response_model=BatchPublic, responses=GET_RESPONSES)
def training_batches_get(
    session: SessionDep, principal: CurrentPrincipal, batch_id: DbId, response: Response
) -> BatchPublic:
    """One batch with its instructors and enrolment counts; its version as the ETag. 404 when
    it does not exist or its pilot is not yours to read."""
    batch = service.get_batch(session, principal, batch_id)
    set_etag(response, batch.version)
    return batch


@batches_router.patch("/{batch_id}", response_model=BatchPublic, responses=WRITE_RESPONSES)
def training_batches_update(
    session: SessionDep,
    principal: CurrentPrincipal,
    batch_id: DbId,
    data: BatchUpdate,
    if_match: IfMatch,
    response: Response,
) -> BatchPublic:
    """Change a batch (`If-Match`); `instructor_ids` replaces the list; its hours never go
    below what an enrolled student has attended (409)."""
    batch = service.update_batch(session, principal, batch_id, data, if_match)
    set_etag(response, batch.version)
    return service.get_batch(session, principal, batch_id)


@batches_router.delete(
    "/{batch_id}", status_code=status.HTTP_204_NO_CONTENT, responses=ACTION_RESPONSES
)
def training_batches_delete(
    session: SessionDep, principal: CurrentPrincipal, batch_id: DbId
) -> None:
    """Delete a batch that has no enrolments (409 otherwise)."""
    service.delete_batch(session, principal, batch_id)


ENROLLMENT_COLUMNS = [
    ExportColumn("student_no", "学号"),
    ExportColumn("student_name", "姓名"),
    ExportColumn("cohort", "年级"),
    ExportColumn("attended_hours", "出勤学时"),
    ExportColumn("completed", "结业"),
]


@batches_router.get(
    "/{batch_id}/enrollments",
    response_model=Page[EnrollmentPublic],
    responses={**GET_RESPONSES, **EXPORT_RESPONSES},
)
def training_batches_enrollments_list(
    session: SessionDep,
    principal: CurrentPrincipal,
    batch_id: DbId,
    page: PageDep,
    completed: bool | None = None,
    format: FormatQuery = ExportFormat.json,
) -> Any:
    """The batch's students by student number, with hours attended and completion. A student
    sees only their own enrolment."""
    if format != ExportFormat.json:
        rows = service.enrollments_for_export(session, principal, batch_id, completed)
        items = [service.enrollment_public(row) for row in rows]
        return export_response(items, ENROLLMENT_COLUMNS, format, f"batch-{batch_id}-enrollments")
    return service.list_enrollments(session, principal, batch_id, page, completed)


@batches_router.post(
    "/{batch_id}/enrollments",
    response_model=EnrollmentPublic,
    status_code=status.HTTP_201_CREATED,
    responses=ACTION_RESPONSES,
)
def training_batches_enrollments_add(
    session: SessionDep,
    principal: CurrentPrincipal,
    batch_id: DbId,
    data: EnrollmentCreate,
    response: Response,
) -> EnrollmentPublic:
    """Enrol a student of the pilot's majors and cohorts (422 `not_eligible` naming why
    otherwise); attended hours at most the batch's."""
    enrollment = service.add_enrollment(session, principal, batch_id, data)
    set_etag(response, enrollment.version)
    assert enrollment.id is not None
    return service.get_enrollment(session, principal, batch_id, enrollment.id)


@batches_router.patch(
    "/{batch_id}/enrollments/{enrollment_id}",
    response_model=EnrollmentPublic,
    responses=WRITE_RESPONSES,
)
def training_batches_enrollments_update(
    session: SessionDep,
    principal: CurrentPrincipal,
    batch_id: DbId,
    enrollment_id: DbId,
    data: EnrollmentUpdate,
    if_match: IfMatch,
    response: Response,
) -> EnrollmentPublic:
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
)
def training_batches_enrollments_remove(
    session: SessionDep, principal: CurrentPrincipal, batch_id: DbId, enrollment_id: DbId
) -> None:
    """Take a student out of the batch."""
    service.remove_enrollment(session, principal, batch_id, enrollment_id)


# --- coverage report -------------------------------------------------------------------------

COVERAGE_COLUMNS = [
    ExportColumn("scope", "范围"),
    ExportColumn("application_id", "申报序号"),
    ExportColumn("label", "名称"),
    ExportColumn("level", "级别"),
    ExportColumn("assigned", "试点教师数"),
    ExportColumn("certified", "持证教师数"),
    ExportColumn("coverage_percent", "覆盖率%"),
    ExportColumn("below_target", "未达100%"),
    ExportColumn("missing", "未持证教师"),
]


def _coverage_items(report: TeacherCoverageReport) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = [
        {
            **pilot.model_dump(),
            "scope": "试点",
            "label": f"{pilot.year} {pilot.certificate_name}",
        }
        for pilot in report.pilots
    ]
    items += [
        {**college.model_dump(), "scope": "二级学院", "label": college.college_name}
        for college in report.colleges
    ]
    items.append({**report.overall.model_dump(), "scope": "合计", "label": "全部试点"})
    return items


@coverage_router.get(
    "/teacher-coverage", response_model=TeacherCoverageReport, responses=EXPORT_RESPONSES
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
    format: FormatQuery = ExportFormat.json,
) -> Any:
    """师资培训覆盖率: per pilot the assigned teachers, those holding a certified and still
    valid training for its certificate at or above its level, the percentage and who is
    missing (`below_target` flags a pilot under 100 %); per teachers' college and overall.
    For the office, auditors, admins and college managers (their college's pilots)."""
    report = service.coverage_report(
        session,
        principal,
        today=school_today(settings.timezone),
        year=year,
        status=status,
        certificate_id=certificate_id,
    )
    if format != ExportFormat.json:
        name = "teacher-coverage" + (f"-{year}" if year else "")
        return export_response(_coverage_items(report), COVERAGE_COLUMNS, format, name)
    return report
