"""The published contract: offline docs, readable operation ids, declared errors, and every
route behind a credential except the public ones."""

import re
from typing import Any

import pytest
from fastapi import FastAPI
from sqlmodel import Session
from starlette.testclient import TestClient

from app.core.roles import Role
from tests.factories import login_as

PUBLIC_PATHS = {"/health", "/ready", "/api/v1/auth/token"}
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


def _is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith("/api/v1/public/")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_load_no_asset_from_outside_the_service(client: TestClient, page: str) -> None:
    response = client.get(page)

    assert response.status_code == 200
    external = re.findall(r"""(?:src|href)\s*=\s*["']?(https?:)?//""", response.text)
    assert external == []
    assert "http://" not in response.text and "https://" not in response.text
    for asset in re.findall(r"""(?:src|href)=["']([^"']+)["']""", response.text):
        assert client.get(asset).status_code == 200, asset


def test_every_operation_has_a_readable_unique_operation_id(app: FastAPI) -> None:
    operations = _operations(app.openapi())
    ids = [op["operationId"] for _, _, op in operations]

    assert len(ids) == len(set(ids))
    for operation_id in ids:
        assert re.fullmatch(r"[a-z]+(_[a-z0-9]+)+", operation_id), operation_id
    assert "users_list" in ids and "auth_token" in ids


def test_every_tag_has_a_description(app: FastAPI) -> None:
    schema = app.openapi()
    described = {tag["name"] for tag in schema["tags"] if tag.get("description")}
    used = {tag for _, _, op in _operations(schema) for tag in op.get("tags", [])}

    assert used <= described


def test_protected_operations_declare_401_and_a_problem_schema(app: FastAPI) -> None:
    schema = app.openapi()
    assert "Problem" in schema["components"]["schemas"]
    for path, method, operation in _operations(schema):
        if _is_public(path):
            continue
        assert "401" in operation["responses"], (method, path)
        content = operation["responses"]["401"]["content"]
        assert "application/problem+json" in content, (method, path)
        assert operation.get("security"), (method, path)


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def test_every_protected_route_answers_401_without_credentials(
    app: FastAPI, client: TestClient
) -> None:
    checked = 0
    for path, method, _ in _operations(app.openapi()):
        if _is_public(path):
            continue
        response = client.request(method.upper(), _concrete(path))
        assert response.status_code == 401, (method, path, response.status_code)
        assert response.headers["content-type"].startswith("application/problem+json")
        checked += 1
    assert checked >= 9


def test_public_routes_answer_without_credentials(client: TestClient) -> None:
    assert client.get("/health").status_code == 200
    assert client.get("/ready").status_code == 200
    assert (
        client.post("/api/v1/auth/token", data={"username": "x", "password": "y"}).status_code
        == 401
    )


def test_admin_only_routes_refuse_every_other_role(
    app: FastAPI, client: TestClient, db: Session
) -> None:
    admin_paths = [
        (path, method)
        for path, method, op in _operations(app.openapi())
        if op["tags"][0] in {"users", "api-keys"}
    ]
    assert admin_paths
    for role in Role:
        if role is Role.admin:
            continue
        headers = login_as(db, role)
        for path, method in admin_paths:
            response = client.request(method.upper(), _concrete(path), headers=headers, json={})
            assert response.status_code == 403, (role, method, path, response.status_code)


def test_schema_titles_are_unique_for_generators(app: FastAPI) -> None:
    """Generators name classes by title: two schemas with one title lose an operation (issue 17:
    the rejects and reversals of applications, conversions and expenditures, and Thresholds)."""
    schemas = app.openapi()["components"]["schemas"]
    titles = [schema.get("title", name) for name, schema in schemas.items()]

    assert sorted({t for t in titles if titles.count(t) > 1}) == []
    assert all(re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", title) for title in titles), titles
    assert not [name for name in schemas if "__" in name]
    assert {"ApplicationRejectBody", "ConversionRejectBody", "CreditReverseBody"} <= set(schemas)
    assert {"ExpenditureReverseBody", "Thresholds-Input", "Thresholds-Output"} <= set(schemas)


def test_uploads_are_binary_files_and_file_answers_are_declared(app: FastAPI) -> None:
    schema = app.openapi()
    upload = schema["components"]["schemas"]["Body_imports_upload"]["properties"]["file"]
    template = schema["paths"]["/api/v1/imports/{kind}/template"]["get"]["responses"]["200"]

    assert upload["format"] == "binary"
    assert "contentMediaType" not in str(schema)
    assert "application/octet-stream" in template["content"]
    assert re.fullmatch(r"[a-z_][a-z0-9_]*", re.sub(r"\W+", "_", schema["info"]["title"]).lower())
    assert not schema["info"]["title"][0].isdigit()
