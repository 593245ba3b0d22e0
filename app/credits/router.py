"""HTTP for the credit bank: conversion rules, conversion requests and their review, students'
options and ledgers, credit reversals and the registry report."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from app.core.auth import CurrentPrincipal, Today
from app.core.db import SessionDep
from app.core.errors import problem_responses
from app.core.export import (
    EXPORT_RESPONSES,
    ExportFormat,
    FormatQuery,
    export_response,
)
from app.core.listing import ListDep
from app.core.pagination import Page
from app.core.params import DbId
from app.core.versions import IfMatch, set_created, set_etag
from app.credits import ledger, reports, requests, rules
from app.credits.models import (
    BulkApproveBody,
    BulkApproveResult,
    ConversionOptions,
    ConversionReport,
    CreditFilters,
    CreditRecordPublic,
    Ledger,
    RejectBody,
    RequestCreate,
    RequestFilters,
    RequestPublic,
    ReverseBody,
    RuleCreate,
    RuleFilters,
    RulePublic,
    RuleUpdate,
)

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

ACTION_RESPONSES = problem_responses(404, 409)
WRITE_RESPONSES = problem_responses(404, 409, 412)


# --- rules -----------------------------------------------------------------------------------


@rules_router.get("", response_model=Page[RulePublic], responses=EXPORT_RESPONSES)
def credit_rules_list(
    session: SessionDep,
    principal: CurrentPrincipal,
    filters: Annotated[RuleFilters, Query()],
    params: ListDep,
) -> Any:
    """Conversion rules (学分转换规则), by certificate and course code; every version of a
    changed rule is listed (`replaces_id` / `superseded_by_id`). Everyone logged in reads
    them. The CSV/XLSX export has the headers of the `credit-rules` upload."""
    return rules.RULES.respond(session, principal, filters, params)


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
    rule = rules.create_rule(session, principal, data)
    set_created(response, "credit-rules", rule.id, rule.version)
    return rules.get_rule(session, principal, rule.id or 0)


@rules_router.get("/{rule_id}", response_model=RulePublic, responses=problem_responses(404))
def credit_rules_get(
    session: SessionDep, principal: CurrentPrincipal, rule_id: DbId, response: Response
) -> RulePublic:
    """One rule with its majors and versions (`ETag` for a later `PATCH`); everyone logged
    in."""
    rule = rules.get_rule(session, principal, rule_id)
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
    rule = rules.update_rule(session, principal, rule_id, data, if_match, today)
    set_etag(response, rule.version)
    if rule.id != rule_id:
        response.headers["Location"] = f"/api/v1/credit-rules/{rule.id}"
    return rules.get_rule(session, principal, rule.id or 0)


@rules_router.delete(
    "/{rule_id}", status_code=status.HTTP_204_NO_CONTENT, responses=ACTION_RESPONSES
)
def credit_rules_delete(session: SessionDep, principal: CurrentPrincipal, rule_id: DbId) -> None:
    """Delete a rule no request used (academic office); a used rule is 409 `rule_in_use`:
    close it with `effective_to` instead."""
    rules.delete_rule(session, principal, rule_id)


# --- requests --------------------------------------------------------------------------------


@requests_router.get("", response_model=Page[RequestPublic], responses=EXPORT_RESPONSES)
def conversion_requests_list(
    session: SessionDep,
    principal: CurrentPrincipal,
    filters: Annotated[RequestFilters, Query()],
    params: ListDep,
) -> Any:
    """Conversion requests, newest first. The academic office, auditors and admins see all;
    a college manager their college's students'; a student their own."""
    return requests.REQUESTS.respond(session, principal, filters, params)


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
    certificate is not the student's (`certificate_not_own`; to a student, another student's
    certificate is answered as a missing one, 422), is revoked
    (`certificate_revoked`), is another certificate than the rule's (`certificate_mismatch`)
    or below its level (`level_below_rule`); when the rule does not cover the student's major
    (`major_not_covered`) or was not in force on the issue date (`rule_not_in_force`); or when
    the student already has a submitted or approved conversion for that course
    (`course_already_claimed`, with `existing_id`)."""
    request = requests.create_request(session, principal, data)
    set_created(response, "conversion-requests", request.id, request.version)
    return requests.get_request(session, principal, request.id or 0)


@requests_router.post(
    "/bulk-approve", response_model=BulkApproveResult, responses=problem_responses(409)
)
def conversion_requests_bulk_approve(
    session: SessionDep, principal: CurrentPrincipal, data: BulkApproveBody, today: Today
) -> BulkApproveResult:
    """Approve several requests (academic office). Each is approved or refused on its own;
    the answer says for each id `approved` or the `code` and `detail` of the refusal."""
    return requests.bulk_approve(session, principal, data.ids, today)


@requests_router.get(
    "/{request_id}", response_model=RequestPublic, responses=problem_responses(404)
)
def conversion_requests_get(
    session: SessionDep, principal: CurrentPrincipal, request_id: DbId, response: Response
) -> RequestPublic:
    """One request with its `allowed_actions`; readers as the list (404 outside the scope)."""
    request = requests.get_request(session, principal, request_id)
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
    request = requests.approve(session, principal, request_id, today)
    set_etag(response, request.version)
    return requests.get_request(session, principal, request_id)


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
    request = requests.reject(session, principal, request_id, data.reason, today)
    set_etag(response, request.version)
    return requests.get_request(session, principal, request_id)


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
    request = requests.withdraw(session, principal, request_id, today)
    set_etag(response, request.version)
    return requests.get_request(session, principal, request_id)


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
    return requests.conversion_options(session, principal, student_id)


@students_router.get(
    "/{student_id}/credits", response_model=Ledger, responses=problem_responses(404)
)
def students_credits(session: SessionDep, principal: CurrentPrincipal, student_id: DbId) -> Ledger:
    """The student's credit-bank ledger (course, credits, mode, certificate, date), oldest
    first, with reversals as negative lines, and the net totals. Readers as the options."""
    return ledger.ledger(session, principal, student_id)


@records_router.get("", response_model=Page[CreditRecordPublic], responses=EXPORT_RESPONSES)
def credit_records_list(
    session: SessionDep,
    principal: CurrentPrincipal,
    filters: Annotated[CreditFilters, Query()],
    params: ListDep,
) -> Any:
    """Ledger lines across students, newest first, with the student, course and certificate
    (and whether it is still valid). The academic office, auditors and admins see all; a
    college manager their college's students'; a student their own. For example
    `?issued_certificate_id=` finds everything converted from one certificate, and
    `?certificate_status=revoked&reversed=false` must always be empty."""
    return ledger.CREDITS.respond(session, principal, filters, params)


@records_router.get(
    "/{record_id}", response_model=CreditRecordPublic, responses=problem_responses(404)
)
def credit_records_get(
    session: SessionDep, principal: CurrentPrincipal, record_id: DbId
) -> CreditRecordPublic:
    """One ledger line; readers as the list."""
    return ledger.get_credit(session, principal, record_id)


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
    reversal = ledger.reverse_credit(session, principal, record_id, data.reason, today)
    response.headers["Location"] = f"/api/v1/credit-records/{reversal.id}"
    return ledger.get_credit(session, principal, reversal.id or 0)


# --- the report ------------------------------------------------------------------------------


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
    report = reports.conversion_report(session, principal, year=year)
    if format != ExportFormat.json:
        filename = reports.report_filename(year)
        return export_response(report.rows, reports.REPORT_COLUMNS, format, filename)
    return report
