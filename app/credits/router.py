"""HTTP for the credit bank: conversion rules, conversion requests and their review, students'
options and ledgers, credit reversals and the registry report."""

from typing import Annotated, Any

from fastapi import Query

from app.core.auth import CurrentPrincipal, Today, writers
from app.core.db import SessionDep
from app.core.errors import problem_responses
from app.core.export import (
    EXPORT_RESPONSES,
    ExportFormat,
    FormatQuery,
)
from app.core.i18n import N_
from app.core.params import DbId
from app.core.reports import report_filename, report_response
from app.core.roles import OFFICE, Role
from app.core.routes import Routes, domain_router
from app.credits import ledger, models, reports, requests, rules

rules_router = domain_router("/credit-rules", "credit-bank")
requests_router = domain_router("/conversion-requests", "credit-bank")
students_router = domain_router("/students", "credit-bank")
records_router = domain_router("/credit-records", "credit-bank")
report_router = domain_router("/reports", "reports")

ACTION_RESPONSES = problem_responses(404, 409)
WRITE_RESPONSES = problem_responses(404, 409, 412)


# --- rules -----------------------------------------------------------------------------------


rules_routes = Routes(
    rules_router,
    models.RulePublic,
    id_name="rule_id",
    read=rules.RULES.one,
    noun="学分转换规则",
    writers=OFFICE,
)
rules_routes.list(
    rules.RULES,
    """Conversion rules (学分转换规则), by certificate and course code; every version of a
    changed rule is listed (`replaces_id` / `superseded_by_id`). Everyone logged in reads
    them. The CSV/XLSX export has the headers of the `credit-rules` upload.""",
)
rules_routes.create(
    models.RuleCreate,
    rules.create_rule,
    """A rule (academic office): a certificate at or above `min_level` gives `credits` for a
    course by 免修 or 替换, for the listed majors, from `effective_from` to `effective_to`
    (empty: open). A second rule for the same certificate and course in an overlapping
    period is 409 `duplicate` with `existing_id`.""",
)
rules_routes.get(
    """One rule with its majors and versions (`ETag` for a later `PATCH`); everyone logged
    in."""
)
rules_routes.update(
    models.RuleUpdate,
    rules.update_rule,
    """Change a rule (academic office, `If-Match`). A rule no request used changes in place.
    A used rule keeps its terms: setting only `effective_to` or `notes` changes it in place;
    any other change closes it the day before `effective_from` (default today) and answers
    the **new version** (another `id`, `replaces_id` = this one, `Location` pointing at it).
    A rule that was already replaced is 409 `invalid_state` naming its successor.""",
    extra={"today": Today},
)
rules_routes.delete(
    rules.delete_rule,
    """Delete a rule no request used (academic office); a used rule is 409 `rule_in_use`:
    close it with `effective_to` instead.""",
)


# --- requests --------------------------------------------------------------------------------


requests_routes = Routes(
    requests_router,
    models.RequestPublic,
    id_name="request_id",
    read=requests.REQUESTS.one,
    noun="学分转换申请",
    writers=OFFICE,
)
requests_routes.list(
    requests.REQUESTS,
    """Conversion requests, newest first. The academic office, auditors and admins see all;
    a college manager their college's students'; a student their own.""",
)
requests_routes.create(
    models.RequestCreate,
    requests.create_request,
    """Ask for a conversion: a student for themself (`student_id` may be left out), or the
    academic office for a student. Refused with 409, a `code` and the `rule_id`, when the
    certificate is not the student's (`certificate_not_own`; to a student, another student's
    certificate is answered as a missing one, 422), is revoked
    (`certificate_revoked`), is another certificate than the rule's (`certificate_mismatch`)
    or below its level (`level_below_rule`); when the rule does not cover the student's major
    (`major_not_covered`) or was not in force on the issue date (`rule_not_in_force`); or when
    the student already has a submitted or approved conversion for that course
    (`course_already_claimed`, with `existing_id`).""",
    roles=requests.REQUESTERS,
)


@requests_router.post(
    "/bulk-approve",
    response_model=models.BulkApproveResult,
    responses=problem_responses(409),
    summary="批量批准学分转换申请",
    **writers(OFFICE),
)
def conversion_requests_bulk_approve(
    session: SessionDep, principal: CurrentPrincipal, data: models.BulkApproveBody, today: Today
) -> models.BulkApproveResult:
    """Approve several requests (academic office). Each is approved or refused on its own;
    the answer says for each id `approved` or the `code` and `detail` of the refusal."""
    return requests.bulk_approve(session, principal, data.ids, today)


requests_routes.get(
    "One request with its `allowed_actions`; readers as the list (404 outside the scope)."
)
requests_routes.action(
    "approve",
    requests.approve,
    """submitted → approved (academic office). Every rule is checked again (a certificate
    revoked since is refused) and the credit is written to the student's ledger in the same
    transaction; racing approvals leave one credit.""",
    extra={"today": Today},
    summary="批准学分转换申请",
)
requests_routes.action(
    "reject",
    lambda session, principal, request_id, data, today: requests.reject(
        session, principal, request_id, data.reason, today
    ),
    """submitted → rejected with a `reason` (academic office); the course may be asked for
    again.""",
    body=models.ConversionRejectBody,
    extra={"today": Today},
    summary="驳回学分转换申请",
)
requests_routes.action(
    "withdraw",
    requests.withdraw,
    "submitted → withdrawn, by the student who asked.",
    extra={"today": Today},
    summary="撤回学分转换申请",
    roles={Role.student},
)


# --- students' options and ledgers -----------------------------------------------------------


@students_router.get(
    "/{student_id}/conversion-options",
    response_model=models.ConversionOptions,
    responses=problem_responses(404),
    summary="学生可申请的学分转换",
)
def students_conversion_options(
    session: SessionDep, principal: CurrentPrincipal, student_id: DbId
) -> models.ConversionOptions:
    """What the student may still claim: one item per course with no submitted or approved
    conversion, where one of their valid certificates qualifies for a rule (certificate,
    level, major, in force on the issue date). The item names the best way to claim it (most
    credits, then 替换, then the higher level, then the earlier certificate) and lists the
    other qualifying (rule, certificate) pairs under `alternatives`. The student, their
    college manager, the academic office, auditors and admins."""
    return requests.conversion_options(session, principal, student_id)


@students_router.get(
    "/{student_id}/credits",
    response_model=models.Ledger,
    responses=problem_responses(404),
    summary="学生学分银行账户",
)
def students_credits(
    session: SessionDep, principal: CurrentPrincipal, student_id: DbId
) -> models.Ledger:
    """The student's credit-bank ledger (course, credits, mode, certificate, date), oldest
    first, with reversals as negative lines, and the net totals. Readers as the options."""
    return ledger.ledger(session, principal, student_id)


records = Routes(
    records_router,
    models.CreditRecordPublic,
    id_name="record_id",
    read=ledger.CREDITS.one,
    noun="学分记录",
    writers=OFFICE,
)
records.list(
    ledger.CREDITS,
    """Ledger lines across students, newest first, with the student, course and certificate
    (and whether it is still valid). The academic office, auditors and admins see all; a
    college manager their college's students'; a student their own. For example
    `?issued_certificate_id=` finds everything converted from one certificate, and
    `?certificate_status=revoked&reversed=false` must always be empty.""",
)
records.get("One ledger line; readers as the list.", etag=False)
records.action(
    "reverse",
    lambda session, principal, record_id, data, today: ledger.reverse_credit(
        session, principal, record_id, data.reason, today
    ),
    """Reverse a credit (academic office, with a `reason`): a negative line pointing at it is
    added — nothing is deleted — the request becomes `reversed` and the course can be claimed
    again. A credit is reversed once (409 `already_reversed`). Revoking the certificate
    reverses its credits by itself.""",
    body=models.CreditReverseBody,
    extra={"today": Today},
    creates=True,
    summary="冲销学分记录",
)


# --- the report ------------------------------------------------------------------------------


@report_router.get(
    "/credit-conversions",
    response_model=models.ConversionReport,
    responses=EXPORT_RESPONSES,
    summary="学分转换登记表",
)
def reports_credit_conversions(
    session: SessionDep,
    principal: CurrentPrincipal,
    year: Annotated[
        int | None, Query(ge=2000, le=2100, description="Approval year (school time zone)")
    ] = None,
    pilot_year: Annotated[
        int | None,
        Query(ge=2000, le=2100, description="Only certificates from this year's pilots"),
    ] = None,
    format: FormatQuery = ExportFormat.json,
) -> Any:
    """One row per approved conversion (not reversed) — student no, name, major, cohort,
    certificate, level, organisation, certificate number, issue date, course, credits, mode,
    approval date — and the counts per rule and per course. CSV/XLSX give the rows. `year` is
    the approval year; `pilot_year` keeps the certificates of that year's pilots (the year's
    report counts by it). The answer is written as its rows are read (chunked, no
    `Content-Length`), whatever the format. Academic office, auditors and admins; a college
    manager their college's students."""
    report = reports.conversion_report(session, principal, year=year, pilot_year=pilot_year)
    return report_response(
        report,
        format,
        reports.report_rows(report),
        reports.REPORT_COLUMNS,
        report_filename("credit-conversions", year),
        title=N_("Credit conversion register"),
        filters={N_("Year"): year},
        totals=1,
    )
