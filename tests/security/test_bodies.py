"""Standing sweep, bodies: every route of the OpenAPI that takes a JSON body answers one over
``ONEX_MAX_JSON_BODY_BYTES`` with 413 problem+json, before authentication and without reading
the rest of it: streamed without a length, it stops reading just past the limit; with a declared
length over the limit, it reads nothing."""

import json
import re
from typing import Any

import pytest
from fastapi import FastAPI

from app.core.config import Settings
from app.main import create_app

LIMIT = 2048
CHUNK = 512
CHUNKS = 64
"""A streamed body of 32 KiB, sixteen times the limit."""


@pytest.fixture(scope="module")
def small_app(settings: Settings) -> FastAPI:
    return create_app(settings.model_copy(update={"max_json_body_bytes": LIMIT}))


def _json_routes(app: FastAPI) -> list[tuple[str, str]]:
    routes = []
    for path, item in app.openapi()["paths"].items():
        for method, operation in item.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                routes.append((method.upper(), re.sub(r"\{[^}]+\}", "1", path)))
    return routes


async def _send(
    app: FastAPI, method: str, path: str, headers: list[tuple[bytes, bytes]]
) -> tuple[int, dict[bytes, bytes], Any, int]:
    """``method path`` with a body of ``CHUNKS`` chunks offered one at a time; the status,
    headers, body of the answer, and how many chunks the application asked for."""
    received: list[dict[str, Any]] = []
    asked = 0

    async def receive() -> dict[str, Any]:
        nonlocal asked
        asked += 1
        if asked > CHUNKS:
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": b" " * CHUNK, "more_body": asked < CHUNKS}

    async def send(message: dict[str, Any]) -> None:
        received.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("test", 80),
    }
    await app(scope, receive, send)
    start = next(m for m in received if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in received if m["type"] == "http.response.body")
    return start["status"], dict(start["headers"]), json.loads(body), asked


def _problems(
    method: str, path: str, status: int, headers: dict[bytes, bytes], body: Any
) -> list[str]:
    where = f"{method} {path}"
    if status != 413:
        return [f"{where}: {status}"]
    found = []
    if not headers.get(b"content-type", b"").startswith(b"application/problem+json"):
        found.append(f"{where}: {headers.get(b'content-type')!r}")
    if body.get("code") != "payload_too_large" or body.get("limit_bytes") != LIMIT:
        found.append(f"{where}: {body}")
    return found


@pytest.mark.anyio
async def test_every_json_route_refuses_a_streamed_body_over_the_limit_early(
    small_app: FastAPI,
) -> None:
    routes = _json_routes(small_app)
    assert len(routes) > 50
    problems = []
    for method, path in routes:
        status, headers, body, asked = await _send(small_app, method, path, [])
        problems += _problems(method, path, status, headers, body)
        if asked > LIMIT // CHUNK + 2:
            problems.append(f"{method} {path}: read {asked} of {CHUNKS} chunks")
    assert not problems, "\n".join(problems)


@pytest.mark.anyio
async def test_every_json_route_refuses_a_declared_length_over_the_limit_unread(
    small_app: FastAPI,
) -> None:
    problems = []
    for method, path in _json_routes(small_app):
        declared = [(b"content-length", str(LIMIT + 1).encode())]
        status, headers, body, asked = await _send(small_app, method, path, declared)
        problems += _problems(method, path, status, headers, body)
        if asked:
            problems.append(f"{method} {path}: read {asked} chunk(s)")
    assert not problems, "\n".join(problems)
