"""Every write route names the roles that may call it (``x-roles`` in its OpenAPI operation),
and a role outside them is refused 403 before the body is read: a student who sends a malformed
body to an office-only route learns that they may not call it, not what the body lacks."""

import re
from typing import Any

from sqlmodel import Session
from starlette.testclient import TestClient

from app.core.roles import Role
from app.imports.registry import KINDS
from tests.factories import login_as

WRITE_METHODS = ("post", "put", "patch", "delete")
LOGIN = ("post", "/api/v1/auth/token")
"""The one write without a caller yet: it makes the token."""


def _write_operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, operations in spec["paths"].items()
        if path.startswith("/api/v1/")
        for method, operation in operations.items()
        if method in WRITE_METHODS and (method, path) != LOGIN
    ]


def _json_body(operation: dict[str, Any]) -> bool:
    return "application/json" in operation.get("requestBody", {}).get("content", {})


def test_every_write_route_names_the_roles_that_may_call_it(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    operations = _write_operations(spec)
    assert len(operations) > 90
    unnamed = [f"{m.upper()} {p}" for m, p, op in operations if "x-roles" not in op]
    assert unnamed == []
    for _method, _path, operation in operations:
        assert operation["x-roles"], operation["operationId"]
        assert set(operation["x-roles"]) <= {role.value for role in Role}


def test_a_role_that_never_writes_there_is_refused_before_its_body_is_read(
    client: TestClient, db: Session
) -> None:
    spec = client.get("/openapi.json").json()
    headers = {role: login_as(db, role) for role in Role}
    wrong = []
    for method, path, operation in _write_operations(spec):
        url = re.sub(r"\{[^}]+\}", "1", path)
        allowed = set(operation["x-roles"])
        for role in Role:
            if role.value in allowed and not _json_body(operation):
                continue  # a body-less write by an allowed role goes on to its own checks
            # A list where an object is expected: malformed for every JSON body.
            body = [1] if _json_body(operation) else None
            response = client.request(method.upper(), url, headers=headers[role], json=body)
            expected = 422 if role.value in allowed else 403
            if response.status_code != expected:
                wrong.append(f"{method.upper()} {path} as {role.value}: {response.status_code}")
            elif expected == 403:
                problem = response.json()
                assert problem["code"] == "forbidden"
                assert set(problem["allowed_roles"]) == allowed, path
    assert wrong == []


def test_the_refusal_names_the_roles_and_changes_nothing(client: TestClient, db: Session) -> None:
    student = login_as(db, Role.student)
    response = client.post("/api/v1/colleges", headers=student, json={"name": "不该建的学院"})
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["allowed_roles"] == ["academic_office"]
    office = login_as(db, Role.academic_office)
    names = [c["name"] for c in client.get("/api/v1/colleges", headers=office).json()["items"]]
    assert "不该建的学院" not in names


def test_the_upload_route_lets_through_every_role_some_kind_takes(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    upload = spec["paths"]["/api/v1/imports/{kind}"]["post"]
    takers = {role.value for kind in KINDS.values() for role in kind.writers}
    assert set(upload["x-roles"]) == takers
