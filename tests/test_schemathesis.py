"""Property-based run over the whole OpenAPI: no input may cause a 5xx, and every response must
match what the schema declares. It covers new routes automatically as they are added."""

from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance
from sqlmodel import Session

from app.core.config import Settings
from app.core.roles import Role
from app.main import create_app
from tests.factories import make_user, token_for

ADMIN_TAGS = {"users", "api-keys"}
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}
EXAMPLES_PER_MODE = 12


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


def _operation(app: FastAPI, label: str) -> Any:
    method, path = label.split(" ", 1)
    for result in schemathesis.openapi.from_asgi("/openapi.json", app).get_all_operations():
        operation = result.ok()
        if operation.method.upper() == method and operation.path == path:
            return operation
    raise LookupError(label)


@pytest.mark.slow
@pytest.mark.parametrize(("label", "mode"), _cases())
def test_api_never_fails_and_keeps_its_schema(
    app: FastAPI, db: Session, label: str, mode: GenerationMode
) -> None:
    operation = _operation(app, label)
    role = Role.admin if set(operation.tags or []) & ADMIN_TAGS else Role.academic_office
    headers = {"Authorization": f"Bearer {token_for(make_user(db, role))}"}

    @given(case=operation.as_strategy(mode))
    @settings(
        max_examples=EXAMPLES_PER_MODE,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def run(case: schemathesis.Case) -> None:
        # Business rules (a role's scope, a wrong current password) may refuse schema-valid
        # input with 4xx; everything else is checked: no 5xx, declared codes and schemas.
        case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

    run()
