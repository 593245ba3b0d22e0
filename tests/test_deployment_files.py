"""Consistency checks of the deployment files against the application's settings.

They read docker-compose.yml, .env.example and the Dockerfile; no database is needed.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from app.core.config import Settings

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "ONEX_"
# `ONEX_NAME=value`, commented out (`# ONEX_NAME=`) or not.
ENV_EXAMPLE_LINE = re.compile(r"^\s*(?:#\s*)?(ONEX_[A-Z0-9_]+)=")


def _compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _service(name: str) -> dict[str, Any]:
    services = _compose()["services"]
    assert name in services, f"docker-compose.yml has no service {name!r}"
    service = services[name]
    assert isinstance(service, dict)
    return service


def _environment(service: dict[str, Any]) -> dict[str, str | None]:
    """A service's `environment`, in map or list form, as a dict."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        pairs = (item.partition("=") for item in raw)
        return {key: value if sep else None for key, sep, value in pairs}
    return {str(key): None if value is None else str(value) for key, value in raw.items()}


def _setting_name(env_key: str) -> str:
    assert env_key.startswith(PREFIX), env_key
    return env_key.removeprefix(PREFIX).lower()


def _env_example_keys() -> list[str]:
    lines = (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
    return [m.group(1) for line in lines if (m := ENV_EXAMPLE_LINE.match(line))]


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        pending += stripped
        keyword, _, arguments = pending.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def _command_text(arguments: str) -> str:
    """The shell text of a CMD, exec (JSON) form or shell form."""
    if arguments.startswith("["):
        parts = json.loads(arguments)
        assert isinstance(parts, list)
        return " ".join(str(part) for part in parts)
    return arguments


def test_compose_has_db_and_app_services() -> None:
    services = _compose()["services"]
    assert {"db", "app"} <= set(services)


def test_compose_db_is_postgres_15_with_a_healthcheck() -> None:
    db = _service("db")
    assert str(db["image"]).startswith("postgres:15")
    assert "pg_isready" in json.dumps(db["healthcheck"]["test"])
    assert {"POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD"} <= set(_environment(db))
    assert db.get("volumes"), "the database needs a volume to outlive its container"


def test_compose_app_waits_for_a_healthy_db() -> None:
    app = _service("app")
    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    assert "8000:8000" in [str(port) for port in app["ports"]]


def test_compose_app_environment_uses_only_real_settings() -> None:
    environment = _environment(_service("app"))
    onex_keys = [key for key in environment if key.startswith(PREFIX)]
    assert onex_keys
    unknown = [key for key in onex_keys if _setting_name(key) not in Settings.model_fields]
    assert unknown == [], f"not fields of Settings: {unknown}"


def test_compose_app_runs_in_production_on_the_db_service() -> None:
    environment = _environment(_service("app"))
    assert environment["ONEX_ENV"] == "production"
    url = environment["ONEX_DATABASE_URL"]
    assert url is not None
    parts = urlsplit(url)
    assert parts.scheme == "postgresql+psycopg"
    assert parts.hostname == "db"
    secret = environment["ONEX_SECRET_KEY"]
    assert secret is not None
    assert ":?" in secret, "ONEX_SECRET_KEY must be required from the host, not defaulted"


def test_env_example_keys_are_settings() -> None:
    keys = _env_example_keys()
    unknown = [key for key in keys if _setting_name(key) not in Settings.model_fields]
    assert unknown == [], f".env.example names settings that do not exist: {unknown}"
    duplicated = sorted({key for key in keys if keys.count(key) > 1})
    assert duplicated == []


def test_env_example_lists_every_setting() -> None:
    documented = {_setting_name(key) for key in _env_example_keys()}
    missing = sorted(set(Settings.model_fields) - documented)
    assert missing == [], f"settings missing from .env.example: {missing}"


def test_env_example_values_are_the_defaults() -> None:
    from_example = Settings(_env_file=ROOT / ".env.example")
    from_defaults = Settings(_env_file=None)
    assert from_example == from_defaults


def test_dockerfile_migrates_before_serving() -> None:
    commands = [args for keyword, args in _dockerfile_instructions() if keyword == "CMD"]
    assert commands, "the Dockerfile has no CMD"
    command = _command_text(commands[-1])
    assert "python -m app migrate" in command
    assert "python -m app serve" in command
    assert command.index("python -m app migrate") < command.index("python -m app serve")
    serve = shlex.split(command[command.index("python -m app serve") :])
    assert "0.0.0.0" in serve


def test_dockerfile_runs_as_a_non_root_user() -> None:
    users = [args for keyword, args in _dockerfile_instructions() if keyword == "USER"]
    assert users, "the Dockerfile has no USER"
    assert users[-1].split(":")[0] not in {"root", "0"}


def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    patterns = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".env", ".venv", ".git", "data"} <= patterns


# Compose v1 (docker-compose, file format 2.x) and v2 (docker compose, the Compose
# Specification) must both accept the file (issue 17). Where the tools are installed they say so
# themselves; otherwise the rules below, the parts of each format this file could break, decide.
COMPOSE_V1_TOP_LEVEL = {"version", "services", "volumes", "networks"}
COMPOSE_V2_TOP_LEVEL = {"version", "name", "services", "volumes", "networks", "configs", "secrets"}
COMPOSE_V1_SERVICE_KEYS = {
    "build", "command", "container_name", "depends_on", "entrypoint", "env_file",
    "environment", "expose", "healthcheck", "image", "init", "labels", "logging", "networks",
    "ports", "restart", "stop_grace_period", "user", "volumes", "working_dir",
}  # fmt: skip
HEALTHCHECK_KEYS = {"test", "interval", "timeout", "retries", "start_period", "disable"}
CONDITIONS_V1 = {"service_started", "service_healthy"}
CONDITIONS_V2 = {"service_started", "service_healthy", "service_completed_successfully"}


def _format_version(compose: dict[str, Any]) -> tuple[int, int]:
    major, _, minor = str(compose["version"]).partition(".")
    return int(major), int(minor or 0)


def _compose_problems_v1(compose: dict[str, Any]) -> list[str]:
    problems = [f"top-level {key!r}" for key in set(compose) - COMPOSE_V1_TOP_LEVEL]
    if "version" not in compose:
        return [*problems, "no version: Compose v1 reads the file as the legacy format 1"]
    version = _format_version(compose)
    if not (2, 3) <= version < (3, 0):
        # condition: in depends_on exists in 2.1+ only (not in 3.x); start_period in 2.3+.
        problems.append(f"version {compose['version']}: depends_on conditions need 2.3–2.4")
    for name, service in compose["services"].items():
        problems += [f"{name}: {key!r}" for key in set(service) - COMPOSE_V1_SERVICE_KEYS]
        problems += [
            f"{name}: healthcheck {key!r}"
            for key in set(service.get("healthcheck", {})) - HEALTHCHECK_KEYS
        ]
        depends = service.get("depends_on", {})
        if isinstance(depends, dict):
            problems += [
                f"{name}: condition {spec.get('condition')!r}"
                for spec in depends.values()
                if spec.get("condition") not in CONDITIONS_V1
            ]
    return problems


def _compose_problems_v2(compose: dict[str, Any]) -> list[str]:
    problems = [
        f"top-level {key!r}"
        for key in set(compose) - COMPOSE_V2_TOP_LEVEL
        if not str(key).startswith("x-")
    ]
    for name, service in compose["services"].items():
        problems += [
            f"{name}: healthcheck {key!r}"
            for key in set(service.get("healthcheck", {})) - HEALTHCHECK_KEYS
        ]
        depends = service.get("depends_on", {})
        if isinstance(depends, dict):
            problems += [
                f"{name}: condition {spec.get('condition')!r}"
                for spec in depends.values()
                if spec.get("condition") not in CONDITIONS_V2
            ]
    return problems


def test_compose_file_is_accepted_by_compose_v1_and_v2() -> None:
    compose = _compose()
    assert _compose_problems_v1(compose) == []
    assert _compose_problems_v2(compose) == []


def test_the_compose_rules_catch_what_v1_rejects() -> None:
    """The checks above fail on the file as it was before issue 17 (a top-level ``name:``, no
    version), so they can fail at all."""
    before = {**_compose(), "name": "onex"}
    del before["version"]
    assert "top-level 'name'" in _compose_problems_v1(before)
    assert any("legacy format 1" in p for p in _compose_problems_v1(before))
    assert _compose_problems_v1({**_compose(), "version": "3.8"})


@pytest.mark.parametrize("command", [["docker", "compose"], ["docker-compose"]])
def test_compose_tools_accept_the_file(command: list[str]) -> None:
    probe = (
        subprocess.run([*command, "version"], capture_output=True, text=True, check=False)
        if shutil.which(command[0])
        else None
    )
    if probe is None or probe.returncode != 0:
        pytest.skip(f"{' '.join(command)} is not installed: the rules above stand in for it")
    env = {**os.environ, "ONEX_SECRET_KEY": "x" * 40}
    result = subprocess.run(
        [*command, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_both_services_have_health_checks_and_the_app_checks_ready() -> None:
    app_check = json.dumps(_service("app")["healthcheck"]["test"])
    assert "/ready" in app_check
    assert _service("db")["healthcheck"]["test"]
    healthchecks = [
        args for keyword, args in _dockerfile_instructions() if keyword == "HEALTHCHECK"
    ]
    assert healthchecks, "the image has no HEALTHCHECK"
    assert "/ready" in healthchecks[-1]
