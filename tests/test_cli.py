"""``python -m app``: the commands `make run` and operators use, run as real processes."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from app.core.config import Settings
from app.main import create_app

ROOT = Path(__file__).resolve().parents[1]


def _run(
    args: list[str], env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONEX_")}
    env["ONEX_DATABASE_URL"] = f"sqlite:///{tmp_path}/cli.db"
    env["ONEX_SECRET_KEY"] = "cli-test-secret-key-long-enough-0123456789"
    return env


def test_migrate_then_demo_prints_a_login_that_works(cli_env: dict[str, str]) -> None:
    assert _run(["migrate"], cli_env).returncode == 0

    first = _run(["demo"], cli_env)
    second = _run(["demo"], cli_env)

    assert first.returncode == 0, first.stderr
    assert "admin" in first.stdout
    password = first.stdout.split("Password for all of them: ")[1].split()[0]
    assert second.returncode == 0
    assert password in second.stdout
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=cli_env["ONEX_DATABASE_URL"],
        secret_key=cli_env["ONEX_SECRET_KEY"],
    )
    with TestClient(create_app(settings)) as client:
        login = client.post("/api/v1/auth/token", data={"username": "admin", "password": password})
        office = client.post(
            "/api/v1/auth/token", data={"username": "office", "password": password}
        )
    assert login.status_code == 200
    assert login.json()["role"] == "admin"
    assert office.json()["role"] == "academic_office"


def test_create_user_reads_the_password_from_stdin(cli_env: dict[str, str]) -> None:
    _run(["migrate"], cli_env)

    created = _run(
        ["create-user", "registrar", "--role", "academic_office", "--password-stdin"],
        cli_env,
        stdin="long-enough-password\n",
    )
    duplicate = _run(
        ["create-user", "registrar", "--role", "academic_office", "--password-stdin"],
        cli_env,
        stdin="long-enough-password\n",
    )
    unscoped = _run(
        ["create-user", "teach", "--role", "teacher", "--password-stdin"],
        cli_env,
        stdin="long-enough-password\n",
    )

    assert created.returncode == 0, created.stderr
    assert "created user registrar" in created.stdout
    assert duplicate.returncode == 1
    assert "taken" in duplicate.stderr
    assert unscoped.returncode == 1
    assert "teacher_id" in unscoped.stderr


def test_openapi_prints_the_schema(cli_env: dict[str, str]) -> None:
    result = _run(["openapi"], cli_env)

    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert "/api/v1/auth/token" in schema["paths"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_serve_answers_health_and_ready(cli_env: dict[str, str]) -> None:
    _run(["migrate"], cli_env)
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port)],
        cwd=ROOT,
        env=cli_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        ready = None
        for _ in range(100):
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert ready is not None
        assert ready.status_code == 200
        assert ready.headers["x-request-id"]
    finally:
        server.terminate()
        server.wait(timeout=10)
