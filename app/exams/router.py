"""HTTP for exam sessions, registrations, results, issued certificates and their public
verification."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response, status

from app.core.auth import CurrentPrincipal, Today, writers
from app.core.db import SessionDep
from app.core.errors import problem_responses
from app.core.export import (
    EXPORT_RESPONSES,
    ExportFormat,
    FormatQuery,
)
from app.core.i18n import N_
from app.core.listing import ListDep
from app.core.pagination import Page
from app.core.params import DbId
from app.core.reports import grouped_columns, report_filename, report_response
from app.core.roles import OFFICE
from app.core.routes import Routes, domain_router
from app.core.versions import set_etag
from app.exams import models, reports, service

sessions_router = domain_router("/exam-sessions", "exams")
registrations_router = domain_router("/registrations", "exams")
certificates_router = domain_router("/issued-certificates", "certificates")
public_router = APIRouter(prefix="/public", tags=["public"])
funnel_router = domain_router("/reports", "reports")

ACTION_RESPONSES = problem_responses(404, 409)
WRITE_RESPONSES = problem_responses(404, 409, 412)


# --- sessions --------------------------------------------------------------------------------


@sessions_router.get(
    "",
    response_model=Page[models.ExamSessionPublic],
    responses=EXPORT_RESPONSES,
    summary="考核场次列表",
)
def exam_sessions_list(
    session: SessionDep,
    principal: CurrentPrincipal,
    filters: Annotated[models.ExamSessionFilters, Query()],
    params: ListDep,
    today: Today,
) -> Any:
    """Exam sessions, latest exam first, with the live registrations and the status by today's
    date in the school's time zone. An evaluation organisation sees its own."""
    return service.sessions(today).respond(session, principal, filters, params)


exam_sessions = Routes(
    sessions_router,
    models.ExamSessionPublic,
    id_name="session_id",
    read=service.get_session,
    context={"today": Today},
    noun="考核场次",
    writers=OFFICE,
)
exam_sessions.create(
    models.ExamSessionCreate,
    service.create_session,
    """Schedule a session for an approved pilot (academic office); the certificate, level and
    evaluation organisation are the pilot's. The window must open ≤ close ≤ the exam date.""",
)
exam_sessions.get(
    """One session with its live registrations and status by today's date; readers as the
    list (an evaluation organisation its own; 404 outside the caller's scope)."""
)
exam_sessions.update(
    models.ExamSessionUpdate,
    service.update_session,
    """Change a session (academic office, `If-Match`); capacity never drops below the live
    registrations.""",
)


@sessions_router.post(
    "/{session_id}/registrations",
    response_model=models.RegistrationPublic,
    status_code=status.HTTP_201_CREATED,
    responses=ACTION_RESPONSES,
    summary="考核报名",
    **writers(service.REGISTRARS),
)
def exam_sessions_registrations_create(
    session: SessionDep,
    principal: CurrentPrincipal,
    session_id: DbId,
    data: models.RegistrationCreate,
    response: Response,
    today: Today,
) -> models.RegistrationPublic:
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
    return service.REGISTRATIONS.one(session, principal, registration.id)


# --- registrations -----------------------------------------------------------------------------


registrations = Routes(
    registrations_router,
    models.RegistrationPublic,
    id_name="registration_id",
    read=service.REGISTRATIONS.one,
    noun="考核报名",
    writers=service.ORG_OR_OFFICE,
)
registrations.list(
    service.REGISTRATIONS,
    """Registrations with their results, by session. A college manager sees their college's
    students, a student their own, an evaluation organisation its sessions'.""",
)
registrations.get(
    """One registration with its result; readers as the list (a college manager their
    college's students, a student their own, an evaluation organisation its sessions'; 404
    otherwise)."""
)
registrations.action(
    "cancel",
    service.cancel,
    """registered → cancelled, by the student or their college (or the office), only while
    the registration window is open. The seat and the headcount place are freed.""",
    extra={"today": Today},
    summary="取消报名",
    roles=service.REGISTRARS,
)
registrations.action(
    "absent",
    service.mark_absent,
    """registered → absent (缺考), by the academic office or the session's organisation, from
    the exam date on (409 `invalid_state` before it).""",
    extra={"today": Today},
    summary="登记缺考",
)


@registrations_router.put(
    "/{registration_id}/result",
    response_model=models.ResultPublic,
    responses=ACTION_RESPONSES,
    summary="录入或更正成绩",
    **writers(service.ORG_OR_OFFICE),
)
def registrations_result_put(
    session: SessionDep,
    principal: CurrentPrincipal,
    registration_id: DbId,
    data: models.ResultPut,
    response: Response,
    today: Today,
) -> models.ResultPublic:
    """Record or correct the result (scores 0–100, passed) of a registration that was not
    cancelled or absent, from the exam date on (409 `invalid_state` before it); it becomes
    `sat`. The academic office or the session's own
    organisation; the audit trail keeps the old and new values. A pass becomes a fail only
    without a valid certificate (409 `certificate_issued`: revoke it first) and without a
    standing pass subsidy (409 `subsidy_paid`: reverse the payment first)."""
    result = service.put_result(session, principal, registration_id, data, today)
    set_etag(response, result.version)
    return models.ResultPublic.model_validate(result.model_dump())


# --- issued certificates -----------------------------------------------------------------------


issued_certificates = Routes(
    certificates_router,
    models.IssuedCertificatePublic,
    id_name="certificate_id",
    read=service.CERTIFICATES.one,
    noun="已发证书",
    writers=service.ORG_OR_OFFICE,
)
issued_certificates.list(
    service.CERTIFICATES,
    """Issued certificate numbers, newest first. A student sees their own, a college manager
    their college's students', an evaluation organisation those of its sessions.""",
)
issued_certificates.get(
    """One issued certificate; readers as the list (a student their own, a college manager
    their college's students', an evaluation organisation its sessions'; 404 otherwise)."""
)
issued_certificates.action(
    "revoke",
    lambda session, principal, certificate_id, data, today: service.revoke(
        session, principal, certificate_id, data.reason, today
    ),
    """valid → revoked with a reason (academic office or the issuing organisation); the public
    look-up then answers `revoked`. In the same transaction the credit bank reverses every
    credit converted from the certificate and rejects its requests still waiting for review,
    with the revocation's reason.""",
    body=models.RevokeBody,
    extra={"today": Today},
    summary="吊销证书",
)


# --- public verification -----------------------------------------------------------------------


def _client_key(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@public_router.get(
    "/certificates/{number}",
    response_model=models.PublicCertificate,
    responses=problem_responses(404, 422, 429),
    summary="证书查验（无需登录）",
)
def public_certificates_get(
    session: SessionDep,
    request: Request,
    number: Annotated[str, Path(min_length=1, max_length=64, description="证书编号")],
) -> models.PublicCertificate:
    """Verify a certificate number, with no credential: the holder's masked name, the
    certificate, level, organisation, issue date and `valid` or `revoked`. An unknown number
    answers 404 and reveals nothing. More than 60 look-ups a minute from one client answer
    429."""
    service.count_public_lookup(session, _client_key(request))
    return service.public_certificate(session, number.strip())


# --- the funnel --------------------------------------------------------------------------------


@funnel_router.get(
    "/funnel", response_model=models.FunnelReport, responses=EXPORT_RESPONSES, summary="考核漏斗"
)
def reports_funnel(
    session: SessionDep,
    principal: CurrentPrincipal,
    year: Annotated[int | None, Query(ge=2000, le=2100, description="Pilot year")] = None,
    group_by: models.FunnelGroupBy = models.FunnelGroupBy.application,
    format: FormatQuery = ExportFormat.json,
) -> Any:
    """Declared headcount → trained → registered → sat → passed → certified, with the pass
    rate (passed ÷ sat), per group and overall, for approved and closed pilots. Counts are
    candidates (a student in a pilot); `trained` counts those enrolled in one of the pilot's
    student training batches (0 before any is recorded). Academic office, auditors and
    admins; a college manager sees the pilots with a major of their college and their
    college's candidates."""
    report = reports.funnel(session, principal, year=year, group_by=group_by)
    return report_response(
        report,
        format,
        [*report.rows, report.total],
        grouped_columns(reports.FUNNEL_GROUPS, group_by, reports.FUNNEL_COLUMNS),
        report_filename("funnel", year, group_by),
        title=N_("Certification funnel"),
        filters={N_("Year"): year, N_("Group by"): group_by},
        totals=1,
    )
