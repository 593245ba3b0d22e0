"""HTTP for exam sessions, registrations, results, issued certificates and their public
verification."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response, status

from app.core.auth import CurrentPrincipal, Today
from app.core.db import SessionDep
from app.core.errors import problem_responses
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
from app.core.versions import IfMatch, set_etag
from app.exams import reports, service
from app.exams.models import (
    ExamSessionCreate,
    ExamSessionFilters,
    ExamSessionPublic,
    ExamSessionUpdate,
    FunnelGroupBy,
    FunnelReport,
    IssuedCertificateFilters,
    IssuedCertificatePublic,
    PublicCertificate,
    RegistrationCreate,
    RegistrationFilters,
    RegistrationPublic,
    ResultPublic,
    ResultPut,
    RevokeBody,
)

sessions_router = APIRouter(
    prefix="/exam-sessions", tags=["exams"], responses=problem_responses(401, 403, 422)
)
registrations_router = APIRouter(
    prefix="/registrations", tags=["exams"], responses=problem_responses(401, 403, 422)
)
certificates_router = APIRouter(
    prefix="/issued-certificates", tags=["certificates"], responses=problem_responses(401, 403, 422)
)
public_router = APIRouter(prefix="/public", tags=["public"])
funnel_router = APIRouter(
    prefix="/reports", tags=["reports"], responses=problem_responses(401, 403, 422)
)

ACTION_RESPONSES = problem_responses(404, 409)
WRITE_RESPONSES = problem_responses(404, 409, 412)


# --- sessions --------------------------------------------------------------------------------


@sessions_router.get("", response_model=Page[ExamSessionPublic], responses=EXPORT_RESPONSES)
def exam_sessions_list(
    session: SessionDep,
    principal: CurrentPrincipal,
    filters: Annotated[ExamSessionFilters, Query()],
    params: ListDep,
    today: Today,
) -> Any:
    """Exam sessions, latest exam first, with the live registrations and the status by today's
    date in the school's time zone. An evaluation organisation sees its own."""
    return service.sessions(today).respond(session, principal, filters, params)


@sessions_router.post(
    "",
    response_model=ExamSessionPublic,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(409),
)
def exam_sessions_create(
    session: SessionDep,
    principal: CurrentPrincipal,
    data: ExamSessionCreate,
    response: Response,
    today: Today,
) -> ExamSessionPublic:
    """Schedule a session for an approved pilot (academic office); the certificate, level and
    evaluation organisation are the pilot's. The window must open ≤ close ≤ the exam date."""
    exam = service.create_session(session, principal, data)
    assert exam.id is not None
    set_etag(response, exam.version)
    response.headers["Location"] = f"/api/v1/exam-sessions/{exam.id}"
    return service.get_session(session, principal, exam.id, today)


@sessions_router.get(
    "/{session_id}", response_model=ExamSessionPublic, responses=problem_responses(404)
)
def exam_sessions_get(
    session: SessionDep,
    principal: CurrentPrincipal,
    session_id: DbId,
    response: Response,
    today: Today,
) -> ExamSessionPublic:
    exam = service.get_session(session, principal, session_id, today)
    set_etag(response, exam.version)
    return exam


@sessions_router.patch("/{session_id}", response_model=ExamSessionPublic, responses=WRITE_RESPONSES)
def exam_sessions_update(
    session: SessionDep,
    principal: CurrentPrincipal,
    session_id: DbId,
    data: ExamSessionUpdate,
    if_match: IfMatch,
    response: Response,
    today: Today,
) -> ExamSessionPublic:
    """Change a session (academic office, `If-Match`); capacity never drops below the live
    registrations."""
    exam = service.update_session(session, principal, session_id, data, if_match)
    set_etag(response, exam.version)
    return service.get_session(session, principal, session_id, today)


@sessions_router.post(
    "/{session_id}/registrations",
    response_model=RegistrationPublic,
    status_code=status.HTTP_201_CREATED,
    responses=ACTION_RESPONSES,
)
def exam_sessions_registrations_create(
    session: SessionDep,
    principal: CurrentPrincipal,
    session_id: DbId,
    data: RegistrationCreate,
    response: Response,
    today: Today,
) -> RegistrationPublic:
    """Register a student: the academic office anyone, a college manager students of their
    college, a student themself; any other student is answered as a missing one (422), so
    a refusal never names a student the caller may not read. Refused (409, naming what is
    missing) unless the window is
    open, the pilot covers the student's major and cohort, a seat is free, the pilot's
    headcount is not reached and the student has no live registration here."""
    registration = service.register(session, principal, session_id, data.student_id, today)
    assert registration.id is not None
    set_etag(response, registration.version)
    response.headers["Location"] = f"/api/v1/registrations/{registration.id}"
    return service.get_registration(session, principal, registration.id)


# --- registrations -----------------------------------------------------------------------------


@registrations_router.get("", response_model=Page[RegistrationPublic], responses=EXPORT_RESPONSES)
def registrations_list(
    session: SessionDep,
    principal: CurrentPrincipal,
    filters: Annotated[RegistrationFilters, Query()],
    params: ListDep,
) -> Any:
    """Registrations with their results, by session. A college manager sees their college's
    students, a student their own, an evaluation organisation its sessions'."""
    return service.REGISTRATIONS.respond(session, principal, filters, params)


@registrations_router.get(
    "/{registration_id}", response_model=RegistrationPublic, responses=problem_responses(404)
)
def registrations_get(
    session: SessionDep, principal: CurrentPrincipal, registration_id: DbId, response: Response
) -> RegistrationPublic:
    registration = service.get_registration(session, principal, registration_id)
    set_etag(response, registration.version)
    return registration


@registrations_router.post(
    "/{registration_id}/cancel", response_model=RegistrationPublic, responses=ACTION_RESPONSES
)
def registrations_cancel(
    session: SessionDep,
    principal: CurrentPrincipal,
    registration_id: DbId,
    response: Response,
    today: Today,
) -> RegistrationPublic:
    """registered → cancelled, by the student or their college (or the office), only while
    the registration window is open. The seat and the headcount place are freed."""
    registration = service.cancel(session, principal, registration_id, today)
    set_etag(response, registration.version)
    return service.get_registration(session, principal, registration_id)


@registrations_router.post(
    "/{registration_id}/absent", response_model=RegistrationPublic, responses=ACTION_RESPONSES
)
def registrations_absent(
    session: SessionDep,
    principal: CurrentPrincipal,
    registration_id: DbId,
    response: Response,
    today: Today,
) -> RegistrationPublic:
    """registered → absent (缺考), by the academic office or the session's organisation, from
    the exam date on (409 `invalid_state` before it)."""
    registration = service.mark_absent(session, principal, registration_id, today)
    set_etag(response, registration.version)
    return service.get_registration(session, principal, registration_id)


@registrations_router.put(
    "/{registration_id}/result", response_model=ResultPublic, responses=ACTION_RESPONSES
)
def registrations_result_put(
    session: SessionDep,
    principal: CurrentPrincipal,
    registration_id: DbId,
    data: ResultPut,
    response: Response,
    today: Today,
) -> ResultPublic:
    """Record or correct the result (scores 0–100, passed) of a registration that was not
    cancelled or absent, from the exam date on (409 `invalid_state` before it); it becomes
    `sat`. The academic office or the session's own
    organisation; the audit trail keeps the old and new values. A pass becomes a fail only
    without a valid certificate (409 `certificate_issued`: revoke it first) and without a
    standing pass subsidy (409 `subsidy_paid`: reverse the payment first)."""
    result = service.put_result(session, principal, registration_id, data, today)
    set_etag(response, result.version)
    return ResultPublic.model_validate(result.model_dump())


# --- issued certificates -----------------------------------------------------------------------


@certificates_router.get(
    "", response_model=Page[IssuedCertificatePublic], responses=EXPORT_RESPONSES
)
def issued_certificates_list(
    session: SessionDep,
    principal: CurrentPrincipal,
    filters: Annotated[IssuedCertificateFilters, Query()],
    params: ListDep,
) -> Any:
    """Issued certificate numbers, newest first. A student sees their own, a college manager
    their college's students', an evaluation organisation those of its sessions."""
    return service.CERTIFICATES.respond(session, principal, filters, params)


@certificates_router.get(
    "/{certificate_id}", response_model=IssuedCertificatePublic, responses=problem_responses(404)
)
def issued_certificates_get(
    session: SessionDep, principal: CurrentPrincipal, certificate_id: DbId, response: Response
) -> IssuedCertificatePublic:
    issued = service.get_certificate(session, principal, certificate_id)
    set_etag(response, issued.version)
    return issued


@certificates_router.post(
    "/{certificate_id}/revoke",
    response_model=IssuedCertificatePublic,
    responses=ACTION_RESPONSES,
)
def issued_certificates_revoke(
    session: SessionDep,
    principal: CurrentPrincipal,
    certificate_id: DbId,
    data: RevokeBody,
    response: Response,
    today: Today,
) -> IssuedCertificatePublic:
    """valid → revoked with a reason (academic office or the issuing organisation); the public
    look-up then answers `revoked`. In the same transaction the credit bank reverses every
    credit converted from the certificate and rejects its requests still waiting for review,
    with the revocation's reason."""
    issued = service.revoke(session, principal, certificate_id, data.reason, today)
    set_etag(response, issued.version)
    return service.get_certificate(session, principal, certificate_id)


# --- public verification -----------------------------------------------------------------------


def _client_key(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@public_router.get(
    "/certificates/{number}",
    response_model=PublicCertificate,
    responses=problem_responses(404, 422, 429),
)
def public_certificates_get(
    session: SessionDep,
    request: Request,
    number: Annotated[str, Path(min_length=1, max_length=64, description="证书编号")],
) -> PublicCertificate:
    """Verify a certificate number, with no credential: the holder's masked name, the
    certificate, level, organisation, issue date and `valid` or `revoked`. An unknown number
    answers 404 and reveals nothing. More than 60 look-ups a minute from one client answer
    429."""
    service.count_public_lookup(session, _client_key(request))
    return service.public_certificate(session, number.strip())


# --- the funnel --------------------------------------------------------------------------------

FUNNEL_HEADERS = {
    FunnelGroupBy.application: "试点项目",
    FunnelGroupBy.certificate: "证书名称",
    FunnelGroupBy.major: "专业",
    FunnelGroupBy.cohort: "年级",
    FunnelGroupBy.college: "二级学院",
}


def _funnel_columns(group_by: FunnelGroupBy) -> list[ExportColumn]:
    return [
        ExportColumn("label", FUNNEL_HEADERS[group_by]),
        ExportColumn("headcount", "申报人数"),
        ExportColumn("trained", "已培训"),
        ExportColumn("registered", "已报名"),
        ExportColumn("sat", "实考"),
        ExportColumn("passed", "通过"),
        ExportColumn("certified", "已发证"),
        ExportColumn("pass_rate", "通过率"),
    ]


@funnel_router.get("/funnel", response_model=FunnelReport, responses=EXPORT_RESPONSES)
def reports_funnel(
    session: SessionDep,
    principal: CurrentPrincipal,
    year: Annotated[int | None, Query(ge=2000, le=2100, description="Pilot year")] = None,
    group_by: FunnelGroupBy = FunnelGroupBy.application,
    format: FormatQuery = ExportFormat.json,
) -> Any:
    """Declared headcount → trained → registered → sat → passed → certified, with the pass
    rate (passed ÷ sat), per group and overall, for approved and closed pilots. Counts are
    candidates (a student in a pilot); `trained` counts those enrolled in one of the pilot's
    student training batches (0 before any is recorded). Academic office, auditors and
    admins; a college manager sees the pilots with a major of their college and their
    college's candidates."""
    report = reports.funnel(session, principal, year=year, group_by=group_by)
    if format != ExportFormat.json:
        items = [row.model_dump() for row in [*report.rows, report.total]]
        name = f"funnel-by-{group_by.value}" + (f"-{year}" if year else "")
        return export_response(items, _funnel_columns(group_by), format, name)
    return report
