"""Property-based run over the whole OpenAPI: no input may cause a 5xx, and every response must
match what the schema declares. It covers new routes automatically as they are added."""

import zlib
from functools import cache
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, seed, settings
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance
from sqlmodel import Session

from app.core.config import Settings
from app.core.roles import Role
from app.main import create_app
from tests.factories import make_user, token_for

ADMIN_TAGS = {"users", "api-keys"}
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}
EXAMPLES_PER_MODE = 6
"""Per database: the SQLite and the PostgreSQL runs draw different examples (their seeds differ),
so the suite as a whole tries 12 inputs per operation and mode, each run reproducibly."""


def _cases() -> list[tuple[str, GenerationMode]]:
    """Every operation with valid input, and those that take input also with invalid input."""
    settings = Settings(_env_file=None, database_url="sqlite://")  # type: ignore[call-arg]
    schema = create_app(settings).openapi()
    cases = []
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            label = f"{method.upper()} {path}"
            cases.append((label, GenerationMode.POSITIVE))
            if operation.get("parameters") or operation.get("requestBody"):
                cases.append((label, GenerationMode.NEGATIVE))
    return cases


@cache
def _operations(app: FastAPI) -> dict[str, Any]:
    """Every operation of the app's schema by its label, read once per app (not per case)."""
    operations = {}
    for result in schemathesis.openapi.from_asgi("/openapi.json", app).get_all_operations():
        operation = result.ok()
        operations[f"{operation.method.upper()} {operation.path}"] = operation
    return operations


def _operation(app: FastAPI, label: str) -> Any:
    try:
        return _operations(app)[label]
    except KeyError:
        raise LookupError(label) from None


@pytest.mark.slow
@pytest.mark.parametrize(("label", "mode"), _cases())
def test_api_never_fails_and_keeps_its_schema(
    app: FastAPI, db: Session, is_postgres: bool, label: str, mode: GenerationMode
) -> None:
    operation = _operation(app, label)
    role = Role.admin if set(operation.tags or []) & ADMIN_TAGS else Role.academic_office
    headers = {"Authorization": f"Bearer {token_for(make_user(db, role))}"}

    database = "postgresql" if is_postgres else "sqlite"

    @given(case=operation.as_strategy(mode))
    @seed(zlib.crc32(f"{label} {mode.value} {database}".encode()))
    @settings(
        max_examples=EXAMPLES_PER_MODE,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def run(case: schemathesis.Case) -> None:
        # Business rules (a role's scope, a wrong current password) may refuse schema-valid
        # input with 4xx; everything else is checked: no 5xx, declared codes and schemas.
        # A generous timeout: on a loaded CI machine one response may take more than the
        # default 10 s, which is no defect of the schema.
        case.call_and_validate(
            headers=headers, excluded_checks=[positive_data_acceptance], timeout=120
        )

    run()
