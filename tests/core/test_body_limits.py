"""Request bodies are bounded before any work: a JSON body over the limit is 413 problem+json
whether or not the caller authenticated, declared or streamed; an upload declaring more than
its limit is refused unread."""

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.core.config import Settings
from app.main import create_app
from app.reference.models import College
from tests.reference.factories import office

LIMIT = 1024 * 1024


def _big_json() -> bytes:
    return json.dumps({"name": "甲" * 10, "padding": "x" * (LIMIT + 10)}).encode()


def _assert_413(response: Any) -> None:
    assert response.status_code == 413, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "payload_too_large"
    assert body["limit_bytes"] >= LIMIT


def test_an_oversized_json_body_is_413_before_authentication(client: TestClient) -> None:
    response = client.post(
        "/api/v1/colleges", content=_big_json(), headers={"Content-Type": "application/json"}
    )
    _assert_413(response)


def test_an_oversized_json_body_of_a_logged_in_user_is_413_and_writes_nothing(
    client: TestClient, db: Session
) -> None:
    headers = {**office(db), "Content-Type": "application/json"}
    _assert_413(client.post("/api/v1/colleges", content=_big_json(), headers=headers))
    assert db.exec(select(College)).all() == []


def test_a_streamed_body_without_a_length_is_cut_at_the_limit(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(64):
            yield b"x" * (64 * 1024)

    response = client.post(
        "/api/v1/colleges", content=chunks(), headers={"Content-Type": "application/json"}
    )
    _assert_413(response)


def test_a_body_under_the_limit_is_served(client: TestClient, db: Session) -> None:
    response = client.post("/api/v1/colleges", json={"name": "艺术学院"}, headers=office(db))
    assert response.status_code == 201, response.text


def test_the_limit_is_a_setting(settings: Settings) -> None:
    small = settings.model_copy(update={"max_json_body_bytes": 2048})
    with TestClient(create_app(small), raise_server_exceptions=False) as client:
        response = client.post("/api/v1/colleges", json={"name": "x" * 3000})
    assert response.status_code == 413
    assert response.json()["limit_bytes"] == 2048


async def _asgi_post(app: FastAPI, path: str, headers: list[tuple[bytes, bytes]]) -> Any:
    """POST that declares ``headers`` (a Content-Length it never sends) and a tiny body."""
    received: list[dict[str, Any]] = []
    asked = 0

    async def receive() -> dict[str, Any]:
        nonlocal asked
        asked += 1
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        received.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("test", 80),
    }
    await app(scope, receive, send)
    start = next(m for m in received if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in received if m["type"] == "http.response.body")
    return start["status"], dict(start["headers"]), json.loads(body), asked


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("content_type", "declared"),
    [(b"application/json", LIMIT + 1), (b"multipart/form-data; boundary=x", 30 * LIMIT)],
)
async def test_a_declared_length_over_the_limit_is_refused_unread(
    app: FastAPI, content_type: bytes, declared: int
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(declared).encode())]
    status, response_headers, body, asked = await _asgi_post(
        app, "/api/v1/imports/students", headers
    )
    assert status == 413
    assert response_headers[b"content-type"].startswith(b"application/problem+json")
    assert body["code"] == "payload_too_large"
    assert asked == 0
