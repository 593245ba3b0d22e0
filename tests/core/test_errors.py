import logging

import pytest
import sqlalchemy.exc
from fastapi import FastAPI
from starlette.testclient import TestClient

from app.core.config import Settings
from app.core.roles import Role
from app.main import create_app
from tests.factories import login_as

PROBLEM = "application/problem+json"


def _assert_problem(response: object, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status  # type: ignore[attr-defined]
    assert response.headers["content-type"].startswith(PROBLEM)  # type: ignore[attr-defined]
    body: dict[str, object] = response.json()  # type: ignore[attr-defined]
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"urn:onex:problem:{code}"
    assert body["title"]
    assert body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]  # type: ignore[attr-defined]
    return body


def test_unknown_path_is_a_404_problem(client: TestClient) -> None:
    _assert_problem(client.get("/api/v1/no-such-thing"), 404, "not_found")


def test_wrong_method_is_a_405_problem_that_keeps_allow(client: TestClient) -> None:
    response = client.delete("/health")

    body = _assert_problem(response, 405, "method_not_allowed")
    assert "GET" in response.headers["allow"]
    assert "GET" in str(body["detail"])


def test_405_allow_names_every_method_of_the_path(client: TestClient) -> None:
    collection = client.delete("/api/v1/users")
    item = client.put("/api/v1/users/5")

    assert collection.status_code == 405
    assert collection.headers["allow"] == "GET, HEAD, POST"
    assert item.status_code == 405
    assert item.headers["allow"] == "GET, HEAD, PATCH"


def test_validation_error_lists_each_field(client: TestClient, db: object) -> None:
    headers = login_as(db, Role.admin)  # type: ignore[arg-type]

    response = client.get("/api/v1/users?limit=0&offset=-1", headers=headers)

    body = _assert_problem(response, 422, "validation_error")
    fields = {e["field"] for e in body["errors"]}  # type: ignore[attr-defined]
    assert fields == {"query.limit", "query.offset"}


def test_malformed_json_body_is_a_422_problem(client: TestClient, db: object) -> None:
    headers = login_as(db, Role.admin)  # type: ignore[arg-type]

    response = client.post(
        "/api/v1/users",
        headers={**headers, "Content-Type": "application/json"},
        content=b"{not json",
    )

    _assert_problem(response, 422, "validation_error")


def test_missing_credentials_are_401_with_www_authenticate(client: TestClient) -> None:
    response = client.get("/api/v1/users")

    _assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.fixture
def app_with_a_bug(settings: Settings) -> FastAPI:
    app = create_app(settings)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals /etc/passwd")

    @app.get("/pool-exhausted")
    def pool_exhausted() -> None:
        raise sqlalchemy.exc.TimeoutError("QueuePool limit of size 10 overflow 20 reached")

    return app


def test_unhandled_error_is_a_500_problem_without_a_stack_trace(
    app_with_a_bug: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    with TestClient(app_with_a_bug, raise_server_exceptions=False) as client:
        response = client.get("/boom", headers={"X-Request-ID": "trace-me-42"})

    body = _assert_problem(response, 500, "internal_error")
    assert body["request_id"] == "trace-me-42"
    assert "secret internals" not in response.text
    assert "Traceback" not in response.text


def test_exhausted_connection_pool_is_a_503_problem_with_retry_after(
    app_with_a_bug: FastAPI,
) -> None:
    with TestClient(app_with_a_bug, raise_server_exceptions=False) as client:
        response = client.get("/pool-exhausted")

    _assert_problem(response, 503, "service_unavailable")
    assert response.headers["retry-after"] == "2"


def test_request_id_is_echoed_or_generated(client: TestClient) -> None:
    echoed = client.get("/health", headers={"X-Request-ID": "abc-123"})
    generated = client.get("/health")
    unsafe = client.get("/health", headers={"X-Request-ID": "bad id with spaces"})

    assert echoed.headers["x-request-id"] == "abc-123"
    assert len(generated.headers["x-request-id"]) == 32
    assert unsafe.headers["x-request-id"] != "bad id with spaces"


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_one_access_log_line_per_request_names_the_user(client: TestClient, db: object) -> None:
    headers = login_as(db, Role.admin, username="root")  # type: ignore[arg-type]
    collector = _Collect()
    logger = logging.getLogger("onex.access")
    logger.addHandler(collector)
    try:
        client.get("/api/v1/users", headers={**headers, "X-Request-ID": "log-1"})
    finally:
        logger.removeHandler(collector)

    assert len(collector.records) == 1
    fields = collector.records[0].fields  # type: ignore[attr-defined]
    assert fields["request_id"] == "log-1"
    assert fields["method"] == "GET"
    assert fields["path"] == "/api/v1/users"
    assert fields["status"] == 200
    assert fields["user"] == "user:root"
    assert fields["duration_ms"] >= 0
