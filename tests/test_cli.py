"""``python -m app``: the commands `make run` and operators use, run as real processes."""

import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from app.core.config import Settings
from app.exams.service import PUBLIC_LOOKUPS_PER_MINUTE
from app.main import create_app
from tests.cli import run_app, serving


def _run(
    args: list[str], env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return run_app(args, env, stdin=stdin)


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
    assert "Demo data loaded" not in second.stdout
    assert "already has data" in second.stdout
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
    assert "已被使用" in duplicate.stderr  # the default language (ONEX_DEFAULT_LANGUAGE unset)
    assert unscoped.returncode == 1
    assert "teacher_id" in unscoped.stderr


def test_create_user_without_a_terminal_or_stdin_flag_says_so_in_one_line(
    cli_env: dict[str, str],
) -> None:
    _run(["migrate"], cli_env)

    result = _run(["create-user", "registrar", "--role", "academic_office"], cli_env, stdin="")

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: no terminal to ask for the password; pipe it in with --password-stdin"
    ]


def test_a_too_short_username_is_one_line(cli_env: dict[str, str]) -> None:
    result = _run(
        ["create-user", "cs", "--role", "college_manager", "--password-stdin"],
        cli_env,
        stdin="long-enough-password\n",
    )

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: username: String should have at least 3 characters"
    ]


def test_openapi_prints_the_schema(cli_env: dict[str, str]) -> None:
    result = _run(["openapi"], cli_env)

    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert "/api/v1/auth/token" in schema["paths"]


@contextmanager
def _served(env: dict[str, str]) -> Iterator[str]:
    """``python -m app serve`` on a migrated database until the block ends; yields its URL."""
    _run(["migrate"], env)
    with serving(env) as base:
        yield base


def test_serve_answers_health_and_ready(cli_env: dict[str, str]) -> None:
    with _served(cli_env) as base:
        ready = httpx.get(f"{base}/ready", timeout=5)
    assert ready.status_code == 200
    assert ready.headers["x-request-id"]


def _lookup_clients(env: dict[str, str]) -> list[str]:
    path = env["ONEX_DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(path) as connection:
        return [client for (client,) in connection.execute("SELECT client FROM public_lookups")]


@pytest.mark.parametrize(
    ("trusted", "counted_as"), [("127.0.0.1", "203.0.113.7"), ("10.255.255.1", "127.0.0.1")]
)
def test_public_limit_counts_the_client_a_trusted_proxy_names(
    cli_env: dict[str, str], trusted: str, counted_as: str
) -> None:
    cli_env["ONEX_FORWARDED_ALLOW_IPS"] = trusted
    with _served(cli_env) as base:
        response = httpx.get(
            f"{base}/api/v1/public/certificates/NO-SUCH-NUMBER",
            headers={"X-Forwarded-For": "203.0.113.7"},
            timeout=5,
        )
    assert response.status_code == 404
    assert _lookup_clients(cli_env) == [counted_as]


def test_by_default_no_forwarded_header_is_believed_so_the_public_limit_holds(
    cli_env: dict[str, str],
) -> None:
    """A local client varying `X-Forwarded-For` is still one client: past the limit, 429."""
    cli_env.pop("ONEX_FORWARDED_ALLOW_IPS", None)
    cli_env.pop("FORWARDED_ALLOW_IPS", None)  # uvicorn's own variable, trusted by default
    with _served(cli_env) as base, httpx.Client(base_url=base, timeout=5) as client:
        statuses = [
            client.get(
                "/api/v1/public/certificates/NO-SUCH-NUMBER",
                headers={"X-Forwarded-For": f"203.0.113.{i}", "X-Forwarded-Proto": "https"},
            ).status_code
            for i in range(PUBLIC_LOOKUPS_PER_MINUTE + 1)
        ]
    assert statuses == [404] * PUBLIC_LOOKUPS_PER_MINUTE + [429]
    assert set(_lookup_clients(cli_env)) == {"127.0.0.1"}
