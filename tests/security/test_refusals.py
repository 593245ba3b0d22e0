"""Standing sweep, refusal leaks: every write route of the OpenAPI that names an object (by its
path, or by an id in its body) answers a request naming an object outside the caller's scope
exactly as one naming a missing id: same status, same body once the id is swapped, and no name,
number or id of that object. A write route that names objects fails the sweep until ``WRITES``
declares how it is probed (or why no scoped caller reaches it)."""

import re
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from starlette.testclient import TestClient

from tests.factories import assert_answered_as_missing
from tests.security.world import MISSING_ID, World

WRITE_METHODS = ("post", "put", "patch", "delete")

PATH_KINDS = {
    "user_id": "user",
    "key_id": "api_key",
    "college_id": "college",
    "major_id": "major",
    "course_id": "course",
    "teacher_id": "teacher",
    "student_id": "student",
    "org_id": "evaluation_org",
    "certificate_id": "certificate",
    "application_id": "application",
    "plan_id": "plan",
    "training_id": "training",
    "batch_id": "batch",
    "enrollment_id": "enrollment",
    "session_id": "session",
    "registration_id": "registration",
    "rule_id": "rule",
    "request_id": "request",
    "record_id": "credit_record",
    "source_id": "source",
    "line_id": "line",
    "expenditure_id": "expenditure",
    "evaluation_id": "evaluation",
    "expert_id": "expert",
    "meeting_id": "meeting",
    "qualification_id": "qualification",
    "base_id": "base",
    "reconciliation_id": "reconciliation",
}
"""The kind of object each path parameter names (``certificate_id`` under
``/issued-certificates`` is an issued certificate)."""

PUBLIC_REFERENCES = "names only objects every role reads (colleges, organisations, certificates)"
OFFICE_ONLY = "only the academic office or an admin writes it: no scoped caller reaches the look-up"


@dataclass(frozen=True)
class Probe:
    """One request naming an object by an id in its body: ``caller`` sends the route's body
    (tests/security/world.py) to its path (its ``{…}`` filled with the caller's own objects of
    the kinds ``own``), with ``field`` naming an object of ``kind`` it may not read, then a
    missing one."""

    caller: str
    field: str
    kind: str
    own: tuple[str, ...] = ()


BODY_PROBES: dict[tuple[str, str], Any] = {
    ("post", "/api/v1/auth/token"): "a log-in names no object",
    ("post", "/api/v1/users"): OFFICE_ONLY,
    ("patch", "/api/v1/users/{user_id}"): OFFICE_ONLY,
    ("post", "/api/v1/api-keys"): OFFICE_ONLY,
    ("post", "/api/v1/majors"): PUBLIC_REFERENCES,
    ("patch", "/api/v1/majors/{major_id}"): PUBLIC_REFERENCES,
    ("post", "/api/v1/courses"): [Probe("manager_a", "major_ids", "major")],
    ("patch", "/api/v1/courses/{course_id}"): [
        Probe("manager_a", "major_ids", "major", ("course",))
    ],
    ("post", "/api/v1/teachers"): PUBLIC_REFERENCES,
    ("patch", "/api/v1/teachers/{teacher_id}"): PUBLIC_REFERENCES,
    ("post", "/api/v1/students"): [Probe("manager_a", "major_id", "major")],
    ("patch", "/api/v1/students/{student_id}"): [
        Probe("manager_a", "major_id", "major", ("student",))
    ],
    ("post", "/api/v1/certificates"): PUBLIC_REFERENCES,
    ("patch", "/api/v1/certificates/{certificate_id}"): PUBLIC_REFERENCES,
    ("post", "/api/v1/applications"): [Probe("manager_a", "major_ids", "major")],
    ("patch", "/api/v1/applications/{application_id}"): "a college manager changes only a "
    "pilot all of whose majors are theirs; the world has none in draft (tests/applications)",
    ("post", "/api/v1/applications/{application_id}/teachers"): [
        Probe("manager_a", "teacher_id", "teacher", ("application",))
    ],
    ("post", "/api/v1/plans"): [
        Probe("manager_a", "application_id", "application"),
        Probe("manager_b", "application_id", "application"),
    ],
    ("patch", "/api/v1/plans/{plan_id}"): "the world's plans are filed, which refuses every change "
    "before the course look-up",
    ("post", "/api/v1/teacher-trainings"): [
        Probe("manager_a", "teacher_id", "teacher"),
        Probe("teacher_a", "teacher_id", "teacher"),
    ],
    ("post", "/api/v1/evaluator-qualifications"): [Probe("manager_a", "teacher_id", "teacher")],
    ("patch", "/api/v1/evaluator-qualifications/{qualification_id}"): PUBLIC_REFERENCES,
    ("post", "/api/v1/training-bases"): [Probe("manager_a", "application_ids", "application")],
    ("patch", "/api/v1/training-bases/{base_id}"): [
        Probe("manager_a", "application_ids", "application", ("base",))
    ],
    ("patch", "/api/v1/exam-sessions/{session_id}"): OFFICE_ONLY,
    ("patch", "/api/v1/teacher-trainings/{training_id}"): "the world's trainings of teacher A "
    "are certified, which refuses a new teacher first; tests/trainings covers the look-up",
    ("post", "/api/v1/training-batches"): [
        Probe("manager_a", "instructor_ids", "teacher"),
        Probe("manager_b", "application_id", "application"),
    ],
    ("patch", "/api/v1/training-batches/{batch_id}"): [
        Probe("manager_a", "instructor_ids", "teacher", ("batch",))
    ],
    ("post", "/api/v1/training-batches/{batch_id}/enrollments"): [
        Probe("manager_a", "student_id", "student", ("batch",))
    ],
    ("post", "/api/v1/exam-sessions"): OFFICE_ONLY,
    ("post", "/api/v1/exam-sessions/{session_id}/registrations"): [
        Probe("manager_a", "student_id", "student", ("session",)),
        Probe("student_a", "student_id", "student", ("session",)),
        Probe("student_b", "student_id", "student", ("session",)),
    ],
    ("post", "/api/v1/credit-rules"): OFFICE_ONLY,
    ("patch", "/api/v1/credit-rules/{rule_id}"): OFFICE_ONLY,
    ("post", "/api/v1/conversion-requests"): [
        Probe("student_a", "issued_certificate_id", "issued_certificate"),
        Probe("student_a", "student_id", "student"),
    ],
    ("post", "/api/v1/budget-lines"): OFFICE_ONLY,
    ("post", "/api/v1/expenditures"): OFFICE_ONLY,
    ("post", "/api/v1/subsidy-runs"): OFFICE_ONLY,
    ("post", "/api/v1/meetings"): OFFICE_ONLY,
    ("patch", "/api/v1/meetings/{meeting_id}"): OFFICE_ONLY,
    ("post", "/api/v1/reconciliations/{reconciliation_id}/apply"): "its row_ids are rows of "
    "the reconciliation in its path, which is looked up in the caller's scope first (the "
    "path probe below covers it)",
}
"""Every write route whose body names an object by id, and how it is probed."""


def _write_routes(app: FastAPI) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, path): operation
        for path, item in app.openapi()["paths"].items()
        for method, operation in item.items()
        if method in WRITE_METHODS
    }


def _body_ids(app: FastAPI, operation: dict[str, Any]) -> list[str]:
    content = operation.get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema", {})
    reference = schema.get("$ref")
    if reference is None:
        return []
    properties = app.openapi()["components"]["schemas"][reference.rsplit("/", 1)[-1]]
    return [n for n in properties.get("properties", {}) if n.endswith(("_id", "_ids"))]


def test_every_write_route_naming_an_object_is_probed(app: FastAPI) -> None:
    undeclared = []
    for (method, path), operation in _write_routes(app).items():
        if _body_ids(app, operation) and (method, path) not in BODY_PROBES:
            undeclared.append(f"{method.upper()} {path}")
        for name in re.findall(r"\{([^}]+)\}", path):
            if name not in PATH_KINDS and name not in ("kind", "year"):
                undeclared.append(f"{method.upper()} {path}: path parameter {name}")
    assert undeclared == [], "declare how these are probed"


def _fill(path: str, values: list[int]) -> str:
    for value in values:
        path = re.sub(r"\{[^}]+\}", str(value), path, count=1)
    return path


def _named(field: str, value: int) -> Any:
    return [value] if field.endswith("_ids") else value


def test_a_write_naming_an_object_out_of_scope_is_answered_as_naming_a_missing_one(
    app: FastAPI, sweep_client: TestClient, world: World
) -> None:
    problems: list[str] = []
    probed = 0
    for (method, path), probes in BODY_PROBES.items():
        if not isinstance(probes, list):
            continue
        for probe in probes:
            caller = world.caller(probe.caller)
            foreign = sorted(caller.foreign.get(probe.kind, set()))
            assert foreign, f"{probe}: the world has nothing of kind {probe.kind} out of scope"
            target = _fill(path, [world.own(caller, kind) for kind in probe.own])
            base = world.body(method, path, caller)
            for row_id in foreign[:2]:
                named = {**base, probe.field: _named(probe.field, row_id)}
                missing = {**base, probe.field: _named(probe.field, MISSING_ID)}
                refused = sweep_client.request(method, target, json=named, headers=caller.headers)
                absent = sweep_client.request(method, target, json=missing, headers=caller.headers)
                probed += 1
                where = f"{caller.name} {method.upper()} {path} {probe.field}={row_id}"
                if not (str(MISSING_ID) in absent.text or f"body.{probe.field}" in absent.text):
                    problems.append(f"{where}: the probe never reached the look-up: {absent.text}")
                    continue
                try:
                    assert_answered_as_missing(refused, absent, row_id, MISSING_ID)
                except AssertionError as error:
                    problems.append(f"{where}: {error}")
                shown = sorted(n for n in caller.foreign_text if n in refused.text)
                if shown:
                    problems.append(f"{where}: names {shown}")
    assert not problems, "\n".join(problems)
    assert probed >= 20


def test_a_write_to_an_object_out_of_scope_is_answered_as_to_a_missing_one(
    app: FastAPI, sweep_client: TestClient, world: World
) -> None:
    """Every write route with an id in its path, by every scoped caller, to an object of that
    kind it may not read: answered as the same write to a missing id."""
    problems: list[str] = []
    probed = 0
    for (method, path), _operation in _write_routes(app).items():
        names = re.findall(r"\{([^}]+)\}", path)
        if not names or names[0] not in PATH_KINDS:
            continue
        kind = PATH_KINDS[names[0]]
        if path.startswith("/api/v1/issued-certificates"):
            kind = "issued_certificate"
        rest = [world.ids.get(PATH_KINDS.get(n, ""), [1])[0] for n in names[1:]]
        for caller in world.callers:
            foreign = sorted(caller.foreign.get(kind, set()))
            if not caller.scoped or not foreign:
                continue
            body = None if method == "delete" else {}
            row_id = foreign[0]
            refused = sweep_client.request(
                method, _fill(path, [row_id, *rest]), json=body, headers=caller.headers
            )
            absent = sweep_client.request(
                method, _fill(path, [MISSING_ID, *rest]), json=body, headers=caller.headers
            )
            probed += 1
            where = f"{caller.name} {method.upper()} {path} ({row_id})"
            try:
                assert_answered_as_missing(refused, absent, row_id, MISSING_ID)
            except AssertionError as error:
                problems.append(f"{where}: {error}")
            shown = sorted(n for n in caller.foreign_text if n in refused.text)
            if shown:
                problems.append(f"{where}: names {shown}")
    assert not problems, "\n".join(problems)
    assert probed >= 100
