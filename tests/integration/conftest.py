"""One served app for the tests of integrators and script authors (issue 17).

``python -m app serve`` on a free port, on its own SQLite database with a bootstrap admin: what
an integrator has after `make run`, without the (slow) demo data. These tests talk HTTP only and
do not depend on the database, so they run once, in the SQLite half of ``make test``.
"""

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.cli import app_env, run_app, serving

ADMIN = "admin"
ADMIN_PASSWORD = "integration-admin-password"
OFFICE = "office"  # the academic office: the role that uploads reference data and applications


@dataclass(frozen=True)
class Served:
    url: str
    env: dict[str, str]


def sqlite_half_only() -> None:
    if os.environ.get("ONEX_TEST_DATABASE_URL"):
        pytest.skip("runs once, in the SQLite half: it serves its own database over HTTP")


def cli_env(database: Path) -> dict[str, str]:
    return app_env(
        ONEX_DATABASE_URL=f"sqlite:///{database}",
        ONEX_SECRET_KEY="integration-secret-key-long-enough-0123456789",
        ONEX_BOOTSTRAP_ADMIN_USERNAME=ADMIN,
        ONEX_BOOTSTRAP_ADMIN_PASSWORD=ADMIN_PASSWORD,
    )


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    sqlite_half_only()
    env = cli_env(tmp_path_factory.mktemp("served") / "served.db")
    migrated = run_app(["migrate"], env)
    assert migrated.returncode == 0, migrated.stderr
    with serving(env) as url:
        token = _token(url, ADMIN)
        office = httpx.post(
            f"{url}/api/v1/users",
            json={"username": OFFICE, "password": ADMIN_PASSWORD, "role": "academic_office"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert office.status_code == 201, office.text
        yield Served(url=url, env=env)


def _token(url: str, username: str) -> str:
    answer = httpx.post(
        f"{url}/api/v1/auth/token",
        data={"username": username, "password": ADMIN_PASSWORD},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


def api_key(served: Served, name: str) -> str:
    """A fresh API key of the academic office on the served app."""
    token = _token(served.url, ADMIN)
    created = httpx.post(
        f"{served.url}/api/v1/api-keys",
        json={"name": name, "role": "academic_office"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    key: str = created.json()["key"]
    return key
