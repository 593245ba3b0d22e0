"""HTTP for the credit bank: conversion rules, conversion requests and their review, students'
options and ledgers, credit reversals and the registry report."""

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

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
from app.core.pagination import Page, PageDep
from app.core.params import MAX_DB_ID, DbId
from app.core.versions import IfMatch, set_created, set_etag
from app.credits import service
from app.credits.models import (
    BulkApproveBody,
    BulkApproveResult,
    ConversionMode,
    ConversionOptions,
    ConversionReport,
    CreditKind,
    CreditRecordPublic,
    Ledger,
    RejectBody,
    RequestCreate,
    RequestPublic,
    RequestStatus,
    ReverseBody,
    RuleCreate,
    RulePublic,
    RuleUpdate,
)
from app.exams.models import CertificateStatus

rules_router = APIRouter(
    prefix="/credit-rules", tags=["credit-bank"], responses=problem_responses(401, 403, 422)
)
requests_router = APIRouter(
    prefix="/conversion-requests",
    tags=["credit-bank"],
    responses=problem_responses(401, 403, 422),
)
students_router = APIRouter(
    prefix="/students", tags=["credit-bank"], responses=problem_responses(401, 403, 422)
)
records_router = APIRouter(
    prefix="/credit-records", tags=["credit-bank"], responses=problem_responses(401, 403, 422)
)
report_router = APIRouter(
    prefix="/reports", tags=["reports"], responses=problem_responses(401, 403, 422)
)

FilterId = Annotated[int | None, Query(ge=1, le=MAX_DB_ID)]
ACTION_RESPONSES = problem_responses(404, 409)
WRITE_RESPONSES = problem_responses(404, 409, 412)


# --- rules -----------------------------------------------------------------------------------

RULE_COLUMNS = [
    ExportColumn("id", "规则ID"),
    ExportColumn("certificate_name", "证书名称"),
    ExportColumn("min_level", "最低级别"),
    ExportColumn("course_code", "课程代码"),
    ExportColumn("course_name", "课程名称"),
    ExportColumn("credits", "学分"),
    ExportColumn("mode", "转换方式"),
    ExportColumn("major_names", "适用专业"),
    ExportColumn("effective_from", "生效日期"),
    ExportColumn("effective_to", "失效日期"),
    ExportColumn("notes", "备注"),
]


@rules_router.get("", response_model=Page[RulePublic], responses=EXPORT_RESPONSES)
def credit_rules_list(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    certificate_id: FilterId = None,
    course_id: FilterId = None,
    major_id: Annotated[
        int | None, Query(ge=1, le=MAX_DB_ID, description="Rules that apply to this major")
    ] = None,
    on: Annotated[
        date | None,
        Query(
            ge=date(2000, 1, 1),
            le=date(2100, 12, 31),
            description="Rules in force on this date (both bounds included)",
        ),
    ] = None,
    mode: ConversionMode | None = None,
    format: FormatQuery = ExportFormat.json,
) -> Any:
    """Conversion rules (学分转换规则), by certificate and course code; every version of a
    changed rule is listed (`replaces_id` / `superseded_by_id`). Everyone logged in reads
    them. The CSV/XLSX export has the headers of the `credit-rules` upload."""
    filters: dict[str, Any] = {
        "certificate_id": certificate_id,
        "course_id": course_id,
        "major_id": major_id,
        "on": on,
        "mode": mode,
    }
    if format != ExportFormat.json:
        items = [
            {**rule.__dict__, "major_names": [m.name for m in rule.majors]}
            for rule in service.export_rules(session, **filters)
        ]
        return export_response(items, RULE_COLUMNS, format, "credit-rules")
    return service.list_rules(session, page, **filters)


@rules_router.post(
    "",
    response_model=RulePublic,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(409),
)
def credit_rules_create(
    session: SessionDep, principal: CurrentPrincipal, data: RuleCreate, response: Response
) -> RulePublic:
    """A rule (academic office): a certificate at or above `min_level` gives `credits` for a
    course by 免修 or 替换, for the listed majors, from `effective_from` to `effective_to`
    (empty: open). A second rule for the same certificate and course in an overlapping
    period is 409 `duplicate` with `existing_id`."""
    rule = service.create_rule(session, principal, data)
    set_created(response, "credit-rules", rule.id, rule.version)
    return service.get_rule(session, rule.id or 0)


@rules_router.get("/{rule_id}", response_model=RulePublic, responses=problem_responses(404))
def credit_rules_get(
    session: SessionDep, principal: CurrentPrincipal, rule_id: DbId, response: Response
) -> RulePublic:
    """One rule with its majors and versions (`ETag` for a later `PATCH`); everyone logged
    in."""
    rule = service.get_rule(session, rule_id)
    set_etag(response, rule.version)
    return rule


@rules_router.patch("/{rule_id}", response_model=RulePublic, responses=WRITE_RESPONSES)
def credit_rules_update(
    session: SessionDep,
    principal: CurrentPrincipal,
    rule_id: DbId,
    data: RuleUpdate,
    if_match: IfMatch,
    response: Response,
    today: Today,
) -> RulePublic:
    """Change a rule (academic office, `If-Match`). A rule no request used changes in place.
    A used rule keeps its terms: setting only `effective_to` or `notes` changes it in place;
    any other change closes it the day before `effective_from` (default today) and answers
    the **new version** (another `id`, `replaces_id` = this one, `Location` pointing at it).
    A rule that was already replaced is 409 `invalid_state` naming its successor."""
    rule = service.update_rule(session, principal, rule_id, data, if_match, today)
    set_etag(response, rule.version)
    if rule.id != rule_id:
        response.headers["Location"] = f"/api/v1/credit-rules/{rule.id}"
    return service.get_rule(session, rule.id or 0)


@rules_router.delete(
    "/{rule_id}", status_code=status.HTTP_204_NO_CONTENT, responses=ACTION_RESPONSES
)
def credit_rules_delete(session: SessionDep, principal: CurrentPrincipal, rule_id: DbId) -> None:
    """Delete a rule no request used (academic office); a used rule is 409 `rule_in_use`:
    close it with `effective_to` instead."""
    service.delete_rule(session, principal, rule_id)


# --- requests --------------------------------------------------------------------------------

REQUEST_COLUMNS = [
    ExportColumn("id", "申请ID"),
    ExportColumn("student_no", "学号"),
    ExportColumn("student_name", "姓名"),
    ExportColumn("certificate_name", "证书名称"),
    ExportColumn("level", "级别"),
    ExportColumn("certificate_number", "证书编号"),
    ExportColumn("course_code", "课程代码"),
    ExportColumn("course_name", "课程名称"),
    ExportColumn("credits", "学分"),
    ExportColumn("mode", "转换方式"),
    ExportColumn("status", "状态"),
    ExportColumn("reason", "驳回原因"),
    ExportColumn("created_at", "申请时间"),
    ExportColumn("decided_on", "审核日期"),
]


@requests_router.get("", response_model=Page[RequestPublic], responses=EXPORT_RESPONSES)
def conversion_requests_list(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    student_id: FilterId = None,
    status: RequestStatus | None = None,
    course_id: FilterId = None,
    certificate_id: FilterId = None,
    rule_id: FilterId = None,
    college_id: FilterId = None,
    format: FormatQuery = ExportFormat.json,
) -> Any:
    """Conversion requests, newest first. The academic office, auditors and admins see all;
    a college manager their college's students'; a student their own."""
    filters: dict[str, Any] = {
        "student_id": student_id,
        "status": status,
        "course_id": course_id,
        "certificate_id": certificate_id,
        "rule_id": rule_id,
        "college_id": college_id,
    }
    if format != ExportFormat.json:
        items = service.export_requests(session, principal, **filters)
        return export_response(items, REQUEST_COLUMNS, format, "conversion-requests")
    return service.list_requests(session, principal, page, **filters)


@requests_router.post(
    "",
    response_model=RequestPublic,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(409),
)
def conversion_requests_create(
    session: SessionDep, principal: CurrentPrincipal, data: RequestCreate, response: Response
) -> RequestPublic:
    """Ask for a conversion: a student for themself (`student_id` may be left out), or the
    academic office for a student. Refused with 409, a `code` and the `rule_id`, when the
    certificate is not the student's (`certificate_not_own`), is revoked
    (`certificate_revoked`), is another certificate than the rule's (`certificate_mismatch`)
    or below its level (`level_below_rule`); when the rule does not cover the student's major
    (`major_not_covered`) or was not in force on the issue date (`rule_not_in_force`); or when
    the student already has a submitted or approved conversion for that course
    (`course_already_claimed`, with `existing_id`)."""
    request = service.create_request(session, principal, data)
    set_created(response, "conversion-requests", request.id, request.version)
    return service.get_request(session, principal, request.id or 0)


@requests_router.post(
    "/bulk-approve", response_model=BulkApproveResult, responses=problem_responses(409)
)
def conversion_requests_bulk_approve(
    session: SessionDep, principal: CurrentPrincipal, data: BulkApproveBody, today: Today
) -> BulkApproveResult:
    """Approve several requests (academic office). Each is approved or refused on its own;
    the answer says for each id `approved` or the `code` and `detail` of the refusal."""
    return service.bulk_approve(session, principal, data.ids, today)


@requests_router.get(
    "/{request_id}", response_model=RequestPublic, responses=problem_responses(404)
)
def conversion_requests_get(
    session: SessionDep, principal: CurrentPrincipal, request_id: DbId, response: Response
) -> RequestPublic:
    """One request with its `allowed_actions`; readers as the list (404 outside the scope)."""
    request = service.get_request(session, principal, request_id)
    set_etag(response, request.version)
    return request


@requests_router.post(
    "/{request_id}/approve", response_model=RequestPublic, responses=ACTION_RESPONSES
)
def conversion_requests_approve(
    session: SessionDep,
    principal: CurrentPrincipal,
    request_id: DbId,
    response: Response,
    today: Today,
) -> RequestPublic:
    """submitted → approved (academic office). Every rule is checked again (a certificate
    revoked since is refused) and the credit is written to the student's ledger in the same
    transaction; racing approvals leave one credit."""
    request = service.approve(session, principal, request_id, today)
    set_etag(response, request.version)
    return service.get_request(session, principal, request_id)


@requests_router.post(
    "/{request_id}/reject", response_model=RequestPublic, responses=ACTION_RESPONSES
)
def conversion_requests_reject(
    session: SessionDep,
    principal: CurrentPrincipal,
    request_id: DbId,
    data: RejectBody,
    response: Response,
    today: Today,
) -> RequestPublic:
    """submitted → rejected with a `reason` (academic office); the course may be asked for
    again."""
    request = service.reject(session, principal, request_id, data.reason, today)
    set_etag(response, request.version)
    return service.get_request(session, principal, request_id)


@requests_router.post(
    "/{request_id}/withdraw", response_model=RequestPublic, responses=ACTION_RESPONSES
)
def conversion_requests_withdraw(
    session: SessionDep,
    principal: CurrentPrincipal,
    request_id: DbId,
    response: Response,
    today: Today,
) -> RequestPublic:
    """submitted → withdrawn, by the student who asked."""
    request = service.withdraw(session, principal, request_id, today)
    set_etag(response, request.version)
    return service.get_request(session, principal, request_id)


# --- students' options and ledgers -----------------------------------------------------------


@students_router.get(
    "/{student_id}/conversion-options",
    response_model=ConversionOptions,
    responses=problem_responses(404),
)
def students_conversion_options(
    session: SessionDep, principal: CurrentPrincipal, student_id: DbId
) -> ConversionOptions:
    """What the student may still claim: one item per course with no submitted or approved
    conversion, where one of their valid certificates qualifies for a rule (certificate,
    level, major, in force on the issue date). The item names the best way to claim it (most
    credits, then 替换, then the higher level, then the earlier certificate) and lists the
    other qualifying (rule, certificate) pairs under `alternatives`. The student, their
    college manager, the academic office, auditors and admins."""
    return service.conversion_options(session, principal, student_id)


@students_router.get(
    "/{student_id}/credits", response_model=Ledger, responses=problem_responses(404)
)
def students_credits(session: SessionDep, principal: CurrentPrincipal, student_id: DbId) -> Ledger:
    """The student's credit-bank ledger (course, credits, mode, certificate, date), oldest
    first, with reversals as negative lines, and the net totals. Readers as the options."""
    return service.ledger(session, principal, student_id)


CREDIT_COLUMNS = [
    ExportColumn("id", "记录ID"),
    ExportColumn("recorded_on", "记账日期"),
    ExportColumn("kind", "类型"),
    ExportColumn("student_no", "学号"),
    ExportColumn("student_name", "姓名"),
    ExportColumn("course_code", "课程代码"),
    ExportColumn("course_name", "课程名称"),
    ExportColumn("credits", "学分"),
    ExportColumn("mode", "转换方式"),
    ExportColumn("certificate_name", "证书名称"),
    ExportColumn("level", "级别"),
    ExportColumn("certificate_number", "证书编号"),
    ExportColumn("certificate_status", "证书状态"),
    ExportColumn("request_id", "申请ID"),
    ExportColumn("reverses_id", "冲销记录ID"),
    ExportColumn("reversed_by_id", "被冲销记录ID"),
    ExportColumn("reason", "原因"),
    ExportColumn("recorded_by", "记账人"),
]
RecordDate = Annotated[date | None, Query(ge=date(2000, 1, 1), le=date(2100, 12, 31))]


@records_router.get("", response_model=Page[CreditRecordPublic], responses=EXPORT_RESPONSES)
def credit_records_list(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    student_id: FilterId = None,
    course_id: FilterId = None,
    issued_certificate_id: FilterId = None,
    certificate_id: Annotated[
        int | None, Query(ge=1, le=MAX_DB_ID, description="Certificate type (not the number)")
    ] = None,
    college_id: FilterId = None,
    kind: CreditKind | None = None,
    reversed: Annotated[
        bool | None,
        Query(description="Credits with (true) or without (false) a reversal line"),
    ] = None,
    certificate_status: Annotated[
        CertificateStatus | None,
        Query(description="The issued certificate's status now"),
    ] = None,
    recorded_from: RecordDate = None,
    recorded_to: RecordDate = None,
    format: FormatQuery = ExportFormat.json,
) -> Any:
    """Ledger lines across students, newest first, with the student, course and certificate
    (and whether it is still valid). The academic office, auditors and admins see all; a
    college manager their college's students'; a student their own. For example
    `?issued_certificate_id=` finds everything converted from one certificate, and
    `?certificate_status=revoked&reversed=false` must always be empty."""
    filters: dict[str, Any] = {
        "student_id": student_id,
        "course_id": course_id,
        "issued_certificate_id": issued_certificate_id,
        "certificate_id": certificate_id,
        "college_id": college_id,
        "kind": kind,
        "reversed": reversed,
        "certificate_status": certificate_status,
        "recorded_from": recorded_from,
        "recorded_to": recorded_to,
    }
    if format != ExportFormat.json:
        items = service.export_credits(session, principal, **filters)
        return export_response(items, CREDIT_COLUMNS, format, "credit-records")
    return service.list_credits(session, principal, page, **filters)


@records_router.get(
    "/{record_id}", response_model=CreditRecordPublic, responses=problem_responses(404)
)
def credit_records_get(
    session: SessionDep, principal: CurrentPrincipal, record_id: DbId
) -> CreditRecordPublic:
    """One ledger line; readers as the list."""
    return service.get_credit(session, principal, record_id)


@records_router.post(
    "/{record_id}/reverse",
    response_model=CreditRecordPublic,
    status_code=status.HTTP_201_CREATED,
    responses=ACTION_RESPONSES,
)
def credit_records_reverse(
    session: SessionDep,
    principal: CurrentPrincipal,
    record_id: DbId,
    data: ReverseBody,
    response: Response,
    today: Today,
) -> CreditRecordPublic:
    """Reverse a credit (academic office, with a `reason`): a negative line pointing at it is
    added — nothing is deleted — the request becomes `reversed` and the course can be claimed
    again. A credit is reversed once (409 `already_reversed`). Revoking the certificate
    reverses its credits by itself."""
    reversal = service.reverse_credit(session, principal, record_id, data.reason, today)
    response.headers["Location"] = f"/api/v1/credit-records/{reversal.id}"
    return service.get_credit(session, principal, reversal.id or 0)


# --- the report ------------------------------------------------------------------------------

REPORT_COLUMNS = [
    ExportColumn("student_no", "学号"),
    ExportColumn("student_name", "姓名"),
    ExportColumn("major_name", "专业"),
    ExportColumn("cohort", "年级"),
    ExportColumn("certificate_name", "证书名称"),
    ExportColumn("level", "级别"),
    ExportColumn("evaluation_org_name", "培训评价组织"),
    ExportColumn("certificate_number", "证书编号"),
    ExportColumn("issue_date", "发证日期"),
    ExportColumn("course_code", "课程代码"),
    ExportColumn("course_name", "课程名称"),
    ExportColumn("credits", "学分"),
    ExportColumn("mode", "转换方式"),
    ExportColumn("approved_on", "审核通过日期"),
]


@report_router.get(
    "/credit-conversions", response_model=ConversionReport, responses=EXPORT_RESPONSES
)
def reports_credit_conversions(
    session: SessionDep,
    principal: CurrentPrincipal,
    year: Annotated[
        int | None, Query(ge=2000, le=2100, description="Approval year (school time zone)")
    ] = None,
    format: FormatQuery = ExportFormat.json,
) -> Any:
    """One row per approved conversion (not reversed) — student no, name, major, cohort,
    certificate, level, organisation, certificate number, issue date, course, credits, mode,
    approval date — and the counts per rule and per course. CSV/XLSX give the rows. Academic
    office, auditors and admins; a college manager their college's students."""
    report = service.conversion_report(session, principal, year=year)
    if format != ExportFormat.json:
        name = "credit-conversions" + (f"-{year}" if year else "")
        return export_response(report.rows, REPORT_COLUMNS, format, name)
    return report
