"""Standing sweep, object-level authorisation: every GET route of the OpenAPI, called by every
principal of the world (tests/security/world.py), answers no row and names no id of an object
outside the caller's scope; a read-one of such an object is answered exactly as a missing one;
and a GET route the sweep does not know fails it until it declares its scope in ``ROUTES``."""

import csv
import io
import re
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from starlette.testclient import TestClient

from app.core.roles import Role
from tests.factories import assert_answered_as_missing
from tests.security.world import MISSING_ID, Caller, World


@dataclass(frozen=True)
class Reads:
    """What a GET route reads, as the sweep checks it.

    ``kind``: the kind of object each row's ``id`` is (a list), or the path's id names (a
    read-one, or a list under one object). ``access``: ``scoped`` (each role reads its own
    scope of rows), ``public`` (every row is every caller's: reference data all roles read),
    ``read_all`` (only the academic office, auditors and admins; every scoped role gets 403)
    or ``self`` (the caller's own account). ``param``: a fixed path parameter, for a path whose
    parameter is not an id."""

    kind: str | None = None
    access: str = "scoped"
    param: str | None = None
    shared: frozenset[Role] = frozenset()
    """Roles that read every row (for them the route is public)."""


PUBLIC = Reads(access="public")
TIMETABLE = frozenset({Role.college_manager, Role.teacher, Role.student})
"""The exam timetable is the school's: every role but an organisation reads every session."""
READ_ALL = Reads(access="read_all")

ROUTES: dict[str, Reads] = {
    "/health": PUBLIC,
    "/ready": PUBLIC,
    "/api/v1/auth/me": Reads(access="self"),
    "/api/v1/users": READ_ALL,
    "/api/v1/users/{user_id}": Reads("user", "read_all"),
    "/api/v1/api-keys": READ_ALL,
    "/api/v1/colleges": PUBLIC,
    "/api/v1/colleges/{college_id}": Reads("college", "public"),
    "/api/v1/majors": Reads("major"),
    "/api/v1/majors/{major_id}": Reads("major"),
    "/api/v1/courses": Reads("course"),
    "/api/v1/courses/{course_id}": Reads("course"),
    "/api/v1/teachers": Reads("teacher"),
    "/api/v1/teachers/{teacher_id}": Reads("teacher"),
    "/api/v1/students": Reads("student"),
    "/api/v1/students/{student_id}": Reads("student"),
    "/api/v1/evaluation-orgs": PUBLIC,
    "/api/v1/evaluation-orgs/{org_id}": Reads("evaluation_org", "public"),
    "/api/v1/certificates": PUBLIC,
    "/api/v1/certificates/{certificate_id}": Reads("certificate", "public"),
    "/api/v1/applications": Reads("application"),
    "/api/v1/applications/{application_id}": Reads("application"),
    "/api/v1/applications/{application_id}/teachers": Reads("application"),
    "/api/v1/plans": Reads("plan"),
    "/api/v1/plans/{plan_id}": Reads("plan"),
    "/api/v1/reports/applications": Reads(),
    "/api/v1/reports/teacher-coverage": Reads(),
    "/api/v1/reports/dual-qualified": Reads(),
    "/api/v1/evaluator-qualifications": Reads("qualification"),
    "/api/v1/evaluator-qualifications/{qualification_id}": Reads("qualification"),
    "/api/v1/training-bases": PUBLIC,
    "/api/v1/training-bases/{base_id}": Reads("base", "public"),
    "/api/v1/teacher-trainings": Reads("training"),
    "/api/v1/teacher-trainings/{training_id}": Reads("training"),
    "/api/v1/training-batches": Reads("batch"),
    "/api/v1/training-batches/{batch_id}": Reads("batch"),
    "/api/v1/training-batches/{batch_id}/enrollments": Reads("batch"),
    "/api/v1/exam-sessions": Reads("session", shared=TIMETABLE),
    "/api/v1/exam-sessions/{session_id}": Reads("session", shared=TIMETABLE),
    "/api/v1/registrations": Reads("registration"),
    "/api/v1/registrations/{registration_id}": Reads("registration"),
    "/api/v1/issued-certificates": Reads("issued_certificate"),
    "/api/v1/issued-certificates/{certificate_id}": Reads("issued_certificate"),
    "/api/v1/public/certificates/{number}": Reads(access="public", param="NO-SUCH-NUMBER"),
    "/api/v1/reports/funnel": Reads(),
    "/api/v1/credit-rules": PUBLIC,
    "/api/v1/credit-rules/{rule_id}": Reads("rule", "public"),
    "/api/v1/conversion-requests": Reads("request"),
    "/api/v1/conversion-requests/{request_id}": Reads("request"),
    "/api/v1/students/{student_id}/conversion-options": Reads("student"),
    "/api/v1/students/{student_id}/credits": Reads("student"),
    "/api/v1/credit-records": Reads("credit_record"),
    "/api/v1/credit-records/{record_id}": Reads("credit_record"),
    "/api/v1/reports/credit-conversions": Reads(),
    "/api/v1/funding-sources": Reads("source"),
    "/api/v1/funding-sources/{source_id}": Reads("source"),
    "/api/v1/budget-lines": Reads("line"),
    "/api/v1/budget-lines/{line_id}": Reads("line"),
    "/api/v1/expenditures": Reads("expenditure"),
    "/api/v1/expenditures/{expenditure_id}": Reads("expenditure"),
    "/api/v1/subsidy-runs": Reads("subsidy_run"),
    "/api/v1/subsidy-runs/{run_id}": Reads("subsidy_run"),
    "/api/v1/reports/funding": Reads(),
    "/api/v1/evaluation-schemes/{year}": Reads(access="public", param="2022"),
    "/api/v1/evaluations": Reads("evaluation"),
    "/api/v1/evaluations/{evaluation_id}": Reads("evaluation"),
    "/api/v1/reports/overview": Reads(),
    "/api/v1/experts": READ_ALL,
    "/api/v1/experts/{expert_id}": Reads("expert", "read_all"),
    "/api/v1/meetings": READ_ALL,
    "/api/v1/meetings/{meeting_id}": Reads("meeting", "read_all"),
    "/api/v1/reconciliations": Reads("reconciliation"),
    "/api/v1/reconciliations/{reconciliation_id}": Reads("reconciliation"),
    "/api/v1/reports/year": Reads(access="read_all"),
    "/api/v1/imports/{kind}/template": Reads(access="public", param="students"),
    "/api/v1/imports": Reads("import"),
    "/api/v1/audit-events": READ_ALL,
    "/api/v1/events": READ_ALL,
}
"""Every GET route and what it reads: a new route fails the sweep until it is declared here."""

FIELD_KINDS = {
    "student_id": "student",
    "teacher_id": "teacher",
    "application_id": "application",
    "major_id": "major",
    "course_id": "course",
    "evaluation_org_id": "evaluation_org",
    "session_id": "session",
    "registration_id": "registration",
    "issued_certificate_id": "issued_certificate",
    "plan_id": "plan",
    "batch_id": "batch",
    "training_id": "training",
    "request_id": "request",
    "source_id": "source",
    "line_id": "line",
    "evaluation_id": "evaluation",
    "major_ids": "major",
    "course_ids": "course",
    "core_course_ids": "course",
    "instructor_ids": "teacher",
}
"""The fields, anywhere in an answer, that name an object of a kind."""

SAMPLE = 2
"""Ids of each kind a read-one is tried with, of those in and of those out of scope."""


def _get_routes(app: FastAPI) -> dict[str, dict[str, Any]]:
    return {path: item["get"] for path, item in app.openapi()["paths"].items() if "get" in item}


def test_every_get_route_declares_what_it_reads(app: FastAPI) -> None:
    routes = _get_routes(app)
    assert sorted(set(routes) - set(ROUTES)) == [], "declare these routes' scope in ROUTES"
    assert sorted(set(ROUTES) - set(routes)) == [], "these declared routes are gone"
    for path, reads in ROUTES.items():
        if "{" in path and reads.param is None:
            assert reads.kind is not None, path


def _leaks(caller: Caller, reads: Reads, body: Any, top: list[Any]) -> list[str]:
    """Every id in ``body`` of an object ``caller`` may not read; ``top`` are the rows whose
    ``id`` is of the route's kind."""
    found = []
    if reads.kind is not None:
        foreign = caller.foreign.get(reads.kind, set())
        found += [f"id {row['id']}" for row in top if row.get("id") in foreign]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                kind = FIELD_KINDS.get(key)
                if kind is not None:
                    foreign = caller.foreign.get(kind, set())
                    values = value if isinstance(value, list) else [value]
                    found.extend(f"{key} {v}" for v in values if v in foreign)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(body)
    return found


def _check(caller: Caller, path: str, reads: Reads, response: Any, problems: list[str]) -> None:
    where = f"{caller.name} GET {path}"
    if response.status_code >= 500:
        problems.append(f"{where}: {response.status_code}")
        return
    if reads.access == "read_all" and caller.scoped:
        if response.status_code != 403:
            problems.append(f"{where}: {response.status_code}, not 403")
        return
    if response.status_code != 200 or _public(caller, reads):
        return
    if not caller.scoped:
        return
    text = response.text
    shown = sorted(number for number in caller.foreign_text if number in text)
    if shown:
        problems.append(f"{where}: shows {shown}")
    if not response.headers["content-type"].startswith("application/json"):
        return
    body = response.json()
    top = body["items"] if isinstance(body, dict) and "items" in body else [body]
    top = [row for row in top if isinstance(row, dict)]
    leaks = _leaks(caller, reads, body, top if "{" not in path or "items" not in body else [])
    if leaks:
        problems.append(f"{where}: {leaks[:5]}")


def _public(caller: Caller, reads: Reads) -> bool:
    return reads.access == "public" or caller.role in reads.shared


def _csv_rows(response: Any) -> int:
    text = response.content.decode("utf-8-sig")
    return len(list(csv.reader(io.StringIO(text, newline="")))) - 1


def test_no_principal_reads_a_row_outside_its_scope(
    app: FastAPI, sweep_client: TestClient, world: World
) -> None:
    routes = _get_routes(app)
    problems: list[str] = []
    calls = 0
    for caller in world.callers:
        for path, reads in ROUTES.items():
            names = {p["name"] for p in routes[path].get("parameters", [])}
            params = {"limit": 500} if "limit" in names else {}
            if "{" not in path:
                targets = [path]
            elif not caller.scoped:
                continue  # the office and admins read every row; their lists are enough
            elif reads.param is not None:
                targets = [re.sub(r"\{[^}]+\}", reads.param, path)]
            else:
                targets = []
                assert reads.kind is not None
                foreign = set() if _public(caller, reads) else caller.foreign.get(reads.kind, set())
                ids = world.ids[reads.kind]
                outside = [i for i in ids if i in foreign][:SAMPLE]
                inside = [i for i in ids if i not in foreign][:SAMPLE]
                missing = sweep_client.get(
                    re.sub(r"\{[^}]+\}", str(MISSING_ID), path), headers=caller.headers
                )
                calls += 1
                for row_id in outside:
                    refused = sweep_client.get(
                        re.sub(r"\{[^}]+\}", str(row_id), path), headers=caller.headers
                    )
                    calls += 1
                    try:
                        assert_answered_as_missing(refused, missing, row_id, MISSING_ID)
                    except AssertionError as error:
                        problems.append(f"{caller.name} GET {path} ({row_id}): {error}")
                targets = [re.sub(r"\{[^}]+\}", str(i), path) for i in inside]
            for target in targets:
                response = sweep_client.get(target, params=params, headers=caller.headers)
                calls += 1
                _check(caller, path, reads, response, problems)
                exports = caller.scoped or caller.name == "office"
                if "format" in names and response.status_code == 200 and exports:
                    exported = sweep_client.get(
                        target, params={"format": "csv"}, headers=caller.headers
                    )
                    calls += 1
                    _check(caller, path, reads, exported, problems)
                    total = response.json().get("total")
                    counted = _csv_rows(exported) if exported.status_code == 200 else None
                    if isinstance(total, int) and counted is not None and counted != total:
                        problems.append(
                            f"{caller.name} GET {path}?format=csv: {counted} "
                            f"rows, the list has {total}"
                        )
    assert not problems, "\n".join(problems)
    assert calls > 1000
